"""`make demo`: a virtual board, flashed with `cocoon flash`, watched with `cocoon telemetry`.

    python -m cocoon_host.demo               # about 30 s; Ctrl-C stops it at any point
    python -m cocoon_host.demo --seconds 10

Starts `cocoon sim --blank` (a board with only MicroPython on it) on a free port with its
filesystem in a temporary folder, flashes it, shows its live telemetry, then stops the board and
removes the folder, also after Ctrl-C or an error. Every step is the command a user would type.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import CocoonError
from .sim import SimProcess


def _cocoon(args: list[str]) -> int:
    print(f"\n$ cocoon {shlex.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "cocoon_host.cli", *args]).returncode


def demo(seconds: float, baud: int | None) -> int:
    folder = Path(tempfile.mkdtemp(prefix="cocoon-demo-"))
    sim_args = ["--blank", "--fs", str(folder), "--speed", "1"]
    if baud:
        sim_args += ["--baud", str(baud)]
    sim = SimProcess(sim_args)
    try:
        print(f"$ cocoon sim {shlex.join(sim_args)} --listen 0", flush=True)
        sim.start()
        print(f"virtual board up at {sim.url}: a blank ESP32 with only MicroPython on it")
        if _cocoon(["flash", "--port", sim.url]) != 0:
            return 1
        code = _cocoon(["telemetry", "--port", sim.url, "--seconds", f"{seconds:g}"])
        if code == 0:
            print(
                "\nThat was a simulated cocoon. Next: `make test`, `cocoon sim` (keeps running), "
                "and README.md for a real board."
            )
        return code
    except KeyboardInterrupt:
        print("\nstopped", flush=True)
        return 130
    finally:
        sim.stop()
        shutil.rmtree(folder, ignore_errors=True)
        print("the virtual board is stopped and its folder removed", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cocoon_host.demo", description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0, help="how long to watch (default 30)")
    ap.add_argument("--baud", type=int, help="limit the virtual link, e.g. 115200 like a cable")
    args = ap.parse_args(argv)
    try:
        return demo(args.seconds, args.baud)
    except CocoonError as e:
        print(f"demo: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
