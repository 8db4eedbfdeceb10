"""`cocoon eval hr DIR`: heart rate from PPG recordings via the simulated MAX30102 and firmware.

    cocoon eval hr ../shared/data/welltory-ppg
    cocoon eval hr ../shared/data/welltory-ppg --json

Every recording under DIR (a folder with PPG.csv, in the format of `../shared/data/welltory-ppg`;
DIR itself may be one) is replayed by the virtual board's scenario (its pulse channel picked and
scaled into the ADC range, resampled at the chip's rate), sampled by the simulated MAX30102, read
by the firmware's driver and fed to the firmware's beat detector, all ON THE MICROPYTHON UNIX PORT
(one subprocess, JSON lines: host/cocoon_host/hr_runner_mp.py). Per recording:

    reference_bpm   60000 / mean RR interval (RR.txt: RR intervals in ms, space separated)
    estimate_bpm    60000 / mean of the intervals the firmware accepted over the recording, or
                    null when its quality index gave a reading less than half of the time
Summary: mae_bpm (over recordings with both), coverage (share of recordings with an estimate).
Also RMSSD: the firmware's over its accepted successive intervals, the reference's over RR.txt.

How the detector was tuned (its constants in firmware/cocoon/core/beats.py): on synthetic signals
(bench/bench_hr.py) and on the odd-numbered subjects of welltory-ppg only; the even-numbered
subjects were not looked at until the constants were frozen (bench_hr reports them apart).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import CocoonError

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
SIM = FIRMWARE / "ports" / "sim"
RUNNER = Path(__file__).resolve().parent / "hr_runner_mp.py"
TIMEOUT_S = 600.0
TUNING = (
    "detector tuned on synthetic signals and on the odd-numbered subjects of welltory-ppg; "
    "even-numbered subjects held out"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", type=Path, help="folder of recordings (PPG.csv, RR.txt)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def micropython_exe() -> str:
    exe = Path(sys.executable).parent / "micropython"
    if exe.exists():
        return str(exe)
    found = shutil.which("micropython")
    if not found:
        raise CocoonError("the MicroPython unix port is not installed", "run `make setup`")
    return found


def find_recordings(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise CocoonError(
            f"{directory} is not a folder",
            "give a folder of recordings in the format of ../shared/data/welltory-ppg",
        )
    if (directory / "PPG.csv").is_file():
        return [directory]
    found = sorted(p for p in directory.iterdir() if (p / "PPG.csv").is_file())
    if not found:
        raise CocoonError(
            f"no recordings in {directory}",
            "each recording is a folder with PPG.csv (time,R,G,B) and RR.txt",
        )
    return found


def read_rr(folder: Path) -> list[float] | None:
    """RR intervals (ms) of a recording, or None when RR.txt is missing or unusable."""
    try:
        rr = [float(v) for v in (folder / "RR.txt").read_text().split()]
    except (OSError, ValueError):
        return None
    rr = [v for v in rr if 200.0 <= v <= 3000.0]  # 20-300 bpm: anything else is not a heartbeat
    return rr if len(rr) >= 2 else None


def rmssd(rr: list[float]) -> float:
    d = [(rr[i + 1] - rr[i]) ** 2 for i in range(len(rr) - 1)]
    return math.sqrt(sum(d) / len(d))


def run_firmware(
    folders: list[Path], timeout_s: float = TIMEOUT_S, options: tuple[str, ...] = ()
) -> dict[str, dict]:
    """Run the recordings through the firmware on the unix port; results by absolute path.
    options: runner flags (--samples, --beats)."""
    env = dict(os.environ)
    env["MICROPYPATH"] = f"{FIRMWARE}:{SIM}"
    cmd = [micropython_exe(), "-X", "heapsize=64M", str(RUNNER), *options]
    try:
        proc = subprocess.run(
            cmd + [str(f.resolve()) for f in folders],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        raise CocoonError(
            f"the firmware did not finish in {timeout_s:.0f} s", "try fewer recordings"
        ) from None
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or not lines or json.loads(lines[-1]) != {"done": True}:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CocoonError(f"the firmware failed on the MicroPython unix port: {last}", "")
    out = {}
    for line in lines[:-1]:
        d = json.loads(line)
        out[d["path"]] = d
    return out


def evaluate(directory: Path, results: dict[str, dict] | None = None) -> dict:
    folders = find_recordings(directory)
    if results is None:
        results = run_firmware(folders)
    recordings = []
    errors = []
    for folder in folders:
        r = results.get(str(folder.resolve()))
        if r is None:
            raise CocoonError(f"the firmware returned nothing for {folder.name}", "")
        rr = read_rr(folder)
        ref = 60000.0 / (sum(rr) / len(rr)) if rr else None
        est = None
        if "error" not in r and r["beats"] and r["ibi_sum_ms"]:
            est = 60000.0 * r["beats"] / r["ibi_sum_ms"]
        rec = {
            "name": folder.name,
            "reference_bpm": _round(ref),
            "estimate_bpm": _round(est),
            "error_bpm": _round(est - ref) if est is not None and ref is not None else None,
            "reading_pct": r.get("reading_pct"),
            "intervals": r.get("beats"),
            "rmssd_ms": r.get("rmssd_ms") or None,
            "reference_rmssd_ms": _round(rmssd(rr), 1) if rr else None,
            "channel": r.get("channel"),
        }
        if "error" in r:
            rec["error"] = r["error"]
            errors.append(f"{folder.name}: {r['error']}")
        if ref is None:
            rec["error"] = "no usable RR.txt: no reference"
        recordings.append(rec)
    scored = [r for r in recordings if r["reference_bpm"] is not None]
    if not scored:
        raise CocoonError(
            f"no recording in {directory} has a usable RR.txt",
            "RR.txt holds the reference RR intervals in ms, space separated",
        )
    errs = [abs(r["error_bpm"]) for r in scored if r["error_bpm"] is not None]
    return {
        "recordings": recordings,
        "mae_bpm": _round(sum(errs) / len(errs)) if errs else None,
        "coverage": round(len(errs) / len(scored), 4),
        "scored": len(scored),
        "tuning": TUNING,
    }


def _round(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(v, nd)


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_table(res: dict) -> None:
    print(f"{'recording':<14}{'ref bpm':>9}{'est bpm':>9}{'error':>8}{'reading':>9}"
          f"{'RMSSD':>7}{'ref':>6}  channel")  # fmt: skip
    for r in res["recordings"]:
        line = (
            f"{r['name']:<14}{_fmt(r['reference_bpm'], '.2f'):>9}"
            f"{_fmt(r['estimate_bpm'], '.2f'):>9}{_fmt(r['error_bpm'], '+.2f'):>8}"
            f"{_fmt(r['reading_pct'], 'd') + '%':>9}{_fmt(r['rmssd_ms'], 'd'):>7}"
            f"{_fmt(r['reference_rmssd_ms'], '.0f'):>6}  {r['channel'] or ''}"
        )
        if "error" in r:
            line += f"  ({r['error']})"
        print(line)
    n_est = round(res["coverage"] * res["scored"])
    mae = _fmt(res["mae_bpm"], ".2f")
    print(
        f"MAE {mae} bpm over {n_est} of {res['scored']} recordings "
        f"(coverage {res['coverage']:.0%}); {res['tuning']}"
    )


def run(args: argparse.Namespace) -> int:
    res = evaluate(Path(args.dir))
    if args.json:
        print(json.dumps(res))
    else:
        print_table(res)
    return 0
