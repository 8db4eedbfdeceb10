"""`cocoon night` and the synthetic sleeper's hypnogram (firmware/ports/sim/hypnogram.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cocoon_host import night

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "firmware" / "ports" / "sim"
MICROPYTHON = Path(sys.executable).parent / "micropython"


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cocoon_host.cli", "night", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def profile(spec="synthetic:profile=hypnogram,seed=1"):
    p = night.hypnogram(spec)
    assert p is not None
    return p


# ------------------------------------------------------------------------- the hypnogram


def test_hypnogram_is_the_same_on_micropython():
    script = (
        f"import sys\nsys.path.insert(0, {str(SIM)!r})\nimport scenario\n"
        "p = scenario.build('synthetic:profile=hypnogram,seed=7').profile\n"
        "print(''.join(str(s) for s in p.epochs(960)))\n"
        "print(repr(p.hr_factor(12345.5)))\n"
    )
    mp = subprocess.run([str(MICROPYTHON), "-c", script], capture_output=True, text=True)
    assert mp.returncode == 0, mp.stderr
    stages, hr = mp.stdout.split()
    p = profile("synthetic:profile=hypnogram,seed=7")
    assert stages == "".join(str(s) for s in p.epochs(960))
    assert abs(float(hr) - p.hr_factor(12345.5)) < 1e-9


def test_hypnogram_looks_like_a_night():
    for seed in (1, 2, 3):
        p = profile(f"synthetic:profile=hypnogram,seed={seed}")
        st = p.epochs(960)  # 8 h
        share = [st.count(k) / len(st) for k in range(4)]
        assert 0.02 < share[0] < 0.15  # wake: sleep onset and brief awakenings
        assert 0.45 < share[1] < 0.65  # light
        assert 0.10 < share[2] < 0.25  # deep
        assert 0.15 < share[3] < 0.30  # REM
        assert st[0] == 0 and st[10] == 0  # awake at lights-out
        first, second = st[:480], st[480:]
        assert first.count(2) > 2 * second.count(2)  # deep sleep early
        assert second.count(3) > first.count(3)  # REM late
        assert p.stage(8 * 3600 + 60) == 0  # the night is over
        starts = [t for t, _ in p.segments]
        assert starts == sorted(starts) and starts[-1] == 8 * 3600


def test_stages_shape_heart_rate_and_movement():
    p = profile()
    by_stage: dict[int, list[float]] = {k: [] for k in range(4)}
    for t in range(0, 8 * 3600, 7):
        by_stage[p.stage(t)].append(p.hr_factor(t))
    mean = {k: sum(v) / len(v) for k, v in by_stage.items()}
    spread = {k: max(v) - min(v) for k, v in by_stage.items()}
    assert mean[0] > mean[3] > mean[1] > mean[2]
    assert spread[0] > spread[2] and spread[3] > spread[2]
    motion = [p.motion_factor(t) for t in (60, 3 * 3600)]
    assert motion[0] > 10 * min(p.motion_factor(t) for t in range(0, 8 * 3600, 60))


def test_bad_hypnogram_keys_are_refused():
    with pytest.raises(Exception, match="cycle"):
        night.hypnogram("synthetic:profile=hypnogram,cycle=5")
    with pytest.raises(Exception, match="nope"):
        night.hypnogram("synthetic:profile=hypnogram,nope=1")
    assert night.hypnogram("synthetic:bpm=60") is None  # a flat sleeper has no hypnogram


# ---------------------------------------------------------------------------- scoring


class _Truth:
    def __init__(self, stages):
        self.stages = stages

    def stage(self, t_s):
        return self.stages[int(t_s // 30)]


def test_score_matches_epochs_to_the_hypnogram():
    truth = [0, 0, 1, 1, 2, 2, 3, 3, 1, 0]
    names = ["wake", "light", "deep", "rem"]
    epochs = [
        {"t_s": 30 * k, "delay_s": 427, "uptime_ms": (30 * k + 30 + 427 + 2) * 1000,
         "stage": names[s]}
        for k, s in enumerate(truth)
    ]  # fmt: skip
    sc = night.score(epochs, _Truth(truth))
    assert sc["four_class"]["kappa"] == pytest.approx(1.0)
    epochs[4]["stage"] = "light"
    sc = night.score(epochs, _Truth(truth))
    assert sc["four_class"]["accuracy"] == pytest.approx(0.9)
    assert night.score(epochs, None) is None


# ------------------------------------------------------------------------- end to end


def test_a_short_night_is_recorded_and_scored(tmp_path: Path):
    out = tmp_path / "n.jsonl"
    proc = cli("--hours", "0.35", "--alarm", "0.3", "--window", "10", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    # 0.35 h = 1260 virtual s: a STATE every 10 s (--state-s default), every EPOCH and EVENT.
    assert s["epochs"] >= 20 and s["frames"] > 120 and s["damaged"] == 0
    assert s["score"]["epochs"] == s["epochs"]
    assert s["wake"]["reason"] in ("light", "wake", "alarm")
    assert s["wake"]["decided_h"] <= 0.3 + 1 / 60
    records = [json.loads(line) for line in out.read_text().splitlines()]
    types = {r["type"] for r in records}
    assert {"STATE", "EPOCH", "EVENT"} <= types
    assert sum(r["type"] == "EPOCH" for r in records) == s["epochs"]
    # The stored config sets the light's rate before boot: the app's loop runs at it throughout.
    config = records[0]["data"]["config"]
    assert records[0]["type"] == "HELLO" and config["fps"] == 10 and config["state_ms"] == 10000
    rates = [r["data"]["loop"]["hz"] for r in records if r["type"] == "STATE"]
    assert len(rates) > 120 and max(rates[1:]) <= 11
    text = cli("--hours", "0.25", "--out", str(tmp_path / "m.jsonl"))
    assert text.returncode == 0, text.stderr
    assert "x real time" in text.stdout and "kappa" in text.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--hours", "0"], "--hours"),
        (["--hours", "30"], "--hours"),
        (["--alarm", "9"], "--alarm"),
        (["--fps", "5"], "--fps"),
        (["--heap-kb", "10"], "--heap-kb"),
        (["--scenario", "synthetic:profile=nope"], "profile"),
        (["--scenario", "bogus"], "unknown scenario"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args, words):
    proc = cli(*args, "--out", str(tmp_path / "x.jsonl"), timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert words in lines[0]


def test_an_unwritable_output_is_one_line(tmp_path: Path):
    proc = cli("--hours", "0.1", "--out", str(tmp_path / "missing" / "x.jsonl"), timeout=60)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot write" in proc.stderr
