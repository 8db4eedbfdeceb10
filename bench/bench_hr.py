"""Heart rate from PPG: the firmware's streaming fixed-point detector against HeartPy; speed.

    make bench hr            # or: .venv/bin/python -m bench hr

Accuracy, on ../shared/data/welltory-ppg: every recording goes through the virtual board's replay
scenario, the simulated MAX30102 and the firmware's driver, on the MicroPython unix port (the same
run as `cocoon eval hr`). The firmware's beat detector reads those samples as they stream in;
HeartPy 1.2.7 (van Gent et al. 2019, a widely used offline PPG toolkit in float64) gets the very
same IR samples at once, as a whole recording: inverted (HeartPy looks for peaks of blood volume),
band-passed 0.7-3.5 Hz (its own filter_signal, as its PPG examples do), scaled, then hp.process
with its defaults. Per recording both are compared with the reference 60000 / mean RR (RR.txt),
as mean (and median) absolute error in bpm over the recordings each gives an estimate for, and
coverage (share of recordings with an estimate; HeartPy has none when it raises on a bad signal).
The firmware's detector was tuned on synthetic signals and on the odd-numbered subjects only
(01, 03, 07, 11, 13, 19, 21); its figures are given for all 14, for the held-out even-numbered
subjects and for the odd ones. HeartPy was not tuned at all.

Speed: samples processed per second on the unix port, as a ratio to real time (100 samples/s):
the detector alone, and the whole simulated chain (scenario, chip, bus, driver, detector), both
measured in this run over all 14 recordings; HeartPy's samples per second on CPython for scale.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path

from cocoon_host import eval_hr

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "welltory-ppg"


def subject_number(name: str) -> int | None:
    digits = "".join(c for c in name if c.isdigit())
    return int(digits) if digits else None


def heartpy_bpm(ir: list[int], rate_hz: float) -> float | None:
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartpy 1.2.7 imports the deprecated pkg_resources
        import heartpy as hp

    data = -np.asarray(ir, dtype=float)
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            filtered = hp.filter_signal(
                data, cutoff=[0.7, 3.5], sample_rate=rate_hz, order=3, filtertype="bandpass"
            )
            wd, m = hp.process(hp.scale_data(filtered), sample_rate=rate_hz)
    except Exception:  # HeartPy raises BadSignalWarning (and others) on what it cannot read
        return None
    rr = np.asarray(wd.get("RR_list_cor", []), dtype=float)
    if rr.size == 0 or not math.isfinite(float(m.get("bpm", float("nan")))):
        return None
    return 60000.0 / float(rr.mean())


def mae(pairs: list[tuple[float | None, float]]) -> tuple[float | None, float | None, float]:
    """(mean, median absolute error, coverage)."""
    errs = sorted(abs(e - r) for e, r in pairs if e is not None)
    if not errs:
        return None, None, 0.0
    mid = len(errs) // 2
    median = errs[mid] if len(errs) % 2 else (errs[mid - 1] + errs[mid]) / 2
    return sum(errs) / len(errs), median, len(errs) / len(pairs)


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def run() -> list[str]:
    if not DATA.is_dir():
        return [f"skipped: {DATA.relative_to(ROOT.parent)} is not next to this checkout"]
    folders = eval_hr.find_recordings(DATA)
    results = eval_hr.run_firmware(folders, options=("--samples",))
    res = eval_hr.evaluate(DATA, results)
    rows = []
    det_us = chain_us = samples = 0
    hp_s = 0.0
    for folder, rec in zip(folders, res["recordings"], strict=True):
        r = results[str(folder.resolve())]
        det_us += r["detector_us"]
        chain_us += r["chain_us"]
        samples += r["samples"]
        rate_hz = 1e6 / r["period_us"]
        t0 = time.perf_counter()
        hp_est = heartpy_bpm(r["ir"], rate_hz)
        hp_s += time.perf_counter() - t0
        rows.append((rec["name"], rec["reference_bpm"], rec["estimate_bpm"], hp_est))

    lines = [f"{'recording':<12}{'ref':>8}{'firmware':>10}{'HeartPy':>9}"]
    for name, ref, fw, hp_est in rows:
        lines.append(f"{name:<12}{fmt(ref):>8}{fmt(fw):>10}{fmt(hp_est):>9}")

    def summary(label: str, keep) -> str:
        sel = [row for row in rows if keep(subject_number(row[0]))]
        fw_mae, fw_med, fw_cov = mae([(row[2], row[1]) for row in sel])
        hp_mae, hp_med, hp_cov = mae([(row[3], row[1]) for row in sel])
        return (
            f"{label:<16} firmware MAE {fmt(fw_mae)} (median {fmt(fw_med)}) bpm, coverage "
            f"{fw_cov:.0%};  HeartPy MAE {fmt(hp_mae)} (median {fmt(hp_med)}) bpm, coverage "
            f"{hp_cov:.0%}  ({len(sel)} recordings)"
        )

    lines.append(summary("all", lambda n: True))
    lines.append(summary("held out (even)", lambda n: n is not None and n % 2 == 0))
    lines.append(summary("tuned on (odd)", lambda n: n is not None and n % 2 == 1))
    real_s = samples / 100.0
    lines.append(
        f"speed on the unix port: detector {samples / (det_us / 1e6):,.0f} samples/s = "
        f"{real_s / (det_us / 1e6):,.0f}x real time; simulated chain (scenario, chip, bus, "
        f"driver, detector) {real_s / (chain_us / 1e6):,.0f}x real time ({samples} samples)"
    )
    lines.append(
        f"HeartPy on CPython: {samples / hp_s:,.0f} samples/s = {real_s / hp_s:,.0f}x real time"
        " (offline, whole recordings)"
    )
    return lines
