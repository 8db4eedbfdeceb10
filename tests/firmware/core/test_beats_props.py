# Properties of the beat detector (CPython only: hypothesis). Everything stays a 31-bit small int
# (as on the ESP32, where larger values would be heap-allocated longs) whatever comes in.
import sys
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.append(__file__.rsplit("/", 1)[0])

import ppgsynth  # noqa: E402
from cocoon.core.beats import QUALITY_MIN, BeatDetector  # noqa: E402

SMALL = 1 << 30


def assert_small_ints(obj):
    for name, v in vars(obj).items():
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            assert -SMALL <= v < SMALL, (name, v)
        elif isinstance(v, array):
            for x in v:
                assert -SMALL <= x < SMALL, (name, x)


segments = st.lists(
    st.tuples(
        st.sampled_from(["flat", "noise", "ramp", "spike", "clip", "pulse"]),
        st.integers(0, 0x3FFFF),
        st.integers(1, 400),
        st.integers(0, 2**31 - 1),
    ),
    min_size=1,
    max_size=20,
)


def build(segs):
    out = []
    for kind, level, length, seed in segs:
        s = seed or 1
        for i in range(length):
            s = (s * 1103515245 + 12345) & 0x7FFFFFFF
            if kind == "flat":
                v = level
            elif kind == "noise":
                v = level + (s >> 8) % 20001 - 10000
            elif kind == "ramp":
                v = level + 300 * i
            elif kind == "spike":
                v = 0x3FFFF if i % 7 == 0 else level
            elif kind == "clip":
                v = 0x3FFFF
            else:
                v = level - (2000 if i % 80 < 12 else 0)
            out.append(min(0x3FFFF, max(0, v)))
    return array("i", out)


@settings(max_examples=60, deadline=None)
@given(segments, st.integers(0, (1 << 30) - 1), st.sampled_from([5000, 10000, 20000]))
def test_any_input_keeps_state_small_and_outputs_sane(segs, t0_us, period_us):
    det = BeatDetector(period_us)
    det.t_us = t0_us
    samples = build(segs)
    beats = ppgsynth.feed(det, samples, block=32)
    assert_small_ints(det)
    assert 0 <= det.quality <= 100
    assert det.hr_x10 == 0 or 250 <= det.hr_x10 <= 2400
    assert det.hr_x10 == 0 or det.quality >= QUALITY_MIN
    assert all(0 <= b < SMALL for b in beats)
    n, mean_ms, rmssd_ms, pct = det.take_epoch()
    assert 0 <= pct <= 100 and (mean_ms == 0 or 250 <= mean_ms <= 2000)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(500, 1300),
    st.lists(st.integers(-30, 30), min_size=60, max_size=60),
    st.integers(0, 200),
    st.integers(1, 1000),
)
def test_clean_pulses_give_the_true_mean_interval(mean_ms, jitter, noise, seed):
    ibis = [mean_ms + j * mean_ms // 1000 for j in jitter]  # +-3 % beat to beat
    samples, onsets = ppgsynth.make(ibis, noise=noise, seed=seed)
    det = BeatDetector()
    ppgsynth.feed(det, samples)
    n, got_ms, rmssd_ms, pct = det.take_epoch()
    true_ms = sum(ibis) / len(ibis)
    assert n >= 40
    assert abs(got_ms - true_ms) <= true_ms * 0.01 + 1
