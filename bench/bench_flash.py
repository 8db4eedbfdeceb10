"""How long `cocoon flash` takes over an emulated 115200-baud cable, against plain mpremote.

    .venv/bin/python -m bench flash

One run, one machine: a blank virtual board (`cocoon sim --blank --baud 115200`) is flashed with
`cocoon flash` (first flash), then again with nothing changed (re-flash). The baseline, on a second
blank board at the same baud rate in the same run, is what a user would do by hand with mpremote:
`mpremote cp -r` of the same compiled files (first copy; then the same command again, which hashes
each file and skips it). Both include starting the tool. The firmware's size compiled for the ESP32
(xtensawin) comes last.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cocoon_host import build
from cocoon_host.sim import SimProcess

ROOT = Path(__file__).resolve().parents[1]
BAUD = 115200


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {proc.stdout}{proc.stderr}")
    return time.perf_counter() - t0


def _cocoon_flash(url: str) -> float:
    return _timed([sys.executable, "-m", "cocoon_host.cli", "flash", "--port", url])


def _mpremote_copy(url: str, tree: Path) -> float:
    mpremote = str(Path(sys.executable).parent / "mpremote")
    return _timed([mpremote, "connect", url, "cp", "-r", f"{tree}/fw", f"{tree}/main.py", ":"])


def run() -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench-flash-") as tmp:
        tree = Path(tmp) / "tree"
        (tree / "fw").mkdir(parents=True)
        sim_files = build.build_firmware("sim", build.unix_port_march())
        for name, data in sim_files:
            dest = tree / "fw" / "a" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        (tree / "main.py").write_bytes((ROOT / "firmware" / "main.py").read_bytes())
        size = sum(len(d) for _, d in sim_files)
        with SimProcess(["--blank", "--baud", str(BAUD)]) as sim:
            first = _cocoon_flash(sim.url)
            again = _cocoon_flash(sim.url)
        with SimProcess(["--blank", "--baud", str(BAUD)]) as sim:
            base_first = _mpremote_copy(sim.url, tree)
            base_again = _mpremote_copy(sim.url, tree)
    link_s = size / (BAUD / 10)
    lines.append(f"firmware for the virtual board: {len(sim_files)} files, {size / 1024:.1f} kB")
    lines.append(f"at {BAUD} baud the raw bytes alone take {link_s:.1f} s")
    lines.append(
        f"first flash onto a blank board: cocoon flash {first:.1f} s, mpremote cp -r "
        f"{base_first:.1f} s: ratio {first / base_first:.2f}"
    )
    lines.append(
        f"re-flash, nothing changed: cocoon flash {again:.1f} s, mpremote cp -r "
        f"{base_again:.1f} s: ratio {again / base_again:.2f}"
    )
    lines.append(
        "(cocoon flash also compiles, verifies the slot, resets and waits for HELLO; "
        "mpremote cp only copies)"
    )
    esp = build.build_firmware("esp32", "xtensawin")
    src = sum(p.stat().st_size for p in build.package_sources())
    esp_size = sum(len(d) for _, d in esp)
    lines.append(
        f"firmware for the ESP32 (xtensawin .mpy + board.mpy + pinmap.json): {len(esp)} files, "
        f"{esp_size / 1024:.1f} kB ({esp_size / src:.2f} x the {src / 1024:.1f} kB of package "
        "source)"
    )
    return lines
