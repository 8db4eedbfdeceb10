"""Link throughput of the virtual board (`cocoon sim --baud N`) against what N baud can carry.

    .venv/bin/python -m bench link
    run() -> report lines

The baseline of each figure is the line's own limit, N/10 bytes per second (8N1: 10 bits a byte).
Three transfers per link speed, each on a fresh `cocoon sim --blank` subprocess:
- board -> host: the raw REPL runs code that writes a stream to stdout; bytes over time from the
  `OK` to the final `>`;
- host -> board: one raw-paste block (a long comment) with the board's flow control, as mpremote
  sends code; bytes over time until the board acknowledges the end;
- `mpremote fs cp` of a 20 kB file of random bytes: the file's bytes over the command's wall time
  (mpremote's start-up, soft reset, one raw-paste block per 256 bytes of repr() text), and the
  bytes the link carried (both ways, from the sim's own count) over the same time.
Unlimited: the same transfers without --baud, given as multiples of the 921600-baud limit.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cocoon_host.sim import SimProcess

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
BAUDS = (115200, 921600, None)
CP_BYTES = 20_000


class Wire:
    def __init__(self, url: str):
        host, port = url.removeprefix("socket://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def read_until(self, token: bytes, timeout_s: float = 120.0) -> bytes:
        deadline = time.monotonic() + timeout_s
        while token not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {token!r} from the board")
            r, _, _ = select.select([self.sock], [], [], 0.5)
            if r:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the board hung up")
                self.buf += chunk
        i = self.buf.index(token) + len(token)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def raw_repl(self) -> None:
        self.sock.sendall(b"\r\x03\r\x01")
        self.read_until(b"raw REPL; CTRL-B to exit\r\n>")

    def close(self) -> None:
        self.sock.close()


def download_bps(url: str, n_bytes: int) -> float:
    """Board -> host: a stream written by code in the raw REPL."""
    w = Wire(url)
    try:
        w.raw_repl()
        lines = n_bytes // 100
        code = b"import sys\nw = sys.stdout.write\ns = 'x' * 99 + '\\n'\n"
        code += b"for i in range(%d):\n w(s)\n"
        w.sock.sendall(code % lines + b"\x04")
        w.read_until(b"OK")
        t0 = time.perf_counter()
        got = len(w.read_until(b"\x04\x04>"))
        return got / (time.perf_counter() - t0)
    finally:
        w.close()


def upload_bps(url: str, n_bytes: int) -> float:
    """Host -> board: one raw-paste block, sent window by window as the board allows."""
    w = Wire(url)
    try:
        w.raw_repl()
        data = b"#" + b"x" * (n_bytes - 2) + b"\n"
        t0 = time.perf_counter()
        w.sock.sendall(b"\x05A\x01")
        w.read_until(b"R\x01")
        head = w.read_until(b"\x01")
        window = int.from_bytes(head[:2], "little")
        credit = 2 * window  # the size announces one window, the \x01 after it one more
        i = 0
        w.sock.setblocking(True)
        while i < len(data):
            while credit == 0 or w.buf:
                if not w.buf:
                    w.buf += w.sock.recv(4096)
                c, w.buf = w.buf[:1], w.buf[1:]
                if c == b"\x01":
                    credit += window
            n = min(credit, len(data) - i)
            w.sock.sendall(data[i : i + n])
            credit -= n
            i += n
        w.sock.sendall(b"\x04")
        w.read_until(b"\x04")
        elapsed = time.perf_counter() - t0
        w.read_until(b">")
        return len(data) / elapsed
    finally:
        w.close()


def mpremote_cp(url: str, path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [MPREMOTE, "connect", url, "fs", "cp", str(path), ":blob.bin"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - t0


def _link_bytes(stderr: str) -> int:
    m = re.search(r"(\d+) bytes to the host, (\d+) from it", stderr)
    return int(m.group(1)) + int(m.group(2)) if m else 0


def run() -> list[str]:
    out = []
    limit_921600 = 921600 / 10
    with tempfile.TemporaryDirectory() as tmp:
        blob = Path(tmp) / "blob.bin"
        blob.write_bytes(os.urandom(CP_BYTES))
        for baud in BAUDS:
            args = ["--blank"] + (["--baud", str(baud)] if baud else [])
            limit = baud / 10 if baud else limit_921600
            # sizes that take a second or two at the limit
            n = int(min(limit, 2_000_000) * 1.5) if baud else 2_000_000
            with SimProcess(args) as sim:
                down = download_bps(sim.url, n)
                up = upload_bps(sim.url, min(n, 400_000))
            sim_cp = SimProcess(args)
            with sim_cp:
                cp_s = mpremote_cp(sim_cp.url, blob)
            wire = _link_bytes(sim_cp.stderr)
            name = f"--baud {baud}" if baud else "unlimited"
            ref = "of N/10" if baud else "x the 921600-baud limit"
            out.append(
                f"{name:>14}: board->host {down / 1000:8.1f} kB/s = {down / limit:5.2f} {ref}; "
                f"host->board {up / 1000:8.1f} kB/s = {up / limit:5.2f} {ref}"
            )
            out.append(
                f"{'':>14}  mpremote fs cp {CP_BYTES // 1000} kB: {cp_s:5.2f} s, file "
                f"{CP_BYTES / cp_s / 1000:6.1f} kB/s = {CP_BYTES / cp_s / limit:5.3f} {ref}; "
                f"link carried {wire / 1000:6.1f} kB = {wire / cp_s / limit:5.2f} {ref}"
            )
    return out
