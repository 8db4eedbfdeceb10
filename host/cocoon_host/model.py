"""`cocoon model fit DIR`: fit the sleep-stage model and write the firmware's model file.

    cocoon model fit ../shared/data/walch2019-features    # writes core/stage_model.py
    cocoon model fit DIR --out /tmp/m.py --gamma 0.5

DIR holds per-subject files in the format of walch2019-features (`<id>_count_feature.out`,
`<id>_hr_feature.out`, `<id>_time_feature.out`, `<id>_psg_labels.out`, one value per 30-s epoch).
The model is the one core/stager.py runs: a multinomial logistic regression for the four stages
on six features (log(1 + activity count), log(HR feature + 0.02), the count and the HR feature
themselves, hours since lights-out, Walch's cosine proxy), a forward filter over stage
transitions whose emissions are tempered by `gamma` (chosen by cross-validation grouped by
subject, inside the training data only), and a binary logistic regression for wake on the plain
features (count, HR feature, hours, cosine), thresholded so that 93% of the training data's sleep
epochs score as sleep. (Which inputs each part uses was decided on a declared development half
of walch2019-features, the subjects at even positions in name order; see docs/stages.md.)

This module also holds the float twin of the firmware's classifier (same formulas in float64,
unquantised parameters) and the scores (Cohen's kappa, confusion matrices) used by
`cocoon eval stages`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CocoonError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "firmware" / "cocoon" / "core" / "stage_model.py"

MODEL_FORMAT = 1  # core/stager.py MODEL_FORMAT
STAGES = ("wake", "light", "deep", "rem")
FEATURES = ("log1p_count", "log_hr", "count", "hr", "hours", "cosine")
WAKE_FEATURES = (2, 3, 4, 5)  # the wake model sees the plain features only
# PSG labels of the data set: 0 wake, 1 N1, 2 N2, 3 N3, 4 N4, 5 REM (-1: unscored, kept in the
# sequence for the filter but neither trained on nor scored).
PSG_TO_STAGE = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3, -1: -1}
STAGE_TO_3 = np.array([0, 1, 1, 2])  # wake / NREM / REM

EPOCH_S = 30
HR_FLOOR = 0.02  # stager _HR_FLOOR_Q12 / 2^12
Z_MAX = 8.0  # stager _Z_MAX_Q10
D_MAX = 64.0  # stager _D_MAX_Q10
LOG_FLOOR = -30.0  # stager _LOG_FLOOR_Q10
EMISSION_MAX = 32.0
EPOCH_MAX = 2880
GAMMAS = (0.125, 0.25, 0.5, 0.75, 1.0)  # candidates for the emission temperature
L2 = 1e-2  # ridge on the standardised weights (per epoch of the mean log-loss); fixed, not tuned
SLEEP_CORRECT = 0.93  # Walch 2019's operating point: 93% of sleep epochs scored as sleep
SD_FLOOR = 0.125  # stager: ISD_Q10 <= 8192
W_MAX = 8.0
B_MAX = 32.0
TRANS_FLOOR = -20.0


# ---------------------------------------------------------------------------------------- data


@dataclass
class Subject:
    """One night: the Walch features and the 4-class stage (-1 where unscored)."""

    name: str
    count: np.ndarray
    hr: np.ndarray
    epoch_n: np.ndarray  # 30-s epochs since the first valid epoch (from the time feature)
    stage: np.ndarray

    def __len__(self) -> int:
        return len(self.stage)


def _read_column(path: Path) -> np.ndarray:
    values = []
    try:
        text = path.read_text()
    except OSError as e:
        raise CocoonError(f"cannot read {path}: {e.strerror}", "check the data directory") from e
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            v = float(line)
        except ValueError:
            raise CocoonError(
                f"{path.name} line {lineno}: {line[:40]!r} is not a number",
                "each file holds one number per line",
            ) from None
        if not math.isfinite(v):
            raise CocoonError(f"{path.name} line {lineno}: {line!r} is not finite", "fix the file")
        values.append(v)
    return np.array(values, dtype=float)


def load_dir(directory: Path | str) -> list[Subject]:
    """Every subject of a walch2019-features-style directory, sorted by name."""
    d = Path(directory)
    if not d.is_dir():
        raise CocoonError(f"{d} is not a directory", "give the folder with *_psg_labels.out files")
    names = sorted(p.name[: -len("_psg_labels.out")] for p in d.glob("*_psg_labels.out"))
    if not names:
        raise CocoonError(
            f"no *_psg_labels.out in {d}",
            "give a directory in the format of ../shared/data/walch2019-features",
        )
    subjects = []
    for name in names:
        cols = {}
        for key in ("count_feature", "hr_feature", "time_feature", "psg_labels"):
            path = d / f"{name}_{key}.out"
            if not path.exists():
                raise CocoonError(f"{path.name} is missing", f"each subject needs {key}")
            cols[key] = _read_column(path)
        n = len(cols["psg_labels"])
        for key, col in cols.items():
            if len(col) != n:
                raise CocoonError(
                    f"subject {name}: {key} has {len(col)} epochs, psg_labels has {n}",
                    "the files of one subject must be aligned line by line",
                )
        if n == 0:
            raise CocoonError(f"subject {name} has no epochs", "remove it or fix its files")
        bad = [v for v in cols["psg_labels"] if v not in PSG_TO_STAGE]
        if bad:
            raise CocoonError(
                f"subject {name}: label {bad[0]:g} is not a PSG stage",
                "labels are 0 wake, 1-4 N1-N4, 5 REM (-1 unscored)",
            )
        if (cols["count_feature"] < 0).any() or (cols["hr_feature"] < 0).any():
            raise CocoonError(
                f"subject {name}: negative activity count or HR feature",
                "both features are non-negative by definition",
            )
        hours = cols["time_feature"]
        if (np.diff(hours) < 0).any() or (hours < 0).any():
            raise CocoonError(f"subject {name}: time_feature goes backwards", "fix the file")
        stage = np.array([PSG_TO_STAGE[int(v)] for v in cols["psg_labels"]], dtype=int)
        epoch_n = np.rint(hours * 3600 / EPOCH_S).astype(int)
        subjects.append(Subject(name, cols["count_feature"], cols["hr_feature"], epoch_n, stage))
    return subjects


def data_digest(directory: Path | str) -> str:
    """A short hash of the directory's files (names and contents): which data a model saw."""
    h = hashlib.sha256()
    for p in sorted(Path(directory).glob("*.out")):
        h.update(p.name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:12]


