"""The real board: builds the Board (docs/design.md) for the ESP32 from hardware/pinmap.json.

    import board          # on the ESP32: the firmware slot holds board.mpy and pinmap.json
    b = board.build()     # clock, i2c, strip, serial, radio, wdt, store, name, info

This is the one place that touches machine, neopixel, espnow, network, esp32 and time. A part that
cannot be built (no radio, an I2C pin fault) is left out (None) and named in info["faults"], so the
app still runs the light and says what is missing.
"""

import json
import select
import sys
import time

import esp32
import machine
import neopixel
from micropython import const

PINMAP = "pinmap.json"
NVS_NAMESPACE = "cocoon"
NVS_KEY = "config"
STORE_MAX = const(2048)
# After Ctrl-C the watchdog cannot be stopped (machine.WDT: "Once started it cannot be stopped");
# calling WDT() again reconfigures the task watchdog (ports/esp32/machine_wdt.c uses
# esp_task_wdt_reconfigure), so park() stretches it to keep a REPL or flash session alive.
WDT_PARK_MS = const(3 * 3600 * 1000)


def _here():
    path = __file__
    cut = path.rfind("/")
    return path[:cut] if cut > 0 else "/"


def load_pinmap(path=None):
    with open(path or (_here() + "/" + PINMAP)) as f:
        return json.load(f)


def gpio(pinmap, signal):
    """The GPIO number wired to signal (a "signal" of pinmap["pins"])."""
    for p in pinmap["pins"]:
        if p["signal"] == signal:
            return p["gpio"]
    raise ValueError("pinmap.json has no pin for " + signal)


class Clock:
    """time.ticks_*: wrap at 2^30 on the ESP32; the functions are stored, not wrapped."""

    def __init__(self):
        self.ticks_ms = time.ticks_ms
        self.ticks_us = time.ticks_us
        self.ticks_diff = time.ticks_diff
        self.ticks_add = time.ticks_add
        self.sleep_ms = time.sleep_ms


class Strip:
    """A WS2812B strip through neopixel (RMT): show(rgb) reorders R,G,B into the wire order."""

    def __init__(self, pin, n, order="GRB"):
        self.n = n
        self._np = neopixel.NeoPixel(machine.Pin(pin, machine.Pin.OUT), n)
        self._buf = self._np.buf
        # Where R, G and B go within each LED's 3 bytes on the wire.
        self._ri = order.index("R")
        self._gi = order.index("G")
        self._bi = order.index("B")

    def show(self, rgb):
        buf = self._buf
        ri, gi, bi = self._ri, self._gi, self._bi
        for i in range(0, 3 * self.n, 3):
            buf[i + ri] = rgb[i]
            buf[i + gi] = rgb[i + 1]
            buf[i + bi] = rgb[i + 2]
        self._np.write()  # blocks ~30 us per LED


class Serial:
    """The USB serial shared with the REPL: stdout for frames, non-blocking reads from stdin."""

    def __init__(self):
        self._out = sys.stdout.buffer
        self._in = sys.stdin.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._one = bytearray(1)

    def write(self, b):
        self._out.write(b)

    def readinto(self, buf):
        n = 0
        size = len(buf)
        while n < size:
            ready = False
            for _ in self._poll.ipoll(0):  # ipoll: no allocation
                ready = True
            if not ready:
                break
            self._in.readinto(self._one)
            buf[n] = self._one[0]
            n += 1
        return n


class Watchdog:
    """machine.WDT, started at the first feed: a board that never runs the app never has one."""

    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self._wdt = None

    def feed(self):
        if self._wdt is None:
            self._wdt = machine.WDT(timeout=self.timeout_ms)
        self._wdt.feed()

    def park(self):
        if self._wdt is not None:
            machine.WDT(timeout=WDT_PARK_MS)


class Store:
    """The config as one blob in NVS (esp32.NVS: set_blob needs commit() to persist)."""

    def __init__(self):
        self._nvs = esp32.NVS(NVS_NAMESPACE)

    def read(self):
        buf = bytearray(STORE_MAX)
        try:
            n = self._nvs.get_blob(NVS_KEY, buf)
        except OSError:  # ESP_ERR_NVS_NOT_FOUND: nothing saved yet
            return None
        return bytes(buf[:n])

    def write(self, b):
        if len(b) > STORE_MAX:
            raise ValueError("config larger than %d bytes" % STORE_MAX)
        self._nvs.set_blob(NVS_KEY, b)
        self._nvs.commit()


class Radio:
    """ESP-NOW broadcast on one fixed channel, Wi-Fi power saving off (it deafens the radio)."""

    BROADCAST = b"\xff" * 6

    def __init__(self, channel):
        import espnow
        import network

        sta = network.WLAN(network.STA_IF)
        sta.active(True)
        sta.config(channel=channel, pm=sta.PM_NONE)
        sta.disconnect()
        self._e = espnow.ESPNow()
        self._e.active(True)
        self._e.add_peer(self.BROADCAST)

    def send(self, b):
        self._e.send(self.BROADCAST, b, False)

    def recv_into(self, buf):
        if not self._e.any():
            return 0
        _mac, msg = self._e.irecv(0)  # callee-owned buffers: no allocation
        if msg is None:
            return 0
        n = min(len(msg), len(buf))
        for i in range(n):
            buf[i] = msg[i]
        return n


class Board:
    pass


def build(pinmap=None):
    pm = pinmap or load_pinmap()
    faults = []
    b = Board()
    b.name = "esp32"
    b.clock = Clock()
    b.serial = Serial()
    strip = pm["strip"]
    b.strip = Strip(gpio(pm, "LED_DATA"), strip["leds"], strip.get("order", "GRB"))
    try:
        i2c = pm["i2c"]
        b.i2c = machine.I2C(
            i2c.get("id", 0),
            scl=machine.Pin(gpio(pm, "I2C_SCL")),
            sda=machine.Pin(gpio(pm, "I2C_SDA")),
            freq=i2c.get("freq_hz", 400000),
        )
    except Exception as e:
        b.i2c = None
        faults.append("i2c: %r" % (e,))
    try:
        b.radio = Radio(pm.get("radio", {}).get("channel", 1))
    except Exception as e:
        b.radio = None
        faults.append("radio: %r" % (e,))
    b.wdt = Watchdog(pm.get("wdt_ms", 8000))
    try:
        b.store = Store()
    except Exception as e:
        b.store = None
        faults.append("store: %r" % (e,))
    b.info = {
        "board": pm.get("board"),
        "mpy": sys.implementation._mpy,
        "micropython": "%d.%d.%d" % sys.implementation.version[:3],
        "cpu_mhz": machine.freq() // 1000000,
        "uid": "".join("%02x" % c for c in machine.unique_id()),
        "reset_cause": machine.reset_cause(),
        "faults": faults,
    }
    return b
