"""`cocoon sim` as a process: its options, its life cycle, bad input, and the sim board's parts.

Every board here is a real `cocoon sim` subprocess (SimProcess ends it, always); the checks go
through real mpremote, a raw TCP client, or the files the board writes into its --fs folder.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from cocoon_host.sim import SimProcess
from cocoon_host.sim_runner import ROOT

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
SIM = [sys.executable, "-m", "cocoon_host.cli", "sim"]


def mpremote(url: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MPREMOTE, "connect", url, *args], capture_output=True, text=True, timeout=timeout
    )


def run_sim(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SIM, *args], capture_output=True, text=True, timeout=timeout, cwd=str(ROOT)
    )


def wait_for(cond, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def one_clear_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stdout == ""  # no URL: nothing to connect to
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr
    return err[0]


def test_listen_port_taken_is_one_clear_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        line = one_clear_line(run_sim("--listen", str(port), "--blank"))
    assert f"port {port}" in line and "already in use" in line
    assert "--listen" in line  # what to do


def test_bad_options_are_one_clear_line(tmp_path):
    assert "--speed" in one_clear_line(run_sim("--blank", "--listen", "0", "--speed", "fast"))
    assert "--baud" in one_clear_line(run_sim("--blank", "--listen", "0", "--baud", "0"))
    (tmp_path / "f").write_text("x")
    assert "is a file" in one_clear_line(run_sim("--listen", "0", "--fs", str(tmp_path / "f")))


def test_a_bad_scenario_is_one_clear_line():
    line = one_clear_line(run_sim("--blank", "--listen", "0", "--scenario", "no-such-sleeper"))
    assert "could not start" in line and "no-such-sleeper" in line


def test_blank_board_has_an_empty_filesystem_and_the_heap_asked_for(tmp_path):
    with SimProcess(["--blank", "--heap-kb", "256"]) as sim:
        r = mpremote(
            sim.url,
            "exec",
            "import os, gc; gc.collect()\n"
            "print(sorted(os.listdir('/')), gc.mem_free() + gc.mem_alloc())",
        )
    assert r.returncode == 0, r.stderr
    listing, heap = r.stdout.rsplit(" ", 1)
    assert listing == "[]"
    assert 200 * 1024 < int(heap) <= 256 * 1024


def test_default_board_holds_the_repository_firmware():
    with SimProcess(["--scenario", "none"]) as sim:
        r = mpremote(
            sim.url,
            "exec",
            "import os; print(sorted(os.listdir('/')), open('/fw/active').read(), "
            "'app.mpy' in os.listdir('/fw/a/cocoon'))",
        )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['boot.py', 'fw', 'main.py'] a True"


def test_sigterm_ends_the_board_and_leaves_no_process():
    sim = SimProcess(["--blank"]).start()
    pid = sim.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert children and all(_board_running(c) for c in children)
    err = sim.stop()
    assert "stopped (SIGTERM)" in err
    folder = re.search(r"filesystem (\S+) \(temporary\)", err).group(1)
    assert not Path(folder).exists()  # the temporary filesystem is removed
    for child in children:
        assert not _board_running(child)


def _board_running(pid: str) -> bool:
    """Is this pid (still) a virtual board's interpreter, alive? (pids may be reused)"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
    except OSError:
        return False
    return b"supervisor.py" in cmdline and state != "Z"


