"""Phase-sync loop: speed of the three paths, fixed point vs float64, and lock on real beats.

    make bench sync          # or: .venv/bin/python -m bench sync

Speed: ticks per second of PhaseSync.advance() in blocks of 100 ticks, steady state, on the
MicroPython unix port as viper (what the board runs) and as bytecode (the same source with the
decorators removed), and of the plain-Python reference (phasesync_ref, one tick per call) on
CPython and on the unix port; all measured in this run, reported as ratios. Each figure is the best
of 5 runs of >= 0.3 s (the machine is shared; the best run is the least disturbed one).
Accuracy: the largest difference between the fixed-point loop and its float64 model on the golden
scenario (tests/firmware/phasesync_float.py). Lock: `cocoon eval lock` on ../shared/data/
welltory-ppg (firmware on the unix port) for the odd subjects (the tuning set), the even ones
(held out) and all 14, with the interval predictor and with the earlier PI loop (PI_LOOP) as
the baseline of the same run, then from 20% off either way; settings from bench/tune_sync.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
DATA = ROOT.parent / "shared" / "data" / "welltory-ppg"
# The earlier design (a PI frequency update, gate 4 x the mean |error|): the baseline.
PI_LOOP = {"predict": 0, "gate_k_q4": 64}

# Runs on the unix port. PATH_PHASESYNC is replaced with the real path of phasesync.py.
MP_SPEED = r"""
import json, time
from cocoon.core import phasesync as ps
from cocoon.core.phasesync_ref import RefPhaseSync

def twin():
    with open(PATH_PHASESYNC) as f:
        src = f.read()
    ns = {"__name__": "phasesync_bytecode"}
    exec(src.replace("@micropython.viper\n", "\n"), ns)
    return ns["PhaseSync"]

def setup(cls, peers):
    s = cls(coupling_mhz=100)
    buf = bytearray(8)
    for k in range(peers):
        buf[3] = 40 * k
        buf[6] = 0xA4
        s.set_peer(k, buf, 0, 0)
    s.advance(100)
    return s

def rate(fn, ticks_per_call):
    best = 0.0
    for _ in range(5):
        n = 0
        t0 = time.ticks_us()
        while True:
            fn()
            n += ticks_per_call
            dt = time.ticks_diff(time.ticks_us(), t0)
            if dt > 300000:
                break
        best = max(best, n * 1e6 / dt)
    return best

out = {}
for peers in (0, 2):
    v = setup(ps.PhaseSync, peers)
    b = setup(twin(), peers)
    r = RefPhaseSync(v.cfg)
    for k in range(peers):
        for j in range(4):
            r.peers[k * 4 + j] = v.peers[k * 4 + j]
    out["viper_%d" % peers] = rate(lambda: v.advance(100), 100)
    out["bytecode_%d" % peers] = rate(lambda: b.advance(100), 100)
    out["ref_mp_%d" % peers] = rate(r.tick, 1)
    v.peers[3] = v.peers[7] = 0
