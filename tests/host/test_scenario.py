"""The virtual board's scenarios (firmware/ports/sim/scenario.py), on CPython.

Replay must work for any recording in the welltory-ppg format whatever its units, scale, polarity
and frame rate: these tests write such recordings and check that the pulse comes through the
simulated MAX30102, the firmware's driver and its beat detector at the right rate.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "firmware" / "ports" / "sim"))

import i2c  # noqa: E402
import scenario  # noqa: E402
from cocoon.core.beats import BeatDetector  # noqa: E402
from cocoon.drivers.max30102 import MAX30102  # noqa: E402


def write_recording(
    folder: Path,
    bpm: float = 66.0,
    seconds: float = 70.0,
    fps: float = 30.0,
    scale: float = 1.0,
    offset: float = 200.0,
    volume_polarity: bool = False,
    extra: dict[str, object] | None = None,
    seed: int = 1,
) -> float:
    """A camera-like PPG.csv (irregular frame times) and its RR.txt; returns the true bpm."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    beats, t = [], 0.0
    while t < seconds + 2:
        ibi = 60.0 / bpm * (1 + 0.03 * math.sin(2 * math.pi * t / 4.5))
        beats.append(t)
        t += ibi
    rr = [1000 * (beats[i + 1] - beats[i]) for i in range(len(beats) - 1)]
    extra = extra or {}
    names = ["pulse", *extra]
    lines = ["time," + ",".join(names)]
    t, k = 0.0, 0
    while t < seconds:
        while k + 1 < len(beats) and beats[k + 1] <= t:
            k += 1
        ph = (t - beats[k]) / (beats[k + 1] - beats[k])
        vol = min(1.0, ph / 0.12) if ph < 0.12 else math.exp(-(ph - 0.12) * 3.0)
        v = vol if volume_polarity else -vol
        x = offset + scale * (v + 0.05 * rng.gauss(0, 1))
        cols = [f"{x:.4f}"] + [str(f(t) if callable(f) else f) for f in extra.values()]
        lines.append(f"{round(t * 1000)}," + ",".join(cols))
        t += (1.0 / fps) * rng.uniform(0.7, 1.3)
    (folder / "PPG.csv").write_text("\n".join(lines) + "\n")
    (folder / "RR.txt").write_text(" ".join(f"{v:.0f}" for v in rr))
    return 60000.0 / (sum(rr) / len(rr))


def run_chain(sc, seconds: float) -> BeatDetector:
    clock = i2c.StepClock()
    bus = i2c.SimI2C(clock, sc)
    ppg = MAX30102(bus)
    ppg.init()
    det = BeatDetector(ppg.period_us)
    red, ir = array("i", [0] * 32), array("i", [0] * 32)
    for _ in range(int(seconds * 10)):
        clock.advance_us(100000)
        det.feed(ir, ppg.read(red, ir))
    return det


def mean_bpm(det: BeatDetector) -> float:
    n, mean_ms, rmssd_ms, pct = det.take_epoch()
    assert mean_ms, "the detector found no reading"
    return 60000.0 / mean_ms


def test_spec_parsing():
    assert scenario.parse_spec("synthetic:bpm=58,seed=3") == (
        "synthetic",
        {"bpm": "58", "seed": "3"},
    )
    assert scenario.parse_spec("replay:/a/b,loop=0") == ("replay", {"path": "/a/b", "loop": "0"})
    assert scenario.parse_spec("") == ("synthetic", {})
    sc = scenario.build("synthetic:bpm=48,resp=10,hrv=0,noise=0,motion=0")
    assert (sc.bpm, sc.resp_per_min, sc.hrv_ms, sc.noise) == (48, 10, 0, 0)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("dream", "unknown scenario 'dream'"),
        ("synthetic:bpm=fast", "bpm=fast is not a number"),
        ("synthetic:bpm=900", "bpm=900 is outside"),
        ("synthetic:colour=red", "does not know colour"),
        ("synthetic:drop_chip=led", "drop_chip=led"),
        ("replay", "replay needs a folder"),
        ("replay:/nowhere/at/all", "cannot read /nowhere/at/all/PPG.csv"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, words):
    with pytest.raises(scenario.ScenarioError) as e:
        scenario.build(spec)
    assert words in str(e.value)
    assert isinstance(e.value, ValueError)  # the virtual board reports ValueErrors as one line


def test_bad_recordings_say_where(tmp_path):
    rec = tmp_path / "r"
    rec.mkdir()
    (rec / "PPG.csv").write_text("time,R\n0,1\n33,x\n")
    with pytest.raises(scenario.ScenarioError, match="line 3: not a number"):
        scenario.build(f"replay:{rec}")
    (rec / "PPG.csv").write_text("time,R\n" + "".join(f"{i * 33},5\n" for i in range(50)))
    with pytest.raises(scenario.ScenarioError, match="no channel .* carries a pulse"):
        scenario.build(f"replay:{rec}")
    with pytest.raises(scenario.ScenarioError, match="channel=Q is not in"):
        scenario.build(f"replay:{rec},channel=Q")


