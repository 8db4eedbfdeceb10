"""`cocoon telemetry` end to end against a scripted TCP board, and its bad-input cases.

The scripted board speaks exactly what the firmware writes (frames from cocoon.proto, with REPL
text between them); the end-to-end run against a real virtual board is in test_flash.py.
"""

from __future__ import annotations

import io
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial
from cli_run import cocoon as _cocoon
from cli_run import one_clear_line
from cocoon import proto
from cocoon_host import telemetry

ROOT = Path(__file__).resolve().parents[2]


def cocoon(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return _cocoon(*args, timeout=timeout)


class ScriptedBoard:
    """A TCP server; each accepted client gets the next script: a list of bytes or float pauses."""

    def __init__(self, scripts: list[list]):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self.scripts = list(scripts)
        self.received = b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            script = self.scripts.pop(0) if self.scripts else []
            with conn:
                conn.settimeout(0.05)
                for step in script:
                    if self.stop.is_set():
                        break
                    if isinstance(step, float):
                        end = time.monotonic() + step
                        while time.monotonic() < end and not self.stop.is_set():
                            try:
                                self.received += conn.recv(4096)
                            except OSError:
                                pass
                    else:
                        try:
                            conn.sendall(step)
                        except OSError:  # the client went away: this script is over
                            break

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def scripted():
    boards: list[ScriptedBoard] = []

    def make(*scripts: list) -> ScriptedBoard:
        b = ScriptedBoard(list(scripts))
        boards.append(b)
        return b

    yield make
    for b in boards:
        b.close()


def frames(start_seq: int, n: int, start_ms: int = 0, hello: bool = False) -> list:
    out: list = [0.3]  # bytes sent before the client has opened its end are lost, as on a wire
    if hello:
        out.append(proto.encode(proto.HELLO, start_seq, start_ms, {"fw": "0.1.0", "leds": 8}))
        start_seq += 1
    for i in range(n):
        seq = start_seq + i
        up = start_ms + 1000 * (i + 1)
        out.append(b"log text from the board\r\n")
        out.append(proto.encode(proto.STATE, seq, up, {"up_s": up // 1000, "hr": 61}))
        out.append(0.05)
    return out


def test_plain_prints_one_json_object_per_frame(scripted):
    board = scripted(frames(0, 4, hello=True) + [30.0])
    proc = cocoon("telemetry", "--port", board.url, "--plain", "--seconds", "2")
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["type"] for o in objs] == ["HELLO", "STATE", "STATE", "STATE", "STATE"]
    assert objs[1]["data"] == {"up_s": 1, "hr": 61} and objs[1]["seq"] == 1
    assert all(isinstance(o["t"], float) for o in objs)
    assert "5 frames, 0 damaged" in proc.stderr


def test_record_appends_and_survives_a_torn_line(scripted, tmp_path):
    rec = tmp_path / "night.jsonl"
    rec.write_text('{"t": 1.0, "type": "STATE", "seq": 0, "data": {}}\n{"t": 2.0, "ty')
    board = scripted(frames(0, 3, hello=True) + [30.0])
    proc = cocoon("telemetry", "--port", board.url, "--record", str(rec), "--seconds", "2")
    assert proc.returncode == 0, proc.stderr
    records = list(telemetry.read_records(rec))
    assert [r["type"] for r in records] == ["STATE", "HELLO", "STATE", "STATE", "STATE"]
    # Without a terminal the view is one readable line per frame.
    assert proc.stdout.count("STATE") == 3 and "\x1b[" not in proc.stdout


def test_recorder_flushes_every_line_before_returning(tmp_path):
    path = tmp_path / "r.jsonl"
    r = telemetry.Recorder(path)
    f = proto.Parser().feed(proto.encode(proto.STATE, 0, 5, {"a": 1}))[0]
    r.write(telemetry.frame_record(f, 12.5))
    # Another reader sees it at once: nothing waits in a buffer for a cable to be pulled.
    assert json.loads(path.read_text()) == {
        "t": 12.5,
        "v": 1,
        "type": "STATE",
        "seq": 0,
        "uptime_ms": 5,
        "data": {"a": 1},
    }
    r.close()


def test_reconnects_when_the_link_drops_and_counts_the_restart(scripted, tmp_path):
    # First connection: 2 frames then the board resets (connection closed); second: it rebooted.
    board = scripted(frames(0, 2, hello=True), frames(0, 3, hello=True) + [30.0])
    rec = tmp_path / "r.jsonl"
    proc = cocoon(
        "telemetry", "--port", board.url, "--plain", "--record", str(rec), "--seconds", "4"
    )
    assert proc.returncode == 0, proc.stderr
    types = [json.loads(line)["type"] for line in proc.stdout.splitlines()]
    assert types == ["HELLO", "STATE", "STATE", "HELLO", "STATE", "STATE", "STATE"]
    assert "--- lost:" in proc.stderr and "--- reconnected" in proc.stderr
    assert "1 restarts" in proc.stderr
    assert len(list(telemetry.read_records(rec))) == 7


def test_nobody_listening_is_one_clear_line():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = cocoon("telemetry", "--port", f"socket://127.0.0.1:{port}", "--seconds", "2")
    one_clear_line(proc, "nobody is listening", "cocoon sim")


def test_a_port_that_does_not_exist_is_one_clear_line():
    proc = cocoon("telemetry", "--port", "/dev/ttyUSB_cocoon_none", "--seconds", "2")
    one_clear_line(proc, "no serial port /dev/ttyUSB_cocoon_none")


def test_a_malformed_socket_url_is_one_clear_line():
    proc = cocoon("telemetry", "--port", "socket://127.0.0.1", "--seconds", "2")
    one_clear_line(proc, "not a valid address", "socket://HOST:PORT")


def test_a_busy_serial_port_is_one_clear_line():
    controller, device = pty.openpty()
    name = os.ttyname(device)
    holder = serial.Serial(name, exclusive=True)  # another program has the port
    try:
        proc = cocoon("telemetry", "--port", name, "--seconds", "2")
        one_clear_line(proc, "busy", "another program")
    finally:
        holder.close()
        os.close(controller)
        os.close(device)


def test_a_socket_board_that_refuses_a_second_client_is_one_clear_line(scripted):
    board = scripted([])  # accepts, then closes at once without a byte: already has a client
    proc = cocoon("telemetry", "--port", board.url, "--seconds", "3")
    one_clear_line(proc, "already has a client", "close the other")


def test_a_board_at_the_repl_sends_no_frames_one_clear_line(scripted):
    board = scripted([0.3, b'MicroPython v1.28 on esp32\r\nType "help()".\r\n>>> ', 30.0])
    proc = cocoon("telemetry", "--port", board.url, "--wait", "1.5")
    one_clear_line(proc, "no telemetry", "at the REPL")


def test_a_crashed_firmware_is_named(scripted):
    crash = (
        b"Traceback (most recent call last):\r\n"
        b'  File "main.py", line 3\r\n'
        b"ImportError: no module named 'cocoon.app'\r\n>>> "
    )
    board = scripted([0.3, crash, 30.0])
    proc = cocoon("telemetry", "--port", board.url, "--wait", "1.5")
    one_clear_line(proc, "ImportError", "cocoon flash")


def test_silence_is_one_clear_line(scripted):
    board = scripted([30.0])
    proc = cocoon("telemetry", "--port", board.url, "--wait", "1")
    one_clear_line(proc, "no telemetry", "cocoon flash")


def test_ctrl_c_exits_cleanly_and_keeps_the_record(scripted, tmp_path):
    board = scripted(frames(0, 50, hello=True) + [30.0])
    rec = tmp_path / "r.jsonl"
    p = subprocess.Popen(
        [sys.executable, "-m", "cocoon_host.cli", "telemetry", "--port", board.url, "--plain"]
        + ["--record", str(rec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
            not rec.exists() or len(list(telemetry.read_records(rec))) < 3
        ):
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and "Traceback" not in err
    assert "frames" in err
    assert len(list(telemetry.read_records(rec))) == len(out.splitlines()) >= 3


def test_live_view_draws_in_place_with_colour_blocks():
    buf = io.StringIO()
    v = telemetry.LiveView("socket://x:1", True, buf, "Ctrl-C to quit")
    for f in proto.Parser().feed(
        proto.encode(proto.HELLO, 0, 0, {"fw": "0.1.0", "build": "abc", "leds": 8, "proto": 1})
        + proto.encode(
            proto.STATE,
            1,
            1000,
            {
                "up_s": 3725,
                "loop": {"mean_us": 420, "max_us": 3100, "hz": 50},
                "heap": {"free": 2048000, "used": 1},
                "led": {"mode": "pulse", "bri": 48, "rgb": ["300f00", "000000"]},
                "sensors": {"ppg": "ok", "imu": "missing"},
                "hr": {"bpm": 61},
            },
        )
        + proto.encode(proto.ERR, 2, 1000, {"code": "sensor", "msg": "MPU-6050 not found"})
    ):
        v.on_frame(f, time.time())
    v.draw(force=True)
    v.draw(force=True)
    text = buf.getvalue()
    assert "1:02:05" in text and "0.42 ms mean" in text and "50 Hz" in text
    assert "\x1b[38;2;255;79;0m██" in text  # the dim amber LED, brightened to be seen
    assert '"bpm":61' in text  # keys the view does not know are still shown
    assert "MPU-6050 not found" in text
    assert "\x1b[9F" in text or "\x1b[10F" in text or "\x1b[11F" in text  # second draw moves up


def test_no_color_means_no_colour_codes(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("NO_COLOR", "1")
    assert telemetry.use_color(Tty()) is False
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "xterm-256color")
    assert telemetry.use_color(Tty()) is True
    assert telemetry.use_color(io.StringIO()) is False
    v = telemetry.View("u", color=False)
    assert v.strip_blocks(["300f00"]) == "300f00"