print(json.dumps(out))
"""


def _rate(fn, ticks_per_call: int) -> float:
    best = 0.0
    for _ in range(5):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += ticks_per_call
            dt = time.perf_counter() - t0
            if dt > 0.3:
                break
        best = max(best, n / dt)
    return best


def _cpython_rates() -> dict[str, float]:
    sys.path[:0] = [str(FIRMWARE), str(ROOT / "tests" / "firmware")]
    from cocoon_host.eval_lock import _cpython_micropython_module

    _cpython_micropython_module()
    from cocoon.core import phasesync as ps
    from cocoon.core.phasesync_ref import RefPhaseSync

    out = {}
    for peers in (0, 2):
        s = ps.PhaseSync(coupling_mhz=100)
        buf = bytearray(8)
        for k in range(peers):
            buf[3], buf[6] = 40 * k, 0xA4
            s.set_peer(k, buf, 0, 0)
        s.advance(100)
        r = RefPhaseSync(s.cfg)
        r.peers[:] = list(s.peers)
        out[f"ref_cpython_{peers}"] = _rate(r.tick, 1)
        out[f"source_cpython_{peers}"] = _rate(lambda s=s: s.advance(100), 100)
    return out


def _mp_rates() -> dict[str, float]:
    code = MP_SPEED.replace("PATH_PHASESYNC", repr(str(FIRMWARE / "cocoon/core/phasesync.py")))
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen")
    exe = str(Path(sys.executable).parent / "micropython")
    proc = subprocess.run(
        [exe, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"unix-port speed run failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _golden_lines() -> list[str]:
    from cocoon_host.eval_lock import _cpython_micropython_module

    _cpython_micropython_module()
    sys.path[:0] = [str(ROOT / "tests" / "firmware"), str(ROOT / "tests" / "firmware" / "core")]
    import test_phasesync_golden as g

    rows = g.run_fixed()
    k = g.last_beat_index() + 1
    p1, f1, m1 = g.differences(rows, 0, k)
    p2, f2, m2 = g.differences(rows, k)
    return [
        f"fixed point vs float64 model, {k} events with beats: max phase diff {p1:.2e} turn, "
        f"max freq diff {f1:.1e} (relative), {m1} decisions differ",
        f"  then 60 s without beats (holdover, relaxation): max phase diff {p2:.2e} turn, "
        f"max freq diff {f2:.1e}, {m2} decisions differ",
    ]


def _lock_line(label: str, r: dict) -> str:
    ratio = r["rms_error_ms"] / r["rmssd_ms"] if r["rms_error_ms"] else float("nan")
    below = sum(
        1
        for x in r["recordings"]
        if x["rms_error_ms"] is not None and x["rms_error_ms"] < x["rmssd_ms"]
    )
    return (
        f"  {label}: median lock {r['median_lock_beats']} beats "
        f"({r['recordings_locked']}/{len(r['recordings'])} locked), RMS error after lock "
        f"{r['rms_error_ms']} ms vs RMSSD {r['rmssd_ms']} ms (x{ratio:.2f}; "
        f"{below}/{len(r['recordings'])} below their own), "
        f"max step {r['max_step_turns']:.4f} turn/tick"
    )


def _lock_lines() -> list[str]:
    from cocoon_host import eval_lock as el

    if not DATA.is_dir():
        return ["lock on welltory-ppg: skipped (../shared/data/welltory-ppg not found)"]
    found = el.find_recordings(DATA)
    lines = [
        "lock on welltory-ppg (firmware on the unix port, from the resting rate): settings "
        "chosen on synthetic series and the odd subjects; even = held out; the PI loop "
        "(predict=0, gate_k_q4=64) is the earlier design, the baseline of this run (it had "
        "been looked at on all 14)"
    ]
    for which in ("odd", "even", "all"):
        recs = [(n, el.read_rr(p)) for n, p in el.select_subjects(found, which)]
        for name, settings in (("predictor", {}), ("PI loop  ", PI_LOOP)):
            lines.append(_lock_line(f"{which:<4} {name}", el.evaluate(recs, settings, None, 100)))
    recs = [(n, el.read_rr(p)) for n, p in found]
    for label, offset in (("+20% off", 20.0), ("-20% off", -20.0)):
        lines.append(_lock_line(f"all  from {label}", el.evaluate(recs, {}, offset, 100)))
    syn = [(f"syn{s}", el.synthetic_rr(s)) for s in range(1000, 1060)]
    for name, settings in (("predictor", {}), ("PI loop  ", PI_LOOP)):
        r = el.evaluate(syn, settings, 20.0, 100, runner=el.run_in_process)
        lines.append(_lock_line(f"held-out synthetic (60, +20%) {name}", r))
    return lines


def run() -> list[str]:
    mp = _mp_rates()
    cp = _cpython_rates()
    lines = []
    for peers in (0, 2):
        v, b = mp[f"viper_{peers}"], mp[f"bytecode_{peers}"]
        rm, rc = mp[f"ref_mp_{peers}"], cp[f"ref_cpython_{peers}"]
        sc = cp[f"source_cpython_{peers}"]
        lines.append(
            f"ticks/s with {peers} peers: viper {v:,.0f} | bytecode {b:,.0f} | "
            f"reference on unix port {rm:,.0f} | reference on CPython {rc:,.0f} | "
            f"viper source on CPython {sc:,.0f}"
        )
        lines.append(
            f"  viper / bytecode = {v / b:.1f}x (goal >= 10x), viper / CPython reference = "
            f"{v / rc:.1f}x, bytecode / CPython reference = {b / rc:.2f}x"
        )
    lines += _golden_lines()
    lines += _lock_lines()
    return lines


if __name__ == "__main__":
    for line in run():
        print(line)
