"""The virtual board's parts (firmware/ports/sim), each checked on the MicroPython unix port.

The parts only run inside MicroPython (they stand in for its C modules), so each test runs a short
script under `.venv/bin/micropython` with ports/sim on sys.path, without a runner: the control
channel (hostctl) is then closed and its messages go nowhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from cocoon_host.sim_runner import SIM_PORT_DIR

MICROPYTHON = str(Path(sys.executable).parent / "micropython")


def run_mp(code: str, tmp_path: Path) -> str:
    script = tmp_path / "snippet.py"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(SIM_PORT_DIR)!r})\n" + textwrap.dedent(code)
    )
    env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
    p = subprocess.run(
        [MICROPYTHON, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_the_fast_path_parts_allocate_nothing(tmp_path):
    out = run_mp(
        """
        import micropython, board
        board.configure({"here": sys.path[0], "scenario": "none", "speed": "0", "leds": "8"})
        b = board.build()
        frame = bytearray(3 * b.strip.n)
        rx = bytearray(16)

        out = [0, 0]

        def loop(c, strip, serial, wdt):
            for i in range(100):
                t0 = c.ticks_ms()
                c.ticks_us()
                d = c.ticks_diff(c.ticks_add(t0, 20), t0)
                frame[0] = i
                strip.show(frame)
                n = serial.readinto(rx)
                wdt.feed()
                c.sleep_ms(20)
            out[0] = d
            out[1] = n

        b.serial.readinto(rx)  # the poller makes its result tuple once, at the first event
        micropython.heap_lock()
        try:
            loop(b.clock, b.strip, b.serial, b.wdt)
        finally:
            micropython.heap_unlock()
        print(out[0], out[1], b.strip.frames, b.strip.frame[0])
        """,
        tmp_path,
    )
    assert out.split() == ["20", "0", "100", "99"]


def test_clock_at_max_speed_sleeps_in_no_time_and_wraps_like_the_esp32(tmp_path):
    out = run_mp(
        """
        import vclock
        c = vclock.Clock(speed_milli=vclock.MAX, ticks0_ms=(1 << 30) - 1000)
        w0, t0 = c.world_us(), c.ticks_ms()
        c.sleep_ms(3600 * 1000)  # an hour
        print(c.world_us() - w0 >= 3600 * 10**6, c.ticks_ms() < t0, c.ticks_diff(c.ticks_ms(), t0))
        print(c.ticks_diff(5, (1 << 30) - 5), c.ticks_add((1 << 30) - 1, 2))
        """,
        tmp_path,
    )
    first, second = out.splitlines()
    moved, wrapped, diff = first.split()
    assert moved == "True" and wrapped == "True"
    assert 3600 * 1000 <= int(diff) < 3600 * 1000 + 1000
    assert second.split() == ["10", "1"]


def test_strip_store_and_an_empty_bus(tmp_path):
    out = run_mp(
        """
        import board
        board.configure({"here": sys.path[0], "scenario": "none", "leds": "2"})
        b = board.build()
        try:
            b.strip.show(bytearray(5))
        except ValueError as e:
            print("strip:", e)
        try:
            b.i2c.readfrom_mem_into(0x57, 0xFF, bytearray(1))
        except OSError as e:
            print("i2c:", e.errno, b.i2c.scan())
        s = board.Store("store/cfg.bin")
        print(s.read())
        s.write(b"abc")
        s.write(b"defg")
        print(s.read(), sorted(__import__("os").listdir("store")))
        print(b.name, b.info["leds"], b.info["scenario"], b.radio.recv_into(bytearray(4)))
        """,
        tmp_path,
    )
    assert out.splitlines() == [
        "strip: the strip has 2 LEDs: show() needs 6 bytes, got 5",
        "i2c: 19 []",
        "None",
        "b'defg' ['cfg.bin']",
        "sim 2 None 0",
    ]


def test_the_sensor_bus_holds_the_scenario_chips(tmp_path):
    out = run_mp(
        """
        import board
        board.configure({"here": sys.path[0], "scenario": "synthetic:bpm=60", "speed": "0"})
        b = board.build()
        buf = bytearray(1)
        b.i2c.readfrom_mem_into(0x57, 0xFF, buf)
        print(sorted(b.i2c.scan()), hex(buf[0]), b.info["scenario"])
        """,
        tmp_path,
    )
    assert out.split() == ["[87,", "104]", "0x15", "synthetic:bpm=60"]


def test_radio_channels_loss_and_delay(tmp_path):
    out = run_mp(
        """
        import vclock, vradio
        c = vclock.Clock(speed_milli=vclock.MAX)
        name = "parts-%d" % c.world_us()
        a = vradio.Radio(name, b"\\x02\\x00\\x00\\x00\\x00\\x01", c)
        late = vradio.Radio(name, b"\\x02\\x00\\x00\\x00\\x00\\x02", c, delay_ms=500)
        deaf = vradio.Radio(name, b"\\x02\\x00\\x00\\x00\\x00\\x03", c, loss=1.0)
        other = vradio.Radio(name + "x", b"\\x02\\x00\\x00\\x00\\x00\\x04", c)
        for i in range(3):
            a.send(bytes([65 + i]))
        import time as real
        real.sleep_ms(50)
        buf = bytearray(8)
        print(late.recv_into(buf), deaf.recv_into(buf), other.recv_into(buf), a.recv_into(buf))
        c.sleep_ms(600)
        got = []
        for _ in range(4):
            n = late.recv_into(buf)
            got.append(bytes(buf[:n]))
        print(got, deaf.dropped, late.last_mac)
        try:
            a.send(bytes(251))
        except ValueError as e:
            print(e)
        for spec in ("x:loss=2", "x:foo=1", ":loss=0.1"):
            try:
                vradio.parse_spec(spec)
            except ValueError as e:
                print(e)
        print(vradio.parse_spec("fest:loss=0.25,delay_ms=20,seed=3"))
        """,
        tmp_path,
    )
    assert out.splitlines() == [
        "0 0 0 0",
        "[b'A', b'B', b'C', b''] 3 b'\\x02\\x00\\x00\\x00\\x00\\x01'",
        "ESP-NOW payload is at most 250 bytes",
        "--radio: bad value in 'loss=2' (loss 0..1, delay_ms >= 0, seed int)",
        "--radio: unknown option 'foo' (loss, delay_ms, seed)",
        "--radio needs a channel name, e.g. --radio festival",
        "('fest', 0.25, 20, 3)",
    ]


def test_repl_continuation_and_auto_indent_follow_micropython(tmp_path):
    out = run_mp(
        """
        import supervisor as s
        cases = ["1+1", "if x:", "x = (1,", "s = '''a", "s = '(('", "f(1)\\\\", "@d",
                 "def f():\\n    return 1\\n", "for i in r:\\n    p(i)", "iffy = 3"]
        print([s.continue_with_input(c) for c in cases])
        print([s.auto_indent(p) for p in ("", "if x:\\n", "if x:\\n    y\\n",
               "if x:\\n    y\\n    \\n", "if x:\\n    y\\n    \\n    \\n")])
        s.G["sys"] = sys
        print(s.complete("impo"), s.complete("sys.pa"))
        """,
        tmp_path,
    )
    cont, indent, comp = out.splitlines()
    assert cont == "[False, True, True, True, False, True, True, False, True, False]"
    assert indent == "['', '    ', '    ', '    ', '']"
    assert comp == "('rt ', None) ('th', None)"
