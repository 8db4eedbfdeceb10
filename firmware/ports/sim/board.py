"""The virtual board's port: the Board object (docs/design.md) over simulated hardware.

    board.configure(options)    # the supervisor, before `/` becomes the board's filesystem
    b = board.build()           # main.py: b.clock, b.i2c, b.strip, b.serial, b.radio, b.wdt...

Everything that needs the host (the scenario's recordings, the simulated chips, the LED recorder's
pipe, the radio's socket) is made in configure(), while the repository is still reachable; build()
only hands the parts out. Nothing here imports the firmware (`cocoon`): the board's flashed copy is
the one under test.
- clock: vclock.Clock (virtual, --speed; ticks wrap at 2^30 like the ESP32)
- i2c: the simulated bus of ports/sim/i2c.py with the chips fed by the scenario (--scenario), or a
  bus without devices (--scenario none) where every access raises OSError(19) (ENODEV)
- strip: `n` LEDs; show(rgb) keeps the frame, records it (--record-leds) and takes as long as a
  WS2812 write (30 us per LED: 24 bits at 800 kHz, plus the 50 us latch)
- serial: the USB serial shared with the REPL (stdout/stdin of this process)
- radio: vradio.Radio on the --radio channel, or an off-air radio that hears nobody
- wdt: a virtual watchdog, armed by the first feed(): not fed for --wdt-ms -> hard reset
- store: one file in the board's filesystem, written atomically (write, then rename)
"""

import os
import struct
import sys

import vclock
import vmachine
import vradio

NAME = "sim"
DEFAULT_LEDS = 60
STORE_PATH = "/.nvs/cocoon.bin"  # the sim's stand-in for the ESP32's NVS partition
ENODEV = 19
WS2812_US_PER_LED = 30
WS2812_LATCH_US = 50

_parts: dict = {}


class NoDeviceI2C:
    """An I2C bus with nothing on it: what a board without its sensors sees."""

    def scan(self):
        return []

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        raise OSError(ENODEV)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        raise OSError(ENODEV)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        raise OSError(ENODEV)

    def readfrom_into(self, addr, buf, stop=True):
        raise OSError(ENODEV)

    def writeto(self, addr, buf, stop=True):
        raise OSError(ENODEV)


class Strip:
    def __init__(self, n, clock, record=None):
        self.n = n
        self.frame = bytearray(3 * n)  # the last frame shown, R,G,B per LED
        self.frames = 0
        self.write_us = WS2812_US_PER_LED * n + WS2812_LATCH_US
        self._clock = clock
        self._record = record  # a pipe to the runner, which writes the CSV
        self._header = bytearray(8)

    def show(self, rgb):
        if len(rgb) != len(self.frame):
            raise ValueError(
                "the strip has %d LEDs: show() needs %d bytes, got %d"
                % (self.n, len(self.frame), len(rgb))
            )
        self.frame[:] = rgb
        self.frames += 1
        if self._record is not None:
            struct.pack_into("<Q", self._header, 0, self._clock.world_us())
            self._record.write(self._header)
            self._record.write(self.frame)
        self._clock.sleep_us(self.write_us)


class Serial:
    """The USB serial: write() blocks while the link is busy (as a UART does), readinto() never."""

    def __init__(self):
        import select

        self._out = sys.stdout.buffer
        self._read = sys.stdin.buffer.readinto
        self._one = bytearray(1)
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)

    def write(self, b):
        return self._out.write(b)

    def readinto(self, buf):
        n = 0
        size = len(buf)
        while n < size:
            ready = False
            for _ in self._poll.ipoll(0):
                ready = True
            if not ready or self._read(self._one, 1) != 1:
                break
            buf[n] = self._one[0]
            n += 1
        return n


class WDT:
    """board.wdt: armed by the first feed(), like a machine.WDT made when the app starts."""

    def __init__(self, clock, timeout_ms):
        self._clock = clock
        self.timeout_ms = timeout_ms
        self._armed = False

    def feed(self):
        if not self._armed:
            self._armed = True
            if self.timeout_ms:
                self._clock.wdt_start(self.timeout_ms)
            return
        self._clock.wdt_feed()

    def park(self):
        """After Ctrl-C: the ESP32's watchdog cannot stop, so the port gives it a day to wait."""
        if self._armed and self.timeout_ms:
            self._clock.wdt_start(24 * 3600 * 1000)


