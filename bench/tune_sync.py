"""How the phase-sync loop's settings were chosen: a search on synthetic beats and odd subjects.

    .venv/bin/python -m bench.tune_sync            # a few minutes on one core; prints each step

Not part of `make bench` (bench/__main__.py runs bench_*.py only). The split: the loop may be
tuned on cocoon_host.eval_lock.synthetic_rr() seeds 0..59 and on the odd-numbered recordings of
../shared/data/welltory-ppg (subject_01, 03, ...). The even-numbered recordings are the held-out
set: this file never reads them, and `cocoon eval lock --subjects even` reports on them. The
winner is also checked on held-out synthetic seeds 1000..1059.

The loop runs in-process on CPython (the viper source as plain Python: the same integers as on the
board, tests/firmware/core/test_phasesync_exact.py), from the resting rate, beats reported 100 ms
late, as `cocoon eval lock` does. Score: the mean over the two tuning sets of (pooled RMS light
error at beats after lock) / (pooled RMSSD): below 1 beats "the next beat comes one interval after
the last". The search is coordinate descent: one setting at a time over its candidate values,
keeping any that lowers the score, until a whole round changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from cocoon_host import eval_lock as el  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "welltory-ppg"
TUNE_SEEDS = range(60)
CHECK_SEEDS = range(1000, 1060)
START = {  # the search starts here (the firmware's defaults when this was last run)
    "predict_order": 6,
    "predict_mu_q8": 40,
    "predict_reg_ms": 40,
    "predict_mean_sh": 3,
    "predict_w0_q12": 2048,
    "gate_k_q4": 96,
    "gate_q16": 9830,
    "alpha_q15": 32768,
    "unlock_n": 3,
}
CANDIDATES = {
    "predict_order": (1, 2, 3, 4, 5, 6),
    "predict_mu_q8": (8, 16, 24, 31, 40, 48, 64, 96),
    "predict_reg_ms": (10, 20, 30, 40, 60, 80, 120),
    "predict_mean_sh": (2, 3, 4, 5, 6),
    "predict_w0_q12": (0, 1024, 2048, 2867, 3686, 4096),
    "gate_k_q4": (64, 80, 96, 112, 128, 160),
    "gate_q16": (6554, 9830, 13107, 19661),
    "alpha_q15": (16384, 24576, 28672, 32768),
    "unlock_n": (2, 3, 4),
}


def tuning_sets() -> dict[str, list[tuple[str, list[float]]]]:
    sets = {"synthetic": [(f"syn{s}", el.synthetic_rr(s)) for s in TUNE_SEEDS]}
    if DATA.is_dir():
        odd = el.select_subjects(el.find_recordings(DATA), "odd")
        sets["odd subjects"] = [(name, el.read_rr(path)) for name, path in odd]
    return sets


def figures(recs, settings, offset_pct=None) -> dict:
    return el.evaluate(recs, settings, offset_pct, 100, runner=el.run_in_process)


def score(sets, settings) -> tuple[float, list[str]]:
    ratios, notes = [], []
    for label, recs in sets.items():
        r = figures(recs, settings)
        ratios.append(r["rms_error_ms"] / r["rmssd_ms"])
        notes.append(
            f"{label} {r['rms_error_ms']:.1f}/{r['rmssd_ms']:.1f} ms lock {r['median_lock_beats']}"
        )
    return sum(ratios) / len(ratios), notes


def main() -> int:
    sets = tuning_sets()
    print("tuning sets: " + ", ".join(f"{k} ({len(v)})" for k, v in sets.items()), flush=True)
    best = dict(START)
    best_score, notes = score(sets, best)
    print(f"start {best_score:.4f}  {'; '.join(notes)}", flush=True)
    for rnd in range(1, 5):
        changed = False
        for key, values in CANDIDATES.items():
            for v in values:
                if v == best[key]:
                    continue
                trial = dict(best, **{key: v})
                s, notes = score(sets, trial)
                if s < best_score - 1e-4:
                    best, best_score, changed = trial, s, True
                    print(f"  round {rnd}: {key}={v} -> {s:.4f}  {'; '.join(notes)}", flush=True)
        if not changed:
            break
    print(f"best {best_score:.4f}: {best}")
    for label, recs in sets.items():
        for off in (None, 20.0, -20.0):
            r = figures(recs, best, off)
            print(
                f"  {label}, start {'rest' if off is None else f'{off:+.0f}%'}: RMS error "
                f"{r['rms_error_ms']} ms vs RMSSD {r['rmssd_ms']} ms, median lock "
                f"{r['median_lock_beats']}, max step {r['max_step_turns']:.4f}"
            )
    check = [(f"syn{s}", el.synthetic_rr(s)) for s in CHECK_SEEDS]
    r = figures(check, best, 20.0)
    print(
        f"held-out synthetic (+20%): RMS error {r['rms_error_ms']} ms vs RMSSD "
        f"{r['rmssd_ms']} ms, median lock {r['median_lock_beats']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
