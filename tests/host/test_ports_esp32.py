"""The ESP32 port (firmware/ports/esp32/board.py) and the pin map, on CPython with fake hardware.

The real machine/neopixel/esp32/espnow/network modules exist only on the board; here small fakes
record what the port builds, so the pin map really is what the port uses.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import types
from pathlib import Path

import pytest
from cocoon_host import hardware

ROOT = Path(__file__).resolve().parents[2]
BOARD_PY = ROOT / "firmware" / "ports" / "esp32" / "board.py"


class FakePin:
    OUT = 1

    def __init__(self, n, mode=None):
        self.n = n


class FakeI2C:
    def __init__(self, bus_id, scl, sda, freq):
        self.bus_id, self.scl, self.sda, self.freq = bus_id, scl.n, sda.n, freq


class FakeNeoPixel:
    def __init__(self, pin, n):
        self.pin = pin.n
        self.buf = bytearray(3 * n)
        self.writes = []

    def write(self):
        self.writes.append(bytes(self.buf))


class FakeWDT:
    made: list[int] = []

    def __init__(self, timeout):
        FakeWDT.made.append(timeout)
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class FakeNVS:
    blobs: dict[str, bytes] = {}

    def __init__(self, namespace):
        self.ns = namespace
        self.pending: dict[str, bytes] = {}

    def get_blob(self, key, buf):
        if key not in self.blobs:
            raise OSError(-4354)  # ESP_ERR_NVS_NOT_FOUND
        data = self.blobs[key]
        buf[: len(data)] = data
        return len(data)

    def set_blob(self, key, value):
        self.pending[key] = bytes(value)

    def commit(self):
        self.blobs.update(self.pending)


class FakePoll:
    def __init__(self, stream):
        self.stream = stream

    def register(self, obj, flags):
        pass

    def ipoll(self, timeout):
        return iter([1]) if self.stream.tell() < len(self.stream.getvalue()) else iter([])


@pytest.fixture
def esp32_board(monkeypatch):
    stdin = io.BytesIO(b"")
    stdout = io.BytesIO()
    machine = types.SimpleNamespace(
        Pin=FakePin,
        I2C=FakeI2C,
        WDT=FakeWDT,
        freq=lambda: 240_000_000,
        unique_id=lambda: b"\x01\x02\x03",
        reset_cause=lambda: 1,
    )
    neopixel = types.SimpleNamespace(NeoPixel=FakeNeoPixel)
    esp32 = types.SimpleNamespace(NVS=FakeNVS)
    select = types.SimpleNamespace(poll=lambda: FakePoll(stdin), POLLIN=1)
    fake_sys = types.SimpleNamespace(
        stdin=types.SimpleNamespace(buffer=stdin),
        stdout=types.SimpleNamespace(buffer=stdout),
        implementation=types.SimpleNamespace(_mpy=0x2A06, version=(1, 28, 0)),
    )
    for name, mod in {"machine": machine, "neopixel": neopixel, "esp32": esp32}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("esp32_board_under_test", BOARD_PY)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.sys = fake_sys
    mod.select = select
    mod.time = types.SimpleNamespace(
        ticks_ms=lambda: 0,
        ticks_us=lambda: 0,
        ticks_diff=lambda a, b: a - b,
        ticks_add=lambda a, b: a + b,
        sleep_ms=lambda n: None,
    )
    FakeWDT.made = []
    FakeNVS.blobs = {}

    class NoRadio:
        def __init__(self, channel):
            raise OSError("no radio in this test")

    mod.Radio = NoRadio
    return mod, stdin, stdout


def test_the_pin_map_is_valid_for_an_esp32():
    assert hardware.check_pinmap(hardware.load_pinmap()) == []


def test_the_pin_check_can_fail():
    pm = hardware.load_pinmap()
    pm["pins"][0]["gpio"] = 7  # an SPI flash pin
    pm["pins"].append({"gpio": 35, "signal": "LED2", "dir": "out", "to": []})
    pm["pins"].append({"gpio": 13, "signal": "X", "dir": "in", "to": []})
    text = " | ".join(hardware.check_pinmap(pm))
    assert "SPI flash" in text and "input-only" in text and "already used" in text


def test_wiring_md_is_generated_from_the_pin_map():
    assert hardware.WIRING.read_text() == hardware.wiring_table(hardware.load_pinmap()), (
        "hardware/wiring.md is out of date: run python -m cocoon_host.hardware"
    )


def test_the_port_builds_what_the_pin_map_says(esp32_board):
    mod, _, _ = esp32_board
    pm = json.loads((ROOT / "hardware" / "pinmap.json").read_text())
    b = mod.build(pm)
    assert b.name == "esp32"
    assert (b.i2c.sda, b.i2c.scl, b.i2c.freq) == (21, 22, 400000)
    assert b.strip.n == pm["strip"]["leds"] and b.strip._np.pin == 13
    assert b.radio is None and "radio" in b.info["faults"][0]
    assert b.info["uid"] == "010203" and b.info["cpu_mhz"] == 240


def test_the_strip_sends_grb_on_the_wire(esp32_board):
    mod, _, _ = esp32_board
    strip = mod.Strip(13, 2, "GRB")
    strip.show(bytearray([10, 20, 30, 40, 50, 60]))
    assert strip._np.writes == [bytes([20, 10, 30, 50, 40, 60])]


def test_the_watchdog_starts_at_the_first_feed_and_parks(esp32_board):
    mod, _, _ = esp32_board
    wdt = mod.Watchdog(8000)
    wdt.park()  # never started: parking must not start one
    assert FakeWDT.made == []
    wdt.feed()
    wdt.feed()
    assert FakeWDT.made == [8000] and wdt._wdt.feeds == 2
    wdt.park()
    assert FakeWDT.made == [8000, mod.WDT_PARK_MS]


def test_the_store_round_trips_through_nvs(esp32_board):
    mod, _, _ = esp32_board
    store = mod.Store()
    assert store.read() is None
    store.write(b'{"bri": 3}')
    assert mod.Store().read() == b'{"bri": 3}'
    with pytest.raises(ValueError):
        store.write(b"x" * (mod.STORE_MAX + 1))


def test_serial_reads_what_is_waiting_and_never_blocks(esp32_board):
    mod, stdin, stdout = esp32_board
    s = mod.Serial()
    buf = bytearray(4)
    assert s.readinto(buf) == 0
    stdin.write(b"abcdef")
    stdin.seek(0)
    assert s.readinto(buf) == 4 and buf == b"abcd"
    assert s.readinto(buf) == 2 and buf[:2] == b"ef"
    s.write(b"frame\r\n")
    assert stdout.getvalue() == b"frame\r\n"


def test_the_app_runs_on_the_esp32_board_for_a_few_seconds(esp32_board):
    # The app and the port together, with the port's clock replaced by a virtual one.
    mod, _, stdout = esp32_board
    sys.path.insert(0, str(ROOT / "tests" / "firmware"))
    try:
        import appfakes
        from cocoon import app, proto
    finally:
        sys.path.pop(0)
    b = mod.build(json.loads((ROOT / "hardware" / "pinmap.json").read_text()))
    b.clock = appfakes.Clock()
    a = app.App(b)
    a.run(until_ms=2500)
    frames = proto.Parser().feed(stdout.getvalue())
    assert [f.type for f in frames][:1] == ["HELLO"]
    assert frames[0].payload["port"] == "esp32" and frames[0].payload["leds"] == 60
    assert sum(f.type == "STATE" for f in frames) == 2
    assert len(b.strip._np.writes) >= 100 and FakeWDT.made == [8000]
