"""`cocoon eval stages DIR`: the firmware's own sleep-stage classifier against polysomnography.

    cocoon eval stages ../shared/data/walch2019-features --loso
    cocoon eval stages DIR --json

Every subject's epoch features go, in the firmware's fixed-point formats, through core/stager.py
running ON THE MICROPYTHON UNIX PORT (one subprocess for all subjects). By default the model is the
one in the firmware (core/stage_model.py, or --model FILE); with --loso each subject is scored by a
model fitted on the other subjects (its emission temperature chosen by cross-validation inside
those subjects, its wake threshold on them too), next to a float logistic-regression baseline on
the same split and Walch et al. 2019's published figures.

Caveat printed with every result: the data's features smooth over a window that looks 5 minutes
ahead and normalise heart rate over the whole night. The device reproduces them with a delay
(core/epoch.py DELAY_EPOCHS) and a running estimate of the night's HR scale; these figures use the
data's own features, so they do not include the running estimate's error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import model as M
from .errors import CocoonError

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
RUNNER = Path(__file__).resolve().parent / "stages_runner.py"

# Walch et al. 2019 (all 31 subjects, leave-one-out, with their circadian feature).
PUBLISHED = {
    "source": "Walch et al. 2019, SLEEP 42(12), doi:10.1093/sleep/zsz180 (31 subjects, LOO)",
    "sleep_wake": {"accuracy": 0.90, "wake_correct_at_93": 0.596},
    "three_class": {"accuracy": 0.72},
}
CAVEAT = (
    "features: the data's own (5-min look-ahead smoothing, whole-night HR scale); the device "
    "computes them with a delay and a running HR scale"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="directory in the format of walch2019-features")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--loso", action="store_true", help="refit leave-one-subject-out within DIR (honest)"
    )
    p.add_argument("--model", type=Path, help="a model file (default: the firmware's)")


def micropython_exe() -> str:
    exe = Path(sys.executable).parent / "micropython"
    if not exe.exists():
        found = shutil.which("micropython")
        if not found:
            raise CocoonError("the MicroPython unix port is not installed", "run `make setup`")
        return found
    return str(exe)


def run_firmware(
    jobs: list[dict], model_files: dict[str, Path], timeout_s: float = 600.0
) -> dict[str, dict]:
    """Run the firmware's Stager on the MicroPython unix port. jobs name their model module."""
    with tempfile.TemporaryDirectory(prefix="cocoon-stages-") as tmp:
        tmpdir = Path(tmp)
        for module, src in model_files.items():
            shutil.copyfile(src, tmpdir / f"{module}.py")
        jobs_path = tmpdir / "jobs.jsonl"
        with jobs_path.open("w") as f:
            for job in jobs:
                f.write(json.dumps(job) + "\n")
        env = dict(os.environ)
        env["MICROPYPATH"] = f"{tmpdir}:{FIRMWARE}"
        try:
            proc = subprocess.run(
                [micropython_exe(), "-X", "heapsize=64M", str(RUNNER), str(jobs_path)],
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise CocoonError(
                f"the firmware classifier did not finish in {timeout_s:.0f} s",
                "try fewer subjects",
            ) from None
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or not lines or lines[-1] != f"DONE {len(jobs)}":
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CocoonError(f"the firmware classifier failed on MicroPython: {last}", "see above")
    out = {}
    for line in lines[:-1]:
        d = json.loads(line)
        out[d["name"]] = d
    return out


def job(s: M.Subject, module: str) -> dict:
    count_q8, hr_q12, epoch_n = M.fixed_inputs(s)
    return {
        "name": s.name,
        "model": module,
        "count_q8": count_q8,
        "hr_q12": hr_q12,
        "epoch_n": epoch_n,
    }


def baseline_lr(train: list[M.Subject], test: M.Subject) -> tuple[np.ndarray, np.ndarray]:
    """Float logistic regression on Walch's features as they are (no logs, no filter):
    4-class argmax, and wake at the training data's 93%-sleep-correct threshold."""

    def raw(s: M.Subject) -> np.ndarray:
        hours = s.epoch_n / 120.0
        return np.column_stack([s.count, s.hr, hours, M.cosine_proxy(hours)])

    x = np.vstack([raw(s) for s in train])
    y = np.concatenate([s.stage for s in train])
    keep = y >= 0
    x, y = x[keep], y[keep]
    mu, sd = x.mean(0), np.maximum(x.std(0), 1e-9)
    w, b = M.fit_softmax((x - mu) / sd, y, 4)

    def proba(xx: np.ndarray) -> np.ndarray:
        return M._softmax(((xx - mu) / sd) @ w.T + b)

    th = float(np.quantile(proba(x)[y > 0, 0], M.SLEEP_CORRECT))
    p = proba(raw(test))
    return p.argmax(1), p[:, 0] > th


def evaluate(directory: Path, loso: bool, model_path: Path | None = None) -> dict:
    subjects = M.load_dir(directory)
    if loso and len(subjects) < 3:
        raise CocoonError(f"--loso needs 3 or more subjects, {directory} has {len(subjects)}", "")
    twins: dict[str, M.FloatModel] = {}
    model_files: dict[str, Path] = {}
    jobs = []
    base_stage: list[np.ndarray] = []
    base_wake: list[np.ndarray] = []
    gammas = []
    with tempfile.TemporaryDirectory(prefix="cocoon-folds-") as tmp:
        if loso:
            for i, s in enumerate(subjects):
                train = subjects[:i] + subjects[i + 1 :]
                fold = M.fit(train)
                gammas.append(fold.gamma)
                module = f"fold_{i:03d}"
                path = Path(tmp) / f"{module}.py"
                M.write_module(path, fold, [f"fold {i}: every subject but {s.name}"])
                twins[module], model_files[module] = fold, path
                jobs.append(job(s, module))
                st, wk = baseline_lr(train, s)
                base_stage.append(st)
                base_wake.append(wk)
        else:
            path = model_path or M.DEFAULT_OUT
            if not path.exists():
                raise CocoonError(f"model file {path} not found", "run `cocoon model fit DIR`")
            twins["user_model"] = M.read_float_twin(path)
            model_files["user_model"] = path
            jobs = [job(s, "user_model") for s in subjects]
        results = run_firmware(jobs, model_files)
    ys, stages, twin_stages = [], [], []
    per_subject = []
    for s, j in zip(subjects, jobs, strict=True):
        r = results.get(s.name)
        if r is None or len(r["stage"]) != len(s):
            raise CocoonError(f"the firmware returned no result for subject {s.name}", "")
        st = np.array(r["stage"], dtype=int)
        twin = twins[j["model"]].run(M.features(s))["stage"]
        ys.append(s.stage)
        stages.append(st)
        twin_stages.append(twin)
        sc = M.scores(s.stage, st)
        per_subject.append(
            {
                "name": s.name,
                "epochs": sc["epochs"],
                "kappa_2": sc["sleep_wake"]["kappa"],
                "kappa_4": sc["four_class"]["kappa"],
                "confusion_4": sc["four_class"]["confusion"],
            }
        )
    y = np.concatenate(ys)
    st = np.concatenate(stages)
    twin = np.concatenate(twin_stages)
    sc = M.scores(y, st)
    result: dict = {
        "mode": "loso" if loso else "model",
        "subjects": len(subjects),
        "epochs": sc["epochs"],
        "sleep_wake": {
            "accuracy": sc["sleep_wake"]["accuracy"],
            "kappa": sc["sleep_wake"]["kappa"],
            "wake_correct_at_93": sc["sleep_wake"]["wake_correct"],
            "sleep_correct": sc["sleep_wake"]["sleep_correct"],
            "confusion": sc["sleep_wake"]["confusion"],
        },
        "three_class": sc["three_class"],
        "four_class": sc["four_class"],
        "agreement_with_float_twin": float((st == twin).mean()),
        "per_subject": per_subject,
        "published": PUBLISHED,
        "caveat": CAVEAT,
    }
    if loso:
        bs = M.scores(y, np.concatenate(base_stage), np.concatenate(base_wake))
        result["baseline_float_lr"] = {
            "sleep_wake": {
                "accuracy": bs["sleep_wake"]["accuracy"],
                "kappa": bs["sleep_wake"]["kappa"],
                "wake_correct_at_93": bs["sleep_wake"]["wake_correct"],
                "sleep_correct": bs["sleep_wake"]["sleep_correct"],
            },
            "three_class": {k: bs["three_class"][k] for k in ("accuracy", "kappa")},
            "four_class": {k: bs["four_class"][k] for k in ("accuracy", "kappa")},
        }
        result["split"] = (
            "leave one subject out; in each fold gamma is chosen by 5-fold cross-validation "
            "grouped by subject within the training subjects, and the wake threshold on them"
        )
        result["gamma_per_fold"] = gammas
    else:
        result["model"] = str(model_path) if model_path else "firmware core/stage_model.py"
    return result


def _matrix(title: str, names: list[str], m: list[list[int]]) -> list[str]:
    width = max(7, *(len(n) + 1 for n in names))
    lines = [f"{title} (rows: PSG, columns: firmware)"]
    lines.append(" " * 8 + "".join(n.rjust(width) for n in names))
    for name, row in zip(names, m, strict=True):
        lines.append(name.ljust(8) + "".join(str(v).rjust(width) for v in row))
    return lines


def render(r: dict) -> str:
    b = r.get("baseline_float_lr")
    p = r["published"]

    def col(v) -> str:
        return "   -  " if v is None else f"{v:6.3f}"

    def get(d, *keys):
        for k in keys:
            if d is None or k not in d:
                return None
            d = d[k]
        return d

    head = f"{r['subjects']} subjects, {r['epochs']} scored epochs; " + (
        "leave-one-subject-out refits" if r["mode"] == "loso" else f"model: {r['model']}"
    )
    rows = [
        ("sleep/wake accuracy", ("sleep_wake", "accuracy")),
        ("sleep/wake kappa", ("sleep_wake", "kappa")),
        ("wake correct @93% sleep", ("sleep_wake", "wake_correct_at_93")),
        ("  (sleep correct)", ("sleep_wake", "sleep_correct")),
        ("3-class accuracy", ("three_class", "accuracy")),
        ("3-class kappa", ("three_class", "kappa")),
        ("4-class accuracy", ("four_class", "accuracy")),
        ("4-class kappa", ("four_class", "kappa")),
    ]
    lines = [head, r["caveat"], ""]
    lines.append(f"{'':26}{'firmware':>10}{'float LR':>10}{'Walch 2019':>12}")
    for label, keys in rows:
        lines.append(
            f"{label:26}{col(get(r, *keys)):>10}{col(get(b, *keys)):>10}{col(get(p, *keys)):>12}"
        )
    lines.append("")
    lines.append(
        f"fixed point agrees with its float twin on {100 * r['agreement_with_float_twin']:.2f}%"
        " of epochs"
    )
    if r["mode"] == "loso":
        lines.append(f"split: {r['split']}")
        lines.append("gamma per fold: " + " ".join(f"{g:g}" for g in r["gamma_per_fold"]))
    else:
        lines.append("(not held out unless the model was fitted on other data: see --loso)")
    lines.append(f"published: {p['source']}")
    lines.append("")
    lines += _matrix("sleep/wake", ["sleep", "wake"], r["sleep_wake"]["confusion"])
    lines += _matrix("3 classes", ["wake", "nrem", "rem"], r["three_class"]["confusion"])
    lines += _matrix("4 classes", list(M.STAGES), r["four_class"]["confusion"])
    return "\n".join(lines)


def _finite(x):
    """NaN (e.g. wake correct in a night without wake) becomes null: JSON has no NaN."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def run(args: argparse.Namespace) -> int:
    if args.model is not None and args.loso:
        raise CocoonError("--model and --loso exclude each other", "--loso fits its own models")
    r = evaluate(args.dir, args.loso, args.model)
    if args.json:
        print(json.dumps(_finite(r)))
    else:
        print(render(r))
    return 0
