"""A whole night on a virtual board: `cocoon night` for 8 h, its speed against real time, and its
stages against the synthetic sleeper's hypnogram (Cohen's kappa; 0 is chance).

    make bench night           # or: .venv/bin/python -m bench night

Speed: the baseline is real time (an 8-h night in 60 s is 480x; the issue's goal). Each night's
wall time counts everything `cocoon night` does (the board's filesystem, the board, the
recording), and the machine is shared, so the load average before each run and the CPU time of
all its processes (the board, its runner, the recorder) are given next to the wall time. A night
is not bit-for-bit repeatable: at --speed max the board's computing time is virtual time too, so
the same seed gives slightly different nights.

The hypnogram's physiology (firmware/ports/sim/hypnogram.py) is calibrated on seed 100 against
walch2019-features' per-stage count means and HR-feature medians (not against any score); nights
are scored on seeds 1-4. (An uncalibrated first version had been scored on seeds 1 and 2:
4-class kappa 0.29-0.36, sleep/wake 0.48-0.72.)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOURS = 8
SEEDS = (1, 2, 3, 4)


def _descendants_cpu_s() -> float:
    """CPU seconds of the finished children of this process (and theirs)."""
    t = os.times()
    return t.children_user + t.children_system


def night(seed: int, alarm_h: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cpu0 = _descendants_cpu_s()
        proc = subprocess.run(
            [
                sys.executable, "-m", "cocoon_host.cli", "night", "--hours", str(HOURS),
                "--scenario", f"synthetic:profile=hypnogram,seed={seed}",
                "--alarm", str(alarm_h), "--json", "--out", str(Path(tmp) / "n.jsonl"),
            ],
            capture_output=True, text=True, cwd=ROOT, timeout=3600,
        )  # fmt: skip
        cpu = _descendants_cpu_s() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip())
    out = json.loads(proc.stdout)
    out["cpu_s"] = cpu
    return out


def run() -> list[str]:
    lines = []
    speed, kappa4, kappa_sw = [], [], []
    for seed in SEEDS:
        load = os.getloadavg()[0]
        t0 = time.monotonic()
        s = night(seed, HOURS - 0.5)
        sc = s["score"]
        w = s["wake"] or {}
        speed.append(s["speedup"])
        kappa4.append(sc["four_class"]["kappa"])
        kappa_sw.append(sc["sleep_wake"]["kappa"])
        lines.append(
            f"seed {seed}: {HOURS} h in {s['wall_s']:.1f} s of wall time = {s['speedup']:.0f}x "
            f"real time (goal: 8 h under 60 s = 480x; light at {s['fps']} fps); CPU of all its "
            f"processes {s['cpu_s']:.0f} s; load average {load:.1f} before it "
            f"({time.monotonic() - t0:.0f} s); {s['epochs']} epochs"
        )
        lines.append(
            f"   vs hypnogram: 4-class kappa {sc['four_class']['kappa']:.3f} "
            f"(accuracy {sc['four_class']['accuracy']:.3f}), 3-class kappa "
            f"{sc['three_class']['kappa']:.3f}, sleep/wake kappa {sc['sleep_wake']['kappa']:.3f}"
        )
        if "reason" in w:
            lines.append(
                f"   smart wake (alarm {w['alarm_h']:g} h, 30-min window): {w['reason']} epoch at "
                f"{w['epoch_h']:.2f} h (true stage {w.get('true_stage')}), full light at "
                f"{w['full_h']:.2f} h"
            )
    lines.append(
        f"all {len(SEEDS)} nights: {min(speed):.0f}-{max(speed):.0f}x real time (median "
        f"{statistics.median(speed):.0f}x = {HOURS * 3600 / statistics.median(speed):.0f} s per "
        f"{HOURS} h); 4-class kappa {statistics.mean(kappa4):.3f} +- "
        f"{statistics.stdev(kappa4):.3f}, sleep/wake {statistics.mean(kappa_sw):.3f} +- "
        f"{statistics.stdev(kappa_sw):.3f} (mean +- SD over the seeds)"
    )
    return lines
