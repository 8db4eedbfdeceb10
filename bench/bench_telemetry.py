"""The host's telemetry reader (cocoon_host.telemetry.Link + cocoon.proto.Parser): how many frames
per second it takes from a socket:// board, and whether `cocoon telemetry` keeps up with a virtual
board at 10x real time.

    make bench telemetry       # or: .venv/bin/python -m bench telemetry

Throughput: a local TCP server sends STATE frames as fast as the socket takes them (the frames of
a recorded virtual night, the firmware's own: ~0.9 kB each with the radio fields), and the reader
under test reads and parses them. Baseline, measured in the same run on the same frames: the
previous reader, `read(max(1, in_waiting))`, which on socket:// reads one byte per call (pyserial
answers in_waiting with 0 or 1 there). Best of 3 runs each (the machine is shared).
Keeping up: `cocoon sim --speed 10` and `cocoon telemetry --plain --seconds 10` on it: the board's
uptime of the frames against the host's clock, at the start and at the end (a growing gap is
lag), and the frames received against the 10 per second the board sends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from cocoon import proto
from cocoon_host import telemetry
from cocoon_host.sim import SimProcess

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 20000


def sample_frames(n: int) -> bytes:
    """n STATE frames like the firmware's (payload of a real one, recorded by cocoon night)."""
    with SimProcess(["--speed", "max", "--until", "30", "--scenario", "synthetic"]) as sim:
        host, _, port = sim.url.removeprefix("socket://").rpartition(":")
        conn = socket.create_connection((host, int(port)), timeout=10)
        parser = proto.Parser()
        payload = None
        conn.settimeout(20)
        while payload is None:
            data = conn.recv(65536)
            if not data:
                break
            for f in parser.feed(data):
                if f.type == proto.STATE:
                    payload = f.payload
        conn.close()
    if payload is None:
        raise RuntimeError("the virtual board sent no STATE frame")
    log = b"log line between frames\r\n"
    return b"".join(
        log * (i % 7 == 0) + proto.encode(proto.STATE, i, 1000 * i, payload) for i in range(n)
    )


class OneByteLink(telemetry.Link):
    """The reader before: as many bytes as in_waiting says (on socket://: one)."""

    def _read_block(self, ser):  # type: ignore[override]
        return ser.read(max(1, ser.in_waiting))


def throughput(link_cls: type[telemetry.Link], data: bytes, frames: int) -> tuple[float, int]:
    """(frames per second parsed, reads) for one transfer of `data`."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn, contextlib.suppress(OSError):  # the reader hangs up when it has enough
            time.sleep(0.3)  # pyserial empties the socket while it opens: send after that
            conn.sendall(data)
            time.sleep(60)  # hold the line: the reader stops when it has every frame

    threading.Thread(target=serve, daemon=True).start()
    link = link_cls(f"socket://127.0.0.1:{srv.getsockname()[1]}", 115200, lambda k, m: None)
    parser = proto.Parser()
    link.open()
    time.sleep(0.2)
    t0 = time.perf_counter()
    got = 0
    try:
        while got < frames and time.perf_counter() - t0 < 120:
            got += len(parser.feed(link.read()))
        dt = time.perf_counter() - t0
    finally:
        link.close()
        srv.close()
    if got < frames:
        raise RuntimeError(f"{link_cls.__name__} parsed {got} of {frames} frames in 120 s")
    return got / dt, link.reads


def keeps_up() -> dict:
    with SimProcess(["--speed", "10", "--scenario", "synthetic"]) as sim:
        proc = subprocess.run(
            [sys.executable, "-m", "cocoon_host.cli", "telemetry", "--plain", "--seconds", "10",
             "--port", sim.url],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip())
    recs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    states = [r for r in recs if r["type"] == "STATE"]
    if len(states) < 20:
        raise RuntimeError(f"only {len(states)} STATE frames in 10 s")
    # gap = host seconds - board seconds / 10: constant when the reader keeps up
    gaps = [r["t"] - r["uptime_ms"] / 1000 / 10 for r in states]
    k = max(1, len(gaps) // 10)
    head, tail = sorted(gaps[:k]), sorted(gaps[-k:])
    return {
        "states": len(states),
        "span_s": states[-1]["t"] - states[0]["t"],
        "lag_growth_s": tail[len(tail) // 2] - head[len(head) // 2],
    }


def run() -> list[str]:
    data = sample_frames(FRAMES)
    new = max(throughput(telemetry.Link, data, FRAMES) for _ in range(3))
    old = max(throughput(OneByteLink, data, FRAMES // 20) for _ in range(3))
    lines = [
        f"socket:// reader: {new[0]:,.0f} frames/s parsed ({new[0] * len(data) / FRAMES / 1e6:.1f}"
        f" MB/s, {len(data) / new[1] / 1024:.0f} kB per read) against {old[0]:,.0f} frames/s for"
        f" the one-byte reader (baseline, same run): {new[0] / old[0]:.0f}x",
    ]
    k = keeps_up()
    lines.append(
        f"cocoon telemetry --plain on cocoon sim --speed 10: {k['states']} STATE frames in"
        f" {k['span_s']:.1f} s (the board sends 10/s); lag growth over the run"
        f" {k['lag_growth_s'] * 1000:+.0f} ms (0 = keeps up)"
    )
    return lines
