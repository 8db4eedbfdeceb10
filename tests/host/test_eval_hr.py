"""`cocoon eval hr DIR`: end to end through the MicroPython unix port, on made-up and real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import cocoon as _cocoon

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_scenario import write_recording  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def cocoon(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return _cocoon(*args, timeout=timeout)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    d = tmp_path_factory.mktemp("recs")
    truth = {
        "slow_volts": write_recording(
            d / "slow_volts", bpm=57, fps=15, scale=0.01, offset=0, volume_polarity=True
        ),
        "camera": write_recording(d / "camera", bpm=84, fps=30, seed=3),
    }
    # a recording with no pulse at all: the firmware must say "no reading"
    noise = d / "noise"
    write_recording(noise, bpm=70, scale=0.0)
    lines = (noise / "PPG.csv").read_text().splitlines()
    import random

    rng = random.Random(5)
    lines = [lines[0]] + [f"{ln.split(',')[0]},{200 + rng.gauss(0, 1):.4f}" for ln in lines[1:]]
    (noise / "PPG.csv").write_text("\n".join(lines) + "\n")
    return d, truth


def test_json_report(recordings):
    d, truth = recordings
    proc = cocoon("eval", "hr", str(d), "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    by_name = {r["name"]: r for r in res["recordings"]}
    assert set(by_name) == {"slow_volts", "camera", "noise"}
    for name, bpm in truth.items():
        r = by_name[name]
        assert r["reference_bpm"] == pytest.approx(bpm, abs=0.01)
        assert r["estimate_bpm"] == pytest.approx(bpm, abs=1.0)
    assert by_name["noise"]["estimate_bpm"] is None
    assert res["coverage"] == pytest.approx(2 / 3, abs=1e-3)
    errs = [abs(by_name[n]["estimate_bpm"] - by_name[n]["reference_bpm"]) for n in truth]
    assert res["mae_bpm"] == pytest.approx(sum(errs) / 2, abs=0.01)


def test_table_report_and_single_folder(recordings):
    d, truth = recordings
    proc = cocoon("eval", "hr", str(d / "camera"))
    assert proc.returncode == 0, proc.stderr
    assert "camera" in proc.stdout and "coverage 100%" in proc.stdout


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p / "missing", "is not a folder"),
        (lambda p: p, "no recordings in"),
    ],
)
def test_bad_dir_is_one_line(tmp_path, make, words):
    proc = cocoon("eval", "hr", str(make(tmp_path)))
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in proc.stderr


def test_recording_without_rr_is_reported_not_fatal(tmp_path):
    write_recording(tmp_path / "a", bpm=70)
    write_recording(tmp_path / "b", bpm=70)
    (tmp_path / "b" / "RR.txt").unlink()
    res = json.loads(cocoon("eval", "hr", str(tmp_path), "--json").stdout)
    b = [r for r in res["recordings"] if r["name"] == "b"][0]
    assert b["reference_bpm"] is None and "RR.txt" in b["error"]
    assert res["scored"] == 1 and res["coverage"] == 1.0


@pytest.mark.slow
def test_shared_recordings_meet_the_goal(shared_data):
    proc = cocoon("eval", "hr", str(shared_data / "welltory-ppg"), "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert len(res["recordings"]) == 14
    assert res["coverage"] == 1.0
    assert res["mae_bpm"] <= 1.0