def test_synthetic_is_deterministic_and_beats_at_its_rate():
    a = scenario.build("synthetic:bpm=75,seed=9")
    b = scenario.build("synthetic:bpm=75,seed=9")
    va = [a.ppg(t) for t in range(0, 60_000_000, 7_000)]
    vb = [b.ppg(t) for t in range(0, 60_000_000, 7_000)]
    assert va == vb
    ibis = [a.beats_us[i + 1] - a.beats_us[i] for i in range(len(a.beats_us) - 1)]
    assert abs(60e6 / (sum(ibis) / len(ibis)) - 75) < 1.0
    c = scenario.build("synthetic:bpm=75,seed=10")
    assert [c.ppg(t) for t in range(0, 60_000_000, 7_000)] != va


def test_synthetic_through_the_sensor_chain():
    det = run_chain(scenario.build("synthetic:bpm=52,motion=0"), 90)
    assert abs(mean_bpm(det) - 52) < 1.0


def test_faults_follow_the_clock():
    sc = scenario.build(
        "synthetic:drop_at=10,back_at=20,saturate_at=30,saturate_for=5,off_at=40,loose_at=50"
    )
    assert sc.present("max30102", 9_999_999) and not sc.present("max30102", 10_000_000)
    assert sc.present("mpu6050", 15_000_000)  # only the heart sensor drops by default
    assert sc.present("max30102", 20_000_000)
    assert sc.ppg(32_000_000) == (scenario.FLOOD_NA_PER_MA, scenario.FLOOD_NA_PER_MA)
    assert sc.ppg(41_000_000)[1] < 10  # finger off: almost no light comes back
    assert sc.ppg(36_000_000)[1] > 100


def test_loose_finger_and_flood_are_no_reading():
    for spec in ("synthetic:loose_at=0,loose_for=300,motion=0", "synthetic:saturate_at=0"):
        det = run_chain(scenario.build(spec), 60)
        assert det.hr_x10 == 0
        assert det.take_epoch()[1] == 0


def test_replay_of_the_usual_format(tmp_path):
    true_bpm = write_recording(tmp_path / "rec", bpm=66)
    sc = scenario.build(f"replay:{tmp_path / 'rec'},loop=0")
    assert sc.channel == "pulse" and not sc.inverted
    assert abs(mean_bpm(run_chain(sc, 68)) - true_bpm) < 1.0


@pytest.mark.parametrize(
    ("fps", "scale", "offset", "volume", "bpm"),
    [
        (12.0, 0.004, 0.0, True, 58),  # a slow sensor in volts, zero-centred, blood-volume up
        (250.0, 3000.0, 1e5, False, 92),  # a fast sensor in raw counts
        (30.0, -1.0, -50.0, True, 75),  # negative units and flipped twice: intensity again
    ],
)
def test_replay_whatever_the_units_rate_and_polarity(tmp_path, fps, scale, offset, volume, bpm):
    true_bpm = write_recording(
        tmp_path / "r", bpm=bpm, fps=fps, scale=scale, offset=offset, volume_polarity=volume
    )
    sc = scenario.build(f"replay:{tmp_path / 'r'},loop=0")
    assert abs(mean_bpm(run_chain(sc, 68)) - true_bpm) < 1.0


def test_replay_picks_the_pulse_channel(tmp_path):
    true_bpm = write_recording(
        tmp_path / "r",
        bpm=80,
        extra={"stuck": 255.0, "flat": 0.0, "drift": lambda t: 100 + 5 * math.sin(t / 9)},
    )
    sc = scenario.build(f"replay:{tmp_path / 'r'},loop=0")
    assert sc.channel == "pulse"
    assert abs(mean_bpm(run_chain(sc, 68)) - true_bpm) < 1.0


def test_replay_loops(tmp_path):
    write_recording(tmp_path / "r", seconds=20)
    sc = scenario.build(f"replay:{tmp_path / 'r'}")
    d = sc.duration_ms
    assert sc.value_at(1234.0) == pytest.approx(sc.value_at(1234.0 + d))
    once = scenario.build(f"replay:{tmp_path / 'r'},loop=0")
    assert once.value_at(d + 10) is None
    assert once.ppg(int((d + 10) * 1000))[1] == scenario.NO_FINGER_NA_PER_MA


def test_shared_recordings_pick_a_pulsing_channel(shared_data):
    folder = shared_data / "welltory-ppg"
    for rec in sorted(p for p in folder.iterdir() if (p / "PPG.csv").exists()):
        sc = scenario.build(f"replay:{rec}")
        times, channels = scenario.read_csv(str(rec / "PPG.csv"))
        scores = {k: scenario.periodicity(times, v) for k, v in channels.items()}
        assert sc.channel == max(scores, key=scores.get)
        assert scores[sc.channel] > 0.1


def test_shared_recordings_replay_within_a_nights_heap(shared_data):
    # `cocoon night` gives the board a heap close to an ESP32's (doubled for 64-bit objects); a
    # recording and its analysis must fit in it (one board, one recording).
    from cocoon_host import night

    mp = Path(sys.executable).parent / "micropython"
    sim = ROOT / "firmware" / "ports" / "sim"
    script = f"import sys\nsys.path.insert(0, {str(sim)!r})\nimport scenario\n"
    script += "print(scenario.build('replay:' + sys.argv[-1]).channel)\n"
    folders = [p for p in (shared_data / "welltory-ppg").iterdir() if (p / "PPG.csv").exists()]
    assert len(folders) >= 10
    for folder in sorted(folders):
        proc = subprocess.run(
            [str(mp), "-X", f"heapsize={night.HEAP_KB}k", "-c", script, str(folder)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, (folder.name, proc.stderr[-300:])
        assert proc.stdout.strip(), folder.name