def cosine_proxy(hours: np.ndarray) -> np.ndarray:
    """Walch's cosine proxy -cos(2 pi (t - 5 h) / 24 h)."""
    return -np.cos(2 * np.pi * (hours - 5.0) / 24.0)


def features(s: Subject) -> np.ndarray:
    """The model's six inputs (float), as core/stager.py Stager.features computes them."""
    n = np.minimum(s.epoch_n, EPOCH_MAX)
    hours = n / 120.0
    return np.column_stack(
        [
            np.log1p(s.count),
            np.log(s.hr + HR_FLOOR),
            s.count,
            s.hr,
            hours,
            cosine_proxy(hours),
        ]
    )


def fixed_inputs(s: Subject) -> tuple[list[int], list[int], list[int]]:
    """The epoch features in the firmware's formats: count Q8, HR feature Q12, epoch number."""
    count_q8 = np.rint(s.count * 256).astype(int).tolist()
    hr_q12 = np.rint(s.hr * 4096).astype(int).tolist()
    return count_q8, hr_q12, s.epoch_n.astype(int).tolist()


# --------------------------------------------------------------------------------- the model


@dataclass
class FloatModel:
    """The classifier's parameters in float: core/stager.py runs the quantised copy."""

    mu: np.ndarray
    sd: np.ndarray
    w: np.ndarray  # (4 stages, 6 features), on standardised features
    b: np.ndarray
    log_prior: np.ndarray
    log_trans: np.ndarray  # (from, to)
    gamma: float
    wake_w: np.ndarray  # (6,), zero where the wake model does not look
    wake_b: float
    wake_th: float  # wake log-odds threshold
    info: dict = field(default_factory=dict)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.clip(x - self.mu, -D_MAX, D_MAX) / self.sd, -Z_MAX, Z_MAX)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.standardise(x) @ self.w.T + self.b

    def wake_lo(self, x: np.ndarray) -> np.ndarray:
        return self.standardise(x) @ self.wake_w + self.wake_b

    def run(self, x: np.ndarray, valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The float twin of Stager.update over one night: stages, wake log-odds, posteriors."""
        lg = self.logits(x)
        wake_lo = self.wake_lo(x)
        if valid is None:
            valid = np.ones(len(x), dtype=bool)
        wake_lo = np.where(valid, wake_lo, 0.0)
        emit = self.gamma * np.clip(lg - self.log_prior, -EMISSION_MAX, EMISSION_MAX)
        lt = self.log_trans
        a = _normalise(self.log_prior.copy())
        post = np.empty_like(lg)
        for t in range(len(x)):
            m = a[:, None] + lt
            mx = m.max(0)
            nxt = mx + np.log(np.exp(m - mx).sum(0))
            if valid[t]:
                nxt = nxt + emit[t]
            a = _normalise(nxt)
            post[t] = a
        stage = np.where(valid & (wake_lo > self.wake_th), 0, 1 + post[:, 1:].argmax(1))
        return {"stage": stage, "wake_lo": wake_lo, "log_post": post}

    def to_json(self) -> dict:
        return {
            "mu": self.mu.tolist(),
            "sd": self.sd.tolist(),
            "w": self.w.tolist(),
            "b": self.b.tolist(),
            "log_prior": self.log_prior.tolist(),
            "log_trans": self.log_trans.tolist(),
            "gamma": self.gamma,
            "wake_w": self.wake_w.tolist(),
            "wake_b": self.wake_b,
            "wake_th": self.wake_th,
        }

    @classmethod
    def from_json(cls, d: dict) -> FloatModel:
        keys = ("mu", "sd", "w", "b", "log_prior", "log_trans", "wake_w")
        arr = {k: np.array(d[k], dtype=float) for k in keys}
        return cls(
            gamma=float(d["gamma"]),
            wake_b=float(d["wake_b"]),
            wake_th=float(d["wake_th"]),
            **arr,
        )


def _normalise(a: np.ndarray) -> np.ndarray:
    return np.maximum(a - a.max(), LOG_FLOOR)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_softmax(z: np.ndarray, y: np.ndarray, k: int, l2: float = L2) -> tuple:
    """Multinomial logistic regression by Newton's method (ridge on weights, not on biases)."""
    n, d = z.shape
    zb = np.hstack([z, np.ones((n, 1))])
    d1 = d + 1
    theta = np.zeros((d1, k))
    onehot = np.eye(k)[y]
    reg = np.ones(d1)
    reg[-1] = 0.0
    for _ in range(50):
        p = _softmax(zb @ theta)
        grad = zb.T @ (p - onehot) / n + l2 * reg[:, None] * theta
        hess = np.zeros((d1 * k, d1 * k))
        for a in range(k):
            for c in range(a, k):
                wgt = p[:, a] * ((a == c) - p[:, c])
                block = (zb * wgt[:, None]).T @ zb / n
                hess[a * d1 : (a + 1) * d1, c * d1 : (c + 1) * d1] = block
                hess[c * d1 : (c + 1) * d1, a * d1 : (a + 1) * d1] = block.T
        hess += np.diag(np.tile(l2 * reg, k)) + 1e-9 * np.eye(d1 * k)
        step = np.linalg.solve(hess, grad.T.reshape(-1)).reshape(k, d1).T
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1].T.copy(), theta[-1].copy()