def test_until_stops_by_itself_at_that_virtual_time(tmp_path):
    (tmp_path / "main.py").write_text(
        "import time\nwhile True:\n"
        "    with open('/t_ms', 'w') as f:\n        f.write(str(time.ticks_ms()))\n"
        "    time.sleep(1)\n"
    )
    r = run_sim("--listen", "0", "--fs", str(tmp_path), "--speed", "max", "--until", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("socket://127.0.0.1:")
    assert "stopped (until)" in r.stderr
    last_ms = int((tmp_path / "t_ms").read_text())
    assert 4000 <= last_ms <= 5000  # written at 0, 1, ... 4 s of virtual time


def test_record_leds_writes_every_frame_as_csv(tmp_path):
    (tmp_path / "main.py").write_text(
        "import board\nb = board.build()\ni = 0\nwhile True:\n"
        "    b.strip.show(bytes([i % 256, 2, 3] * b.strip.n))\n"
        "    i += 1\n    b.clock.sleep_ms(100)\n"
    )
    out = tmp_path / "leds.csv"
    r = run_sim(
        "--listen", "0", "--fs", str(tmp_path), "--speed", "max", "--until", "2",
        "--leds", "4", "--record-leds", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["t_ms"] + [f"{c}{i}" for i in range(4) for c in "rgb"]
    frames = [list(map(int, row)) for row in rows[1:]]
    assert 15 <= len(frames) <= 21  # one every 100 ms of virtual time, for 2 s
    assert [f[1] for f in frames] == list(range(len(frames)))
    assert all(f[1:] == [f[1], 2, 3] * 4 for f in frames)
    steps = [b[0] - a[0] for a, b in zip(frames, frames[1:], strict=False)]
    assert all(100 <= s <= 150 for s in steps), steps


def test_two_boards_at_once_share_a_virtual_radio():
    channel = "test-" + uuid.uuid4().hex[:8]
    with (
        SimProcess(["--blank", "--id", "1", "--radio", channel]) as a,
        SimProcess(["--blank", "--id", "2", "--radio", channel]) as b,
    ):
        assert a.url != b.url
        ids = [
            mpremote(s.url, "exec", "import machine; print(machine.unique_id().hex())").stdout
            for s in (a, b)
        ]
        assert [i.strip() for i in ids] == ["02cc00000001", "02cc00000002"]
        # b's interpreter now listens (and `resume` below keeps it: no soft reset)
        r = mpremote(a.url, "exec", "import board; print(board.build().radio.send(b'hello'))")
        assert r.stdout.strip() == "True", r.stderr
        r = mpremote(
            b.url,
            "resume",
            "exec",
            "import board, time\nr = board.build().radio\nbuf = bytearray(64)\nn = 0\n"
            "for _ in range(100):\n    n = r.recv_into(buf)\n    if n:\n        break\n"
            "    time.sleep_ms(20)\nprint(bytes(buf[:n]), r.last_mac.hex())",
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "b'hello' 02cc00000001"


def test_the_watchdog_resets_a_board_that_stops_feeding_it(tmp_path):
    (tmp_path / "main.py").write_text(
        "import board, machine\n"
        "with open('/causes', 'a') as f:\n    f.write('%d\\n' % machine.reset_cause())\n"
        "b = board.build()\n"
        "if machine.reset_cause() != machine.WDT_RESET:\n"
        "    b.wdt.feed()\n    while True:\n        b.clock.sleep_ms(100)\n"
    )
    with SimProcess(["--fs", str(tmp_path), "--speed", "max", "--wdt-ms", "500"]):
        causes = tmp_path / "causes"
        assert wait_for(lambda: causes.exists() and len(causes.read_text().split()) >= 2)
    assert causes.read_text().split()[:2] == ["1", "3"]  # PWRON_RESET, then WDT_RESET


def test_ticks_wrap_at_2_to_the_30_like_the_esp32():
    with SimProcess(["--blank", "--speed", "max", "--ticks-offset-ms", str(2**30 - 500)]) as sim:
        r = mpremote(
            sim.url,
            "exec",
            "import time\na = time.ticks_ms()\ntime.sleep_ms(2000)\nb = time.ticks_ms()\n"
            "print(a, b, time.ticks_diff(b, a), time.ticks_add(a, 2000) - b)",
        )
    assert r.returncode == 0, r.stderr
    a, b, diff, rest = map(int, r.stdout.split())
    assert a > 2**30 - 500 and b < 2000  # wrapped
    assert 2000 <= diff < 2500
    assert rest <= 0


def test_a_slow_link_still_carries_every_byte():
    with SimProcess(["--blank", "--baud", "19200"]) as sim:
        r = mpremote(sim.url, "exec", "print(''.join(chr(48 + i % 70) for i in range(1500)))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "".join(chr(48 + i % 70) for i in range(1500))


def test_the_runner_dying_takes_the_board_with_it():
    sim = SimProcess(["--blank"]).start()
    pid = sim.proc.pid
    child = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0]
    assert _board_running(child)
    os.kill(pid, signal.SIGKILL)  # no chance to clean up: the board must still go
    sim.stop()
    assert wait_for(lambda: not _board_running(child), 10)
