"""telemetry.Link reads socket:// in blocks, and loses nothing when the board hangs up.

pyserial's socket:// answers `in_waiting` with 0 or 1 (a select), so a reader that trusts it reads
one byte per call; Link waits for a first byte and then drains what is there.
"""

from __future__ import annotations

import socket
import threading
import time

from cocoon import proto
from cocoon_host import telemetry


class Burst:
    """A TCP board that sends `data` in one go as soon as a client connects, then hangs up after
    `hold_s` (0: at once)."""

    def __init__(self, data: bytes, hold_s: float):
        self.data = data
        self.hold_s = hold_s
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(10)
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            time.sleep(0.2)  # the client's first read is waiting by now
            conn.sendall(self.data)
            time.sleep(self.hold_s)

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.sock.close()


def state_frames(n: int) -> bytes:
    return b"".join(
        proto.encode(proto.STATE, i, 1000 * i, {"up_s": i, "hr": 60.5, "q": 91, "act": 3})
        for i in range(n)
    )


def read_until_lost(link: telemetry.Link, limit_s: float = 10.0) -> bytes:
    got = b""
    end = time.monotonic() + limit_s
    while link.up and time.monotonic() < end:
        got += link.read()
    return got


def test_a_burst_is_read_in_blocks_not_bytes():
    data = state_frames(300)
    board = Burst(data, hold_s=1.0)
    statuses: list[str] = []
    link = telemetry.Link(board.url, 115200, lambda kind, msg: statuses.append(kind))
    try:
        link.open()
        got = b""
        end = time.monotonic() + 10
        while len(got) < len(data) and time.monotonic() < end:
            got += link.read()
    finally:
        link.close()
        board.close()
    assert got == data
    assert len(data) > 4 * telemetry.READ_BLOCK  # the burst spans several blocks
    # one call per byte would be len(data) calls; blocks of up to READ_BLOCK bytes need a few
    assert link.reads <= len(data) // 100, (link.reads, len(data))
    parser = proto.Parser()
    assert len(parser.feed(got)) == 300 and parser.damaged == 0


def test_frames_sent_just_before_a_hang_up_are_kept():
    data = state_frames(40)
    board = Burst(data, hold_s=0.0)  # closes right after its last byte
    statuses: list[str] = []
    link = telemetry.Link(board.url, 115200, lambda kind, msg: statuses.append(kind))
    try:
        link.open()
        got = read_until_lost(link)
    finally:
        link.close()
        board.close()
    assert statuses[:2] == ["connected", "lost"]  # the hang-up is still seen, after the data
    assert got == data
    assert len(proto.Parser().feed(got)) == 40