def transitions(subjects: list[Subject]) -> np.ndarray:
    """log P(next stage | stage) from consecutive scored epochs, with one pseudo-count each."""
    counts = np.ones((4, 4))
    for s in subjects:
        a, b = s.stage[:-1], s.stage[1:]
        ok = (a >= 0) & (b >= 0)
        np.add.at(counts, (a[ok], b[ok]), 1)
    return np.maximum(np.log(counts / counts.sum(1, keepdims=True)), TRANS_FLOOR)


def fit_float(subjects: list[Subject], gamma: float) -> FloatModel:
    """Fit on these subjects with a given emission temperature (no hyper-parameter search)."""
    xs = [features(s) for s in subjects]
    x = np.vstack(xs)
    y = np.concatenate([s.stage for s in subjects])
    keep = y >= 0
    x, y = x[keep], y[keep]
    if len(y) == 0:
        raise CocoonError("no scored epochs to fit on", "the labels are all unscored")
    mu = x.mean(0)
    sd = np.maximum(x.std(0), SD_FLOOR)
    z = np.clip(np.clip(x - mu, -D_MAX, D_MAX) / sd, -Z_MAX, Z_MAX)
    w, b = fit_softmax(z, y, 4)
    w = np.clip(w, -W_MAX, W_MAX)
    b = np.clip(b, -B_MAX, B_MAX)
    cols = list(WAKE_FEATURES)
    ww, wb = fit_softmax(z[:, cols], (y == 0).astype(int), 2)
    wake_w = np.zeros(len(FEATURES))
    wake_w[cols] = np.clip(ww[1] - ww[0], -W_MAX, W_MAX)
    wake_b = float(np.clip(wb[1] - wb[0], -B_MAX, B_MAX))
    counts = np.bincount(y, minlength=4) + 1.0
    log_prior = np.maximum(np.log(counts / counts.sum()), LOG_FLOOR)
    model = FloatModel(mu, sd, w, b, log_prior, transitions(subjects), gamma, wake_w, wake_b, 0.0)
    # Wake threshold on the training data only: 93% of its sleep epochs score as sleep.
    sleep = model.wake_lo(x)[y > 0]
    model.wake_th = float(np.quantile(sleep, SLEEP_CORRECT)) if len(sleep) else 0.0
    return model