class Store:
    def __init__(self, path=STORE_PATH):
        self.path = path

    def read(self):
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, b):
        folder = self.path[: self.path.rfind("/")]
        if folder:
            try:
                os.mkdir(folder)
            except OSError:
                pass  # already there
        tmp = self.path + ".new"
        with open(tmp, "wb") as f:
            f.write(b)
        # Atomic: a reset leaves the old or the new config. The unix port's VfsPosix mounted at "/"
        # resolves only relative names in rename(), so rename from the root with relative paths.
        if self.path.startswith("/"):
            os.chdir("/")
            os.rename(tmp[1:], self.path[1:])
        else:
            os.rename(tmp, self.path)


class Board:
    def __init__(self, clock, i2c, strip, serial, radio, wdt, store, info):
        self.name = NAME
        self.clock = clock
        self.i2c = i2c
        self.strip = strip
        self.serial = serial
        self.radio = radio
        self.wdt = wdt
        self.store = store
        self.info = info


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def configure(opt):
    """Build the parts from the supervisor's options (strings); raise ValueError if one is bad."""
    here = opt.get("here", ".")
    clock = vclock.Clock(
        speed_milli=int(opt.get("speed", "1000")),
        world0_us=int(opt.get("world-us", "0")),
        boot_us=int(opt.get("boot-us", "0")),
        until_us=int(opt.get("until-us", "-1")),
        epoch0_s=int(opt.get("epoch", "0")),
        ticks0_ms=int(opt.get("ticks0-ms", "0")),
    )
    vclock.install(clock)
    uid = bytes.fromhex(opt.get("uid", "02cc00000001"))
    # The chip's last reset, as the ESP32 port maps esp_reset_reason() (ports/esp32/modmachine.c):
    # machine.reset() and a panic are ESP_RST_SW / ESP_RST_PANIC -> SOFT_RESET. A MicroPython soft
    # reboot does not reset the chip: the runner passes the cause of the boot before it.
    causes = {
        "power": vmachine.PWRON_RESET,
        "hard": vmachine.SOFT_RESET,
        "crash": vmachine.SOFT_RESET,
        "wdt": vmachine.WDT_RESET,
        "deepsleep": vmachine.DEEPSLEEP_RESET,
    }
    vmachine.configure(causes.get(opt.get("cause", "power"), vmachine.PWRON_RESET), uid)

    spec = opt.get("scenario", "")
    scenario = None
    i2c = NoDeviceI2C()
    if spec != "none" and _exists(here + "/i2c.py") and _exists(here + "/scenario.py"):
        import i2c as sim_i2c
        import scenario as sim_scenario

        scenario = sim_scenario.build(spec or "synthetic", clock)
        i2c = sim_i2c.SimI2C(clock, scenario)

    n = int(opt.get("leds", str(DEFAULT_LEDS)))
    if not 1 <= n <= 2000:
        raise ValueError("--leds must be 1..2000, got %d" % n)
    record = None
    if opt.get("record-fd", "-1") != "-1":
        record = open("/dev/fd/" + opt["record-fd"], "wb")
    strip = Strip(n, clock, record)

    radio_spec = opt.get("radio", "")
    if radio_spec:
        name, loss, delay_ms, seed = vradio.parse_spec(radio_spec)
        radio = vradio.Radio(name, uid, clock, loss, delay_ms, seed)
    else:
        radio = vradio.OffAir(uid)

    _parts.update(
        clock=clock,
        i2c=i2c,
        strip=strip,
        serial=Serial(),
        radio=radio,
        wdt=WDT(clock, int(opt.get("wdt-ms", "10000"))),
        store=Store(),
        scenario=scenario,
        info={
            "port": NAME,
            "leds": n,
            "speed": "max" if clock.max else clock.speed_milli / 1000,
            "scenario": (spec or "synthetic") if scenario is not None else None,
            "radio": radio_spec or None,
            "id": uid.hex(),
            "micropython": "%d.%d.%d" % sys.implementation.version[:3],
        },
    )


def build():
    """The Board for the app; the same parts every time (there is one set of hardware)."""
    if not _parts:
        raise RuntimeError("board.configure() was not called: run the board with `cocoon sim`")
    p = _parts
    return Board(
        p["clock"], p["i2c"], p["strip"], p["serial"], p["radio"], p["wdt"], p["store"], p["info"]
    )
