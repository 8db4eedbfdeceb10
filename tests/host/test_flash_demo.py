"""`make demo` (python -m cocoon_host.demo): flashes a blank virtual board, shows telemetry, and
cleans up after Ctrl-C: no process left, no temporary folder left."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def test_demo_flashes_shows_telemetry_and_cleans_up_after_ctrl_c():
    p = subprocess.Popen(
        [sys.executable, "-m", "cocoon_host.demo", "--seconds", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    out = b""
    try:
        deadline = time.monotonic() + 120
        assert p.stdout is not None
        os.set_blocking(p.stdout.fileno(), False)
        while time.monotonic() < deadline and b" STATE " not in out:
            chunk = p.stdout.read()
            if chunk:
                out += chunk
            elif p.poll() is not None:
                break
            time.sleep(0.1)
        assert b" STATE " in out, out.decode(errors="replace")
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
        rest, _ = p.communicate(timeout=60)
        out += rest or b""
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    text = out.decode(errors="replace")
    assert "HELLO from the board: firmware 0.1.0" in text
    assert "the virtual board is stopped and its folder removed" in text
    assert "Traceback" not in text
    sim_line = next(line for line in text.splitlines() if line.startswith("$ cocoon sim "))
    args = shlex.split(sim_line)
    folder = args[args.index("--fs") + 1]
    assert not Path(folder).exists()
    time.sleep(0.5)
    assert processes_mentioning(folder) == []