def folds_by_subject(n: int, k: int) -> list[list[int]]:
    """k groups of subject indices, interleaved so every fold sees the whole range of names."""
    k = max(2, min(k, n))
    return [list(range(i, n, k)) for i in range(k)]


def select_gamma(subjects: list[Subject], k: int = 5) -> tuple[float, dict]:
    """Choose gamma by cross-validation grouped by subject (inside these subjects only)."""
    if len(subjects) < 2:
        return GAMMAS[len(GAMMAS) // 2], {"folds": 0}
    groups = folds_by_subject(len(subjects), k)
    results = {g: [[], []] for g in GAMMAS}  # gamma -> (true, predicted) per held-out epoch
    for held in groups:
        train = [s for i, s in enumerate(subjects) if i not in held]
        test = [subjects[i] for i in held]
        base = fit_float(train, 1.0)
        for g in GAMMAS:
            base.gamma = g
            for s in test:
                out = base.run(features(s))
                results[g][0].append(s.stage)
                results[g][1].append(out["stage"])
    table = {}
    for g, (ys, ps) in results.items():
        sc = scores(np.concatenate(ys), np.concatenate(ps))
        table[g] = (sc["three_class"]["kappa"] + sc["four_class"]["kappa"]) / 2
    best = max(GAMMAS, key=lambda g: (round(table[g], 6), -abs(g - 0.5)))
    return best, {"folds": len(groups), "mean_kappa_3_4": {str(g): table[g] for g in GAMMAS}}


def fit(subjects: list[Subject], gamma: float | None = None, folds: int = 5) -> FloatModel:
    """The full recipe: gamma by grouped CV within `subjects` (unless given), then a final fit."""
    info: dict = {}
    if gamma is None:
        gamma, info = select_gamma(subjects, folds)
        info["gamma_by"] = f"{info['folds']}-fold cross-validation grouped by subject"
    else:
        info["gamma_by"] = "given"
    model = fit_float(subjects, gamma)
    model.info = info
    return model


# ------------------------------------------------------------------------------- scores


def confusion(y: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    m = np.zeros((k, k), dtype=int)
    np.add.at(m, (y, p), 1)
    return m


def kappa_of(m: np.ndarray) -> float:
    n = m.sum()
    if n == 0:
        return float("nan")
    po = np.trace(m) / n
    pe = float((m.sum(0) * m.sum(1)).sum()) / (n * n)
    return float((po - pe) / (1 - pe)) if pe < 1 else 0.0


def scores(y: np.ndarray, stage: np.ndarray, wake: np.ndarray | None = None) -> dict:
    """Sleep/wake, 3- and 4-class scores over scored epochs (y >= 0). wake: the binary decision."""
    keep = y >= 0
    y, stage = y[keep], stage[keep]
    wake = (stage == 0) if wake is None else wake[keep]
    sw_true = (y == 0).astype(int)
    sw_pred = wake.astype(int)
    m2 = confusion(sw_true, sw_pred, 2)
    m3 = confusion(STAGE_TO_3[y], STAGE_TO_3[stage], 3)
    m4 = confusion(y, stage, 4)
    n_wake = int(sw_true.sum())
    n_sleep = int(len(y) - n_wake)
    return {
        "epochs": int(len(y)),
        "sleep_wake": {
            "accuracy": float(np.trace(m2) / max(1, len(y))),
            "kappa": kappa_of(m2),
            "wake_correct": float(m2[1, 1] / n_wake) if n_wake else float("nan"),
            "sleep_correct": float(m2[0, 0] / n_sleep) if n_sleep else float("nan"),
            "confusion": m2.tolist(),
        },
        "three_class": {
            "accuracy": float(np.trace(m3) / max(1, len(y))),
            "kappa": kappa_of(m3),
            "confusion": m3.tolist(),
        },
        "four_class": {
            "accuracy": float(np.trace(m4) / max(1, len(y))),
            "kappa": kappa_of(m4),
            "confusion": m4.tolist(),
        },
    }


# ------------------------------------------------------------------------ the model file


def quantise(model: FloatModel) -> dict:
    """The integer parameters core/stager.py reads (Q10 throughout)."""

    def q(values) -> list[int]:
        return [int(round(float(v) * 1024)) for v in np.ravel(values)]

    return {
        "MU_Q10": q(model.mu),
        "ISD_Q10": q(1.0 / model.sd),
        "W_Q10": q(model.w),
        "B_Q10": q(model.b),
        "LOG_PRIOR_Q10": q(model.log_prior),
        "LOG_TRANS_Q10": q(model.log_trans),
        "WAKE_W_Q10": q(model.wake_w),
        "WAKE_B_Q10": q([model.wake_b])[0],
        "GAMMA_Q10": q([model.gamma])[0],
        "WAKE_TH_Q10": q([model.wake_th])[0],
    }


def _tuple_lines(name: str, values: list[int], comment: str) -> list[str]:
    lines = [f"# {comment}", f"{name} = ("]
    line = "   "
    for v in values:
        item = f" {v},"
        if len(line) + len(item) > 95:
            lines.append(line)
            line = "   "
        line += item
    lines += [line, ")"]
    return lines


def model_source(model: FloatModel, header: list[str]) -> str:
    """The text of the generated model module (ruff-clean, no paths of this machine)."""
    qp = quantise(model)
    model_id = hashlib.sha256(json.dumps(qp, sort_keys=True).encode()).hexdigest()[:12]
    doc = [
        '"""Sleep-stage model for core/stager.py. GENERATED by `cocoon model fit`: do not edit.',
        "",
        *header,
        '"""',
        "",
        "from micropython import const",
        "",
        f"FORMAT = const({MODEL_FORMAT})",
        f'MODEL_ID = "{model_id}"',
        "FEATURES = (" + ", ".join(json.dumps(f) for f in FEATURES) + ")",
        "# fmt: off",
    ]
    doc += _tuple_lines("MU_Q10", qp["MU_Q10"], "feature means, Q10")
    doc += _tuple_lines("ISD_Q10", qp["ISD_Q10"], "1 / feature standard deviations, Q10")
    doc += _tuple_lines("W_Q10", qp["W_Q10"], "logit weights [stage][feature], Q10")
    doc += _tuple_lines("B_Q10", qp["B_Q10"], "logit biases (wake, light, deep, rem), Q10")
    doc += _tuple_lines("LOG_PRIOR_Q10", qp["LOG_PRIOR_Q10"], "ln P(stage) in training, Q10")
    doc += _tuple_lines("LOG_TRANS_Q10", qp["LOG_TRANS_Q10"], "ln P(next | stage) [from][to], Q10")
    doc += _tuple_lines("WAKE_W_Q10", qp["WAKE_W_Q10"], "wake log-odds weights [feature], Q10")
    doc += [
        "# fmt: on",
        f"WAKE_B_Q10 = const({qp['WAKE_B_Q10']})  # wake log-odds bias",
        f"GAMMA_Q10 = const({qp['GAMMA_Q10']})  # emission temperature {model.gamma:g}",
        f"WAKE_TH_Q10 = const({qp['WAKE_TH_Q10']})  # wake log-odds threshold {model.wake_th:.4f}",
        "",
        "# The float twin (host only, read by `cocoon eval stages`): the same model unquantised.",
    ]
    blob = json.dumps(model.to_json(), separators=(",", ":"))
    doc += [f"# FLOAT {blob[i : i + 88]}" for i in range(0, len(blob), 88)]
    return "\n".join(doc) + "\n"


def write_module(path: Path, model: FloatModel, header: list[str]) -> None:
    """Write atomically: a failure leaves the previous model file in place."""
    text = model_source(model, header)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".stage_model.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_float_twin(path: Path) -> FloatModel:
    """The float twin recorded in a generated model file."""
    try:
        text = path.read_text()
    except OSError as e:
        raise CocoonError(f"cannot read model {path}: {e.strerror}", "check the path") from e
    blob = "".join(
        line[len("# FLOAT ") :] for line in text.splitlines() if line.startswith("# FLOAT ")
    )
    if not blob:
        raise CocoonError(f"{path.name} has no float twin", "regenerate: `cocoon model fit`")
    try:
        return FloatModel.from_json(json.loads(blob))
    except (ValueError, KeyError, TypeError) as e:
        raise CocoonError(f"{path.name}: damaged float twin ({e})", "regenerate it") from e


def _fmt_scores(sc: dict) -> str:
    return (
        f"sleep/wake kappa {sc['sleep_wake']['kappa']:.3f}, "
        f"wake correct {sc['sleep_wake']['wake_correct']:.3f}; "
        f"3-class kappa {sc['three_class']['kappa']:.3f}; "
        f"4-class kappa {sc['four_class']['kappa']:.3f}"
    )


def header_lines(directory: Path, subjects: list[Subject], model: FloatModel) -> list[str]:
    d = Path(directory)
    epochs = sum(len(s) for s in subjects)
    # In-sample scores of the final model (optimistic by construction: say so).
    ys = np.concatenate([s.stage for s in subjects])
    ps = np.concatenate([model.run(features(s))["stage"] for s in subjects])
    insample = scores(ys, ps)
    info = model.info
    lines = [
        f"data:    {d.name}/ ({len(subjects)} subjects, {epochs} epochs, "
        f"files sha256 {data_digest(d)})",
    ]
    if d.name.startswith("walch2019"):
        lines += [
            "         Walch et al. 2019, SLEEP 42(12), doi:10.1093/sleep/zsz180; PhysioNet",
            "         'Motion and heart rate from a wrist-worn wearable and labeled sleep from",
            "         polysomnography' (Open Data Commons Attribution 1.0).",
        ]
    lines += [
        "split:   fitted on every subject of the directory. Emission temperature gamma "
        f"= {model.gamma:g},",
        f"         chosen by {info.get('gamma_by', 'given')} (mean of 3- and 4-class kappa).",
        "         Wake threshold: 93% of the training sleep epochs score as sleep.",
        "scores:  in-sample (optimistic; held-out figures: `cocoon eval stages DIR --loso`):",
        f"         {_fmt_scores(insample)}",
    ]
    cv = info.get("mean_kappa_3_4")
    if cv:
        lines.append("         grouped-CV mean of 3- and 4-class kappa, by gamma:")
        lines.append("         " + ", ".join(f"{g}: {v:.3f}" for g, v in cv.items()))
    lines += [
        "inputs:  Walch's features as core/epoch.py computes them on the device (delayed by the",
        "         smoothing's look-ahead; HR normalised by a running, not a whole-night, scale).",
    ]
    return lines


# ------------------------------------------------------------------------------------ CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="model_cmd", metavar="ACTION", required=True)
    f = sub.add_parser("fit", help="fit the model on a directory and write the model file")
    f.add_argument("dir", type=Path, help="directory in the format of walch2019-features")
    f.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="model file to write (default: the firmware's core/stage_model.py)",
    )
    f.add_argument("--gamma", type=float, help="emission temperature (default: chosen by CV)")
    f.add_argument("--folds", type=int, default=5, help="CV folds for gamma (default 5)")


def run(args: argparse.Namespace) -> int:
    if args.gamma is not None and not 0.0 < args.gamma <= 4.0:
        raise CocoonError(f"--gamma {args.gamma:g} is out of range", "use 0 < gamma <= 4")
    if args.folds < 2:
        raise CocoonError(f"--folds {args.folds} is too few", "use 2 or more")
    subjects = load_dir(args.dir)
    model = fit(subjects, args.gamma, args.folds)
    write_module(args.out, model, header_lines(args.dir, subjects, model))
    size = len(json.dumps(quantise(model)))
    print(
        f"wrote {args.out} ({len(subjects)} subjects, gamma {model.gamma:g}, "
        f"wake threshold {model.wake_th:.3f} log-odds, {size} characters of parameters)"
    )
    return 0
