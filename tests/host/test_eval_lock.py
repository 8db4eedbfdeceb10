"""`cocoon eval lock DIR`: the firmware's phase-sync loop on recorded beats, on the unix port."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_run import cocoon as _cocoon
from cocoon_host import eval_lock as el

ROOT = Path(__file__).resolve().parents[2]


def cocoon(*args: str) -> subprocess.CompletedProcess:
    return _cocoon(*args, timeout=300)


def write_recording(root: Path, name: str, rr: list[float]) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "RR.txt").write_text(" ".join(str(x) for x in rr) + " \n")


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    write_recording(tmp_path, "steady", [800.0 + (i % 3) for i in range(60)])
    write_recording(tmp_path, "wavy", el.synthetic_rr(5, 80))
    (tmp_path / "notes").mkdir()  # a folder without RR.txt is passed over
    return tmp_path


def test_json_has_recordings_and_the_summary_keys(recordings):
    proc = cocoon("eval", "lock", str(recordings), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"recordings", "median_lock_beats", "rms_error_ms", "rmssd_ms"} <= set(out)
    names = [r["name"] for r in out["recordings"]]
    assert names == ["steady", "wavy"]
    steady = out["recordings"][0]
    assert steady["beats"] == 61
    for key in ("lock_beats", "rms_error_ms", "rmssd_ms", "max_step_turns"):
        assert key in steady
    # A steady 75 bpm locks within a few beats and then the light sits on the beats (ms).
    assert steady["lock_beats"] <= 5
    assert steady["rms_error_ms"] < 5
    assert 0 < steady["max_step_turns"] < 0.01
    assert steady["rmssd_ms"] == pytest.approx(
        el.rmssd([800.0 + (i % 3) for i in range(60)]), 0.01
    )


def test_table_is_readable(recordings):
    proc = cocoon("eval", "lock", str(recordings), "--offset", "20")
    assert proc.returncode == 0, proc.stderr
    assert "first-beats rate +20%" in proc.stdout
    lines = proc.stdout.splitlines()
    assert any(line.startswith("steady") for line in lines)
    assert any(line.startswith("all") for line in lines)


def test_the_unix_port_gives_the_same_integers_as_cpython():
    # The eval runs the firmware on MicroPython; the same driver in-process on CPython (used for
    # tuning) must see bit-identical beats, errors and frequencies.
    recs = [("a", el.synthetic_rr(11, 50)), ("b", [700.0] * 30)]
    on_mp = el.evaluate(recs, {}, 20.0, 100)
    on_cpython = el.evaluate(recs, {}, 20.0, 100, runner=el.run_in_process)
    assert on_mp == on_cpython
    assert on_mp["recordings"][0]["lock_beats"] is not None


def test_driver_reports_a_firmware_error_per_recording():
    answers = el.run_on_micropython(
        [{"id": "x", "rr_ms": [800, 800, 800], "settings": {"ratio": 99}}]
    )
    assert "ratio" in answers[0]["error"]


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "is not a folder"),
        (lambda p: p, "no RR.txt"),
    ],
)
def test_bad_dir_is_one_clear_line(tmp_path, make, words):
    proc = cocoon("eval", "lock", str(make(tmp_path)))
    assert proc.returncode != 0
    assert proc.stdout == ""
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in proc.stderr, proc.stderr


def test_bad_rr_file_names_the_file_and_the_item(tmp_path):
    write_recording(tmp_path, "good", [800.0] * 10)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "RR.txt").write_text("800 812 abc 790")
    proc = cocoon("eval", "lock", str(tmp_path))
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "bad/RR.txt" in err[0] and "item 3" in err[0], proc.stderr
    (tmp_path / "bad" / "RR.txt").write_text("800 -5 790 800")
    assert "item 2" in cocoon("eval", "lock", str(tmp_path)).stderr


def test_bad_options_are_refused(recordings):
    proc = cocoon("eval", "lock", str(recordings), "--ratio", "12")
    assert proc.returncode != 0 and "--ratio" in proc.stderr and "Traceback" not in proc.stderr


def test_welltory_recordings_all_evaluate(shared_data):
    # The real data: every recording is read and fed through; the figures are `make bench`'s.
    out = el.evaluate(
        [(n, el.read_rr(p)) for n, p in el.find_recordings(shared_data / "welltory-ppg")]
    )
    assert len(out["recordings"]) == 14
    for r in out["recordings"]:
        assert r["beats"] > 80 and r["rmssd_ms"] > 0
    assert out["recordings_locked"] >= 1


def test_subjects_split_by_the_number_in_the_name(tmp_path):
    for name in ("subject_01", "subject_02", "subject_03", "subject_10"):
        write_recording(tmp_path, name, [800.0] * 20)
    found = el.find_recordings(tmp_path)
    names = lambda which: [n for n, _ in el.select_subjects(found, which)]  # noqa: E731
    assert names("odd") == ["subject_01", "subject_03"]
    assert names("even") == ["subject_02", "subject_10"]
    assert names("all") == ["subject_01", "subject_02", "subject_03", "subject_10"]
    assert names("subject_0*") == ["subject_01", "subject_02", "subject_03"]
    proc = cocoon("eval", "lock", str(tmp_path), "--subjects", "even", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [r["name"] for r in json.loads(proc.stdout)["recordings"]] == names("even")


def test_subjects_that_select_nothing_are_one_clear_line(tmp_path):
    write_recording(tmp_path, "subject_01", [800.0] * 20)
    write_recording(tmp_path, "night", [800.0] * 20)
    for which, words in (("even", "no number"), ("x*", "matches none")):
        proc = cocoon("eval", "lock", str(tmp_path), "--subjects", which)
        assert proc.returncode != 0 and proc.stdout == ""
        err = proc.stderr.strip().splitlines()
        assert len(err) == 1 and words in err[0] and "Traceback" not in proc.stderr, proc.stderr
