"""Real mpremote against a real `cocoon sim`: every command a person uses on an ESP32.

Each test drives `.venv/bin/mpremote connect socket://127.0.0.1:PORT ...` as a subprocess (the
interactive `repl` through the board's pty, since mpremote's console needs a file descriptor that
pyserial's socket:// does not have). The board's filesystem is a temporary folder holding a test
boot.py/main.py that log each run, so resets can be checked from the host side.
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cocoon_host.sim import SimProcess

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
BOOT_PY = 'with open("/boot.log", "a") as f:\n    f.write("boot\\n")\n'
MAIN_PY = 'with open("/main.log", "a") as f:\n    f.write("main\\n")\nfrom_main = 42\n'
LOOP_MAIN_PY = (
    "import time\nn = 0\nwhile True:\n    n += 1\n    print('loop', n)\n    time.sleep_ms(50)\n"
)


def mpremote(url: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MPREMOTE, "connect", url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def wait_for(cond, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class Wire:
    """A raw TCP client of the board's serial link, for byte-exact checks."""

    def __init__(self, url: str):
        host, port = url.removeprefix("socket://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until(self, token: bytes, timeout_s: float = 30.0) -> bytes:
        """Read until token has arrived; return everything read so far and forget it."""
        deadline = time.monotonic() + timeout_s
        while token not in self.buf and time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if r:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.buf += chunk
        assert token in self.buf, f"waited for {token!r}, got {self.buf[-400:]!r}"
        out, self.buf = self.buf, b""
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    fs = tmp_path_factory.mktemp("board-fs")
    (fs / "boot.py").write_text(BOOT_PY)
    (fs / "main.py").write_text(MAIN_PY)
    with SimProcess(["--fs", str(fs), "--speed", "max"]) as sim:
        assert sim.url.startswith("socket://127.0.0.1:")
        yield sim.url, fs


def test_exec_prints_the_output(board):
    url, _ = board
    r = mpremote(url, "exec", "print(6 * 7)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"


def test_eval_returns_the_value(board):
    url, _ = board
    r = mpremote(url, "eval", "sum(range(10))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "45"


def test_an_exception_is_a_micropython_traceback_and_exit_code_1(board):
    url, _ = board
    r = mpremote(url, "exec", "open('/no/such/file')")
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert 'File "<stdin>", line 1, in <module>' in out
    assert "OSError: [Errno 2] ENOENT" in out
    assert "supervisor.py" not in out  # the REPL's own frames stay hidden, as on a board


def test_fs_cp_sha256sum_ls_cat_mkdir_rm(board, tmp_path):
    url, fs = board
    blob = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(3000))  # every byte value, not text
    (tmp_path / "blob.bin").write_bytes(blob)
    (tmp_path / "hello.txt").write_text("hello\nboard\n")
    r = mpremote(
        url,
        "fs", "mkdir", ":data", "+",
        "fs", "cp", str(tmp_path / "blob.bin"), ":data/blob.bin", "+",
        "fs", "cp", str(tmp_path / "hello.txt"), ":data/hello.txt", "+",
        "fs", "sha256sum", ":data/blob.bin", "+",
        "fs", "ls", ":data", "+",
        "fs", "cat", ":data/hello.txt",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (fs / "data" / "blob.bin").read_bytes() == blob
    assert hashlib.sha256(blob).hexdigest() in r.stdout
    assert "3000 blob.bin" in r.stdout  # sizes, as littlefs on the ESP32 reports them
    assert "hello\r\nboard" in r.stdout or "hello\nboard" in r.stdout
    # the same file again is skipped by hash
    r = mpremote(url, "fs", "cp", str(tmp_path / "blob.bin"), ":data/blob.bin")
    assert r.returncode == 0 and "Up to date" in r.stdout
    # copy back from the board
    r = mpremote(url, "fs", "cp", ":data/blob.bin", str(tmp_path / "back.bin"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.bin").read_bytes() == blob
    r = mpremote(url, "fs", "rm", ":data/blob.bin", "+", "fs", "ls", ":data")
    assert r.returncode == 0, r.stderr
    assert "blob.bin" not in r.stdout.split("ls :data", 1)[1]
    assert not (fs / "data" / "blob.bin").exists()


def test_fs_errors_say_no_such_file(board):
    url, _ = board
    r = mpremote(url, "fs", "cat", ":nope.txt")
    assert r.returncode == 1
    assert "No such file or directory" in r.stderr


def test_fs_cp_recursive(board, tmp_path):
    url, fs = board
    src = tmp_path / "tree"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("bb")
    (src / "sub" / "deeper" / "c.bin").write_bytes(bytes(range(256)))
    r = mpremote(url, "fs", "cp", "-r", str(src), ":")
    assert r.returncode == 0, r.stderr
    assert (fs / "tree" / "a.txt").read_text() == "a"
    assert (fs / "tree" / "sub" / "b.txt").read_text() == "bb"
    assert (fs / "tree" / "sub" / "deeper" / "c.bin").read_bytes() == bytes(range(256))


def test_reset_runs_boot_then_main(board):
    url, fs = board
    boots, mains = lines(fs / "boot.log"), lines(fs / "main.log")
    r = mpremote(url, "reset")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: lines(fs / "main.log") == mains + 1)
    # one soft reset by mpremote on connecting, then the hard reset
    assert lines(fs / "boot.log") == boots + 2
    r = mpremote(url, "exec", "import machine; print(machine.reset_cause())")
    assert r.stdout.strip() == "5"  # SOFT_RESET: what the ESP32 reports after machine.reset()


def test_soft_reset_runs_boot_only(board):
    url, fs = board
    boots, mains = lines(fs / "boot.log"), lines(fs / "main.log")
    r = mpremote(url, "soft-reset")
    assert r.returncode == 0, r.stderr
    assert lines(fs / "boot.log") == boots + 1
    assert lines(fs / "main.log") == mains


def test_raw_repl_bytes_are_the_ones_mpremote_expects(board):
    url, _ = board
    w = Wire(url)
    try:
        w.send(b"\r\x03\r\x01")
        w.until(b"raw REPL; CTRL-B to exit\r\n>")
        w.send(b"print(1+1)\x04")
        assert w.until(b">") == b"OK2\r\n\x04\x04>"
        w.send(b"\x05A\x01")  # raw-paste: R\x01, window 128 (LE u16), then a first credit
        assert w.until(b"\x01\x80\x00\x01") == b"R\x01\x80\x00\x01"
        w.send(b"x = 5\nprint(x * 3)\x04")
        assert w.until(b">") == b"\x0415\r\n\x04\x04>"
        w.send(b"\x04")  # soft reset from the raw REPL: back to the raw REPL, no main.py
        out = w.until(b"raw REPL; CTRL-B to exit\r\n>")
        assert out.startswith(b"OK\r\nMPY: soft reboot\r\n")
        w.send(b"\x02")
        assert w.until(b">>> ").startswith(b"\r\nMicroPython v")
    finally:
        w.close()


def test_friendly_repl_line_editing(board):
    url, _ = board
    w = Wire(url)
    try:
        w.send(b"\r\x03")
        w.until(b">>> ")
        w.send(b"for i in range(3):\r")
        assert w.until(b"...     ").endswith(b"\r\n...     ")  # auto-indent
        w.send(b"print(i * 10)\r\x08\x08\x08\x08\r")  # backspace takes the indent back
        assert b"0\r\n10\r\n20\r\n>>> " in w.until(b"20\r\n>>> ")
        w.send(b"6 * 7\r")
        w.until(b"42\r\n>>> ")
        w.send(b"\x1b[A\r")  # up arrow: the last line again
        assert w.until(b"42\r\n>>> ").startswith(b"6 * 7")
        w.send(b"impo\t")  # tab completion
        assert w.until(b"rt ") == b"impo" + b"rt "
        w.send(b"machine\r")
        w.until(b">>> ")
        w.send(b"\x05")  # paste mode
        w.until(b"=== ")
        w.send(b"a = 2\rb = a ** 5\r\x04")
        w.until(b">>> ")
        w.send(b"b\r")
        w.until(b"32\r\n>>> ")
    finally:
        w.close()


def test_a_second_client_is_told_busy(board):
    url, _ = board
    first = Wire(url)
    try:
        first.send(b"\r")
        first.until(b">")
        second = Wire(url)
        try:
            second.sock.settimeout(10)
            reply = second.sock.recv(200)
            assert reply.startswith(b"busy:")
            assert second.sock.recv(200) == b""  # then disconnected
        finally:
            second.close()
    finally:
        first.close()
    # the board is free again for the next one
    r = mpremote(url, "eval", "1")
    assert r.returncode == 0, r.stderr


def test_ctrl_c_stops_main_into_the_friendly_repl(tmp_path):
    (tmp_path / "main.py").write_text(LOOP_MAIN_PY)
    with SimProcess(["--fs", str(tmp_path)]) as sim:
        w = Wire(sim.url)
        try:
            w.until(b"loop 3")
            w.send(b"\x03")
            out = w.until(b">>> ")
            assert b'File "main.py", line 6, in <module>' in out
            assert b"KeyboardInterrupt: \r\n" in out
            assert b"MicroPython v" in out  # the banner, as the ESP32 prints after main.py
            w.send(b"print('n=%d' % n)\r")  # the REPL shares main.py's globals
            assert b"n=" in w.until(b">>> ")
        finally:
            w.close()
        r = mpremote(sim.url, "exec", "print('free')")
        assert r.stdout.strip() == "free"


def test_interactive_repl_through_the_pty(tmp_path):
    with SimProcess(["--pty", "--blank"]) as sim:
        assert sim.url.startswith("/dev/")
        master, slave = pty.openpty()
        p = subprocess.Popen(
            [MPREMOTE, "connect", sim.url, "repl"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        seen = b""

        def read_until(token: bytes, timeout_s: float = 30.0) -> bool:
            nonlocal seen
            deadline = time.monotonic() + timeout_s
            while token not in seen and time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.1)
                if r:
                    try:
                        seen += os.read(master, 4096)
                    except OSError:
                        break
            return token in seen

        try:
            assert read_until(b"Ctrl-]"), seen
            os.write(master, b"\r")
            assert read_until(b">>> "), seen
            os.write(master, b"sum([6, 7, 29])\r")
            assert read_until(b"42\r\n"), seen
            os.write(master, b"\x1d")  # Ctrl-]: leave mpremote
            assert p.wait(timeout=30) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
