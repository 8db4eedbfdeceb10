"""Sleep stages: held-out accuracy on walch2019-features; the classifier's cost on the unix port.

Accuracy: `cocoon eval stages --loso` (the firmware's fixed-point classifier on the MicroPython
unix port, each subject scored by a model fitted on the others, hyper-parameters chosen inside
the training subjects) next to a float logistic regression on the same split and the published
Walch 2019 figures. Design choices (which inputs, log or plain) were made on a declared half of
the subjects (even positions in name order); the figures on the other half are reported apart.

Speed: the per-second epoch features and the per-epoch classifier on the unix port, as a fraction
of the real time they cover (1 s of heart rate, one 30-s epoch), measured in this run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "walch2019-features"
GOALS = {
    ("sleep_wake", "kappa"): 0.45,
    ("sleep_wake", "wake_correct_at_93"): 0.60,
    ("three_class", "kappa"): 0.35,
    ("four_class", "kappa"): 0.30,
}

SPEED_SCRIPT = r"""
import time
from cocoon.core import stage_model
from cocoon.core.stager import Stager
from cocoon.core.epoch import EpochFeatures
ef = EpochFeatures()
st = Stager(stage_model)
N = 8 * 3600
hr = 600
t0 = time.ticks_us()
epochs = 0
for s in range(N):
    hr = 520 + (hr * 13 + 7) % 160
    ef.push_second(hr)
    if s % 15 == 14:
        ef.push_count((s * 7) % 60)
    if ef.take_epoch():
        epochs += 1
t1 = time.ticks_us()
for i in range(2000):
    st.update((i * 37) % 5000, 500 + (i * 91) % 4000, i % 1000)
t2 = time.ticks_us()
print(time.ticks_diff(t1, t0), N, epochs, time.ticks_diff(t2, t1), 2000)
"""


def pooled(confusions: list[list[list[int]]]):
    from cocoon_host import model as M

    m = np.sum(np.array(confusions), axis=0)
    y = np.repeat(np.repeat(np.arange(4), 4), m.ravel())
    p = np.repeat(np.tile(np.arange(4), 4), m.ravel())
    sc = M.scores(y, p)
    return {
        "sleep_wake": {
            "kappa": sc["sleep_wake"]["kappa"],
            "wake_correct_at_93": sc["sleep_wake"]["wake_correct"],
            "accuracy": sc["sleep_wake"]["accuracy"],
        },
        "three_class": sc["three_class"],
        "four_class": sc["four_class"],
        "epochs": sc["epochs"],
    }


def accuracy_lines() -> list[str]:
    from cocoon_host import eval_stages as E

    r = E.evaluate(DATA, loso=True)
    b = r["baseline_float_lr"]
    p = r["published"]
    lines = [
        f"walch2019-features, {r['subjects']} subjects, {r['epochs']} epochs, leave one subject "
        "out (gamma by 5-fold CV inside each training fold)",
        r["caveat"],
        f"{'':24}{'firmware':>9}{'float LR':>9}{'Walch19':>9}{'goal':>7}",
    ]
    rows = [
        ("sleep/wake accuracy", ("sleep_wake", "accuracy")),
        ("sleep/wake kappa", ("sleep_wake", "kappa")),
        ("wake @93% sleep", ("sleep_wake", "wake_correct_at_93")),
        ("3-class accuracy", ("three_class", "accuracy")),
        ("3-class kappa", ("three_class", "kappa")),
        ("4-class accuracy", ("four_class", "accuracy")),
        ("4-class kappa", ("four_class", "kappa")),
    ]

    def cell(d, keys):
        v = d.get(keys[0], {}).get(keys[1])
        return f"{v:9.3f}" if v is not None else f"{'-':>9}"

    for label, keys in rows:
        goal = GOALS.get(keys)
        mark = f"{goal:>5.2f}{'ok' if r[keys[0]][keys[1]] >= goal else '!!'}" if goal else ""
        lines.append(f"{label:24}{cell(r, keys)}{cell(b, keys)}{cell(p, keys)}  {mark}")
    lines.append(
        f"fixed point vs float twin: {100 * r['agreement_with_float_twin']:.2f}% of epochs agree"
    )
    names = sorted(s["name"] for s in r["per_subject"])
    held = set(names[1::2])
    h = pooled([s["confusion_4"] for s in r["per_subject"] if s["name"] in held])
    lines.append(
        f"held-out half ({len(held)} subjects not used to choose the inputs, {h['epochs']} "
        f"epochs): sleep/wake kappa {h['sleep_wake']['kappa']:.3f}, wake @93% "
        f"{h['sleep_wake']['wake_correct_at_93']:.3f}, 3-class kappa "
        f"{h['three_class']['kappa']:.3f}, 4-class kappa {h['four_class']['kappa']:.3f}"
    )
    return lines


def speed_lines() -> list[str]:
    env = dict(os.environ)
    env["MICROPYPATH"] = str(ROOT / "firmware")
    exe = Path(sys.executable).parent / "micropython"
    out = subprocess.run(
        [str(exe), "-c", SPEED_SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    feat_us, seconds, epochs, stage_us, updates = (int(v) for v in out.stdout.split())
    per_s = feat_us / seconds
    per_epoch = stage_us / updates
    return [
        f"unix port: epoch features {per_s:.0f} us per second of heart rate "
        f"({per_s / 1e6:.2e} of real time); classifier {per_epoch:.0f} us per epoch "
        f"({per_epoch / 30e6:.2e} of its 30 s)",
        f"an 8-h night of features ({epochs} epochs) takes {feat_us / 1e6:.2f} s: "
        f"{seconds / (feat_us / 1e6):.0f}x real time",
    ]


def run() -> list[str]:
    if not DATA.is_dir():
        return ["skipped: ../shared/data/walch2019-features is not next to this checkout"]
    return accuracy_lines() + speed_lines()
