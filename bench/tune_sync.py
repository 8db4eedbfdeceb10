"""How the phase-sync loop's gains were chosen: a grid search on SYNTHETIC beat series only.

    .venv/bin/python -m bench.tune_sync            # ~6 min on one core; prints the ranking

Not part of `make bench` (bench/__main__.py runs bench_*.py only). The recordings the loop is
reported on (../shared/data/welltory-ppg, `cocoon eval lock`) are never read here: tuning uses
cocoon_host.eval_lock.synthetic_rr() seeds 0..59 and checks the winner on held-out seeds
1000..1059. The loop runs in-process on CPython (the viper source as plain Python: the same
integers as on the board, tests/firmware/core/test_phasesync_exact.py), starting 20% above the
first beats' rate, beats reported 100 ms late. Objective: pooled RMS light error at beats after
lock; ties broken by the median beats to lock.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))

from cocoon_host import eval_lock as el  # noqa: E402

TUNE_SEEDS = range(60)
CHECK_SEEDS = range(1000, 1060)
GRID = {
    "alpha_q15": (32768,),  # 1.0 (0.5..0.9 lost in every earlier round)
    "beta_q15": (16384, 22938, 27853, 32768),  # 0.5, 0.7, 0.85, 1.0
    "gate_q16": (9830, 13107),  # smallest gate: 0.15, 0.2 beat turns
    "gate_k_q4": (0, 48, 64, 96),  # gate = 3, 4, 6 x the running mean |error| (0: fixed)
    "unlock_n": (2, 3),  # rejections in a row that mean a new rhythm
    "lock_err_q16": (7864,),  # 0.12 beat turns
    "slew_tau_ms": (100,),
}


def score(seeds, settings):
    recs = [(f"syn{s}", el.synthetic_rr(s)) for s in seeds]
    r = el.evaluate(recs, settings, 20.0, 100, runner=el.run_in_process)
    return r["rms_error_ms"], r["median_lock_beats"], r["rmssd_ms"]


def main() -> int:
    results = []
    keys = list(GRID)
    for values in itertools.product(*(GRID[k] for k in keys)):
        settings = dict(zip(keys, values, strict=True))
        err, lock, base = score(TUNE_SEEDS, settings)
        results.append((err, lock, settings))
        print(f"{err:7.2f} ms  lock {lock}  {settings}", flush=True)
    results.sort(key=lambda r: (r[0], r[1]))
    print(f"tuning set RMSSD {base:.2f} ms; best five:")
    for err, lock, settings in results[:5]:
        print(f"  {err:7.2f} ms  lock {lock}  {settings}")
    best = results[0][2]
    err, lock, base = score(CHECK_SEEDS, best)
    print(f"held-out synthetic: rms error {err:.2f} ms vs RMSSD {base:.2f} ms, lock {lock} beats")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
