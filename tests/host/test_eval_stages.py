"""`cocoon eval stages`: the firmware's classifier on the MicroPython unix port against PSG.

The figures on the whole of walch2019-features come from `make bench` (bench/bench_stages.py);
these tests run a few subjects to check the machinery, the output and the bit-exactness of the
classifier between CPython and the unix port.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cocoon.core import stage_model
from cocoon.core.stager import Stager
from cocoon_host import eval_stages as E
from cocoon_host import model as M

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def four_subjects(tmp_path_factory, request) -> Path:
    shared = ROOT.parent / "shared" / "data" / "walch2019-features"
    if not shared.is_dir():
        pytest.skip("../shared/data is not next to this checkout")
    d = tmp_path_factory.mktemp("walch4")
    names = sorted({p.name.split("_")[0] for p in shared.glob("*_psg_labels.out")})[:4]
    for name in names:
        for p in shared.glob(f"{name}_*.out"):
            shutil.copyfile(p, d / p.name)
    return d


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cocoon_host.cli", "eval", "stages", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_json_has_the_promised_keys(four_subjects: Path):
    proc = cli(str(four_subjects), "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    for key in ("accuracy", "kappa", "wake_correct_at_93"):
        assert 0 <= r["sleep_wake"][key] <= 1 or key == "kappa"
    for part in ("three_class", "four_class"):
        assert set(r[part]) >= {"accuracy", "kappa"}
    subjects = M.load_dir(four_subjects)
    assert r["epochs"] == sum(int((s.stage >= 0).sum()) for s in subjects)
    assert r["agreement_with_float_twin"] >= 0.99
    # The shipped model saw these nights: far above chance, with no claim of a held-out figure.
    assert r["four_class"]["kappa"] > 0.2


def test_loso_refits_and_compares_with_the_baseline(four_subjects: Path):
    proc = cli(str(four_subjects), "--loso", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["mode"] == "loso" and len(r["gamma_per_fold"]) == 4
    assert set(r["baseline_float_lr"]) == {"sleep_wake", "three_class", "four_class"}
    assert r["published"]["sleep_wake"]["wake_correct_at_93"] == pytest.approx(0.596)
    assert r["agreement_with_float_twin"] >= 0.99
    text = cli(str(four_subjects), "--loso")
    assert text.returncode == 0
    assert "float LR" in text.stdout and "Walch 2019" in text.stdout
    assert "look-ahead" in text.stdout  # the caveat travels with the figures


def test_firmware_on_micropython_is_bit_identical_to_cpython(four_subjects: Path):
    subjects = M.load_dir(four_subjects)[:2]
    jobs = [E.job(s, "shipped") for s in subjects]
    mp = E.run_firmware(jobs, {"shipped": M.DEFAULT_OUT})
    st = Stager(stage_model)
    for s, j in zip(subjects, jobs, strict=True):
        st.reset()
        stages, wake = [], []
        for c, h, n in zip(j["count_q8"], j["hr_q12"], j["epoch_n"], strict=True):
            stages.append(st.update(c, h, n))
            wake.append(st.wake_lo_q10)
        assert mp[s.name]["stage"] == stages
        assert mp[s.name]["wake_lo"] == wake


def test_scores_agree_with_a_hand_count():
    y = np.array([0, 0, 1, 1, 2, 3, 3, -1])
    p = np.array([0, 1, 1, 1, 2, 3, 1, 2])
    sc = M.scores(y, p)
    assert sc["epochs"] == 7
    assert sc["four_class"]["accuracy"] == pytest.approx(5 / 7)
    assert sc["sleep_wake"]["confusion"] == [[5, 0], [1, 1]]
    # kappa for 2 classes: po = 6/7, pe = (5*6 + 2*1) / 49
    pe = (5 * 6 + 2 * 1) / 49
    assert sc["sleep_wake"]["kappa"] == pytest.approx((6 / 7 - pe) / (1 - pe))
    assert M.kappa_of(np.array([[3, 0], [0, 3]])) == 1.0


def test_bad_directory_is_one_line(tmp_path: Path):
    proc = cli(str(tmp_path / "missing"))
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli(str(empty), "--loso")
    assert proc.returncode != 0 and "psg_labels" in proc.stderr


def test_a_missing_model_file_is_one_line(four_subjects: Path, tmp_path: Path):
    proc = cli(str(four_subjects), "--model", str(tmp_path / "none.py"))
    assert proc.returncode != 0 and "not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_night_without_wake_gives_valid_json(tmp_path: Path):
    rng = np.random.default_rng(3)
    n = 300
    for name in ("a1", "a2"):
        cols = {
            "count_feature": rng.gamma(1, 0.3, n),
            "hr_feature": rng.lognormal(-1.3, 0.3, n),
            "time_feature": np.arange(n) / 120.0,
            "psg_labels": np.repeat([2.0, 3.0, 5.0], n // 3),
        }
        for key, values in cols.items():
            np.savetxt(tmp_path / f"{name}_{key}.out", values, fmt="%f")
    proc = cli(str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert r["sleep_wake"]["wake_correct_at_93"] is None
    assert r["epochs"] == 2 * n
