# The streaming beat detector (cocoon/core/beats.py) on generated PPG, on both interpreters.
import sys
from array import array

sys.path.append(__file__.rsplit("/", 1)[0])

import micropython  # noqa: E402
import ppgsynth  # noqa: E402
from cocoon.core.beats import (  # noqa: E402
    QUALITY_MIN,
    TICKS_MASK,
    BeatDetector,
    ticks_diff,
)
from cocoon.core.intmath import isqrt  # noqa: E402
from mpt import is_micropython, raises  # noqa: E402


def sinus_ibis(n, mean_ms=850, swing_ms=40):
    # breathing-like swing of the intervals (a triangle over 5 beats), integers only
    tri = (0, 1, 2, 1, 0, -1, -2, -1)
    return [mean_ms + swing_ms * tri[i % 8] // 2 for i in range(n)]


def intervals_ms(beats):
    return [ticks_diff(beats[i + 1], beats[i]) / 1000 for i in range(len(beats) - 1)]


def test_steady_rate_is_read_to_a_tenth_of_a_bpm():
    samples, onsets = ppgsynth.make([833] * 70, noise=60)  # 72.0 bpm
    det = BeatDetector()
    beats = ppgsynth.feed(det, samples)
    assert det.quality >= QUALITY_MIN
    assert abs(det.hr_x10 - 720) <= 1
    assert len(beats) >= 64  # every beat after the first few (the chain starts from 4)
    n, mean_ms, rmssd_ms, reading_pct = det.take_epoch()
    assert n >= 60 and abs(mean_ms - 833) <= 1 and reading_pct >= 80


def test_beat_times_follow_the_true_beats_to_a_few_ms():
    ibis = sinus_ibis(80)
    samples, onsets = ppgsynth.make(ibis, noise=20)
    det = BeatDetector()
    beats = ppgsynth.feed(det, samples)
    # the fiducial (steepest rise) sits a fixed-ish time after the onset: compare intervals
    got = intervals_ms(beats)
    k = 0
    while ticks_diff(beats[0], onsets[k]) > 300000:
        k += 1
    worst = 0
    for i in range(len(got)):
        err = abs(got[i] - ibis[k + i])
        worst = max(worst, err)
    assert len(got) >= 70
    assert worst < 12  # a sample is 10 ms: the parabola places beats between samples
    # the beats are ~1 s behind the newest sample, not more
    assert ticks_diff(det.t_us, beats[-1]) < 2500000


def test_rmssd_of_alternating_intervals():
    samples, onsets = ppgsynth.make([800, 900] * 35, noise=10)
    det = BeatDetector()
    ppgsynth.feed(det, samples)
    assert 90 <= det.rmssd_ms <= 110
    n, mean_ms, rmssd_ms, pct = det.take_epoch()
    assert 90 <= rmssd_ms <= 110 and 840 <= mean_ms <= 860


def test_noise_alone_is_no_reading():
    shown = 0
    seconds = 0
    for seed in (1, 2, 3, 4):
        samples, onsets = ppgsynth.make([1000] * 60, noise=400, ac=0, seed=seed)
        det = BeatDetector()
        buf = array("i", [0] * 100)
        for start in range(0, len(samples) - 100, 100):
            for j in range(100):
                buf[j] = samples[start + j]
            det.feed(buf, 100)
            seconds += 1
            if det.hr_x10:
                shown += 1
        n, mean_ms, rmssd_ms, pct = det.take_epoch()
        assert mean_ms == 0 and rmssd_ms == 0 and pct < 50  # the epoch has no heart rate
    assert shown * 10 < seconds  # a number on show less than a tenth of the time


def test_clipping_or_no_finger_is_no_reading():
    for dc in (0x3FFFF + 5000, 2000):  # flooded by ambient light; nothing on the sensor
        samples, onsets = ppgsynth.make([800] * 40, noise=30, dc=dc)
        for i in range(len(samples)):
            samples[i] = max(0, min(0x3FFFF, samples[i]))
        det = BeatDetector()
        ppgsynth.feed(det, samples)
        assert not det.contact
        assert det.quality == 0 and det.hr_x10 == 0


def test_missed_beats_do_not_bend_the_rate():
    samples, onsets = ppgsynth.make([1000] * 70, noise=30, skip=(20, 35, 50))
    det = BeatDetector()
    ppgsynth.feed(det, samples)
    n, mean_ms, rmssd_ms, pct = det.take_epoch()
    assert abs(mean_ms - 1000) <= 2  # no doubled interval was accepted
    assert n >= 45


def test_rate_changes_are_followed():
    ibis = [1000] * 30 + [1000 - 15 * i for i in range(20)] + [700] * 30
    samples, onsets = ppgsynth.make(ibis, noise=30)
    det = BeatDetector()
    ppgsynth.feed(det, samples)
    assert abs(det.hr_x10 - 857) <= 5  # 60000 / 700 ms = 85.7 bpm at the end


def test_lost_samples_break_the_interval_chain():
    samples, onsets = ppgsynth.make([900] * 60, noise=20)
    det = BeatDetector()
    half = len(samples) // 2
    ppgsynth.feed(det, samples[:half])
    det.gap(37)  # 370 ms of samples lost in a FIFO overflow
    after = array("i", samples[half + 37 :])
    ppgsynth.feed(det, after)
    n, mean_ms, rmssd_ms, pct = det.take_epoch()
    assert abs(mean_ms - 900) <= 2 and n >= 45


def test_times_wrap_at_2_to_the_30_like_ticks():
    samples, onsets = ppgsynth.make([750] * 50, noise=20)
    det = BeatDetector()
    det.t_us = TICKS_MASK - 20000000  # 20 s before the wrap
    beats = ppgsynth.feed(det, samples)
    assert any(b < 10000000 for b in beats) and any(b > TICKS_MASK - 20000000 for b in beats)
    assert all(0 <= b <= TICKS_MASK for b in beats)
    assert all(abs(d - 750) < 12 for d in intervals_ms(beats))
    assert abs(det.hr_x10 - 800) <= 1


def test_other_sample_rates():
    for period_us in (20000, 5000):  # 50 and 200 samples/s
        step = period_us // ppgsynth.PERIOD_US if period_us >= ppgsynth.PERIOD_US else 1
        samples, onsets = ppgsynth.make([850] * 50, noise=20)
        if period_us > ppgsynth.PERIOD_US:
            samples = array("i", [samples[i] for i in range(step - 1, len(samples), step)])
        else:  # 200 samples/s: repeat each sample (a crude but honest upsampling)
            samples = array("i", [samples[i // 2] for i in range(2 * len(samples))])
        det = BeatDetector(period_us)
        ppgsynth.feed(det, samples)
        assert abs(det.hr_x10 - 706) <= 2, (period_us, det.hr_x10)
    raises(ValueError, BeatDetector, 1000)


def test_feed_allocates_nothing_once_running():
    samples, onsets = ppgsynth.make([800] * 30, noise=30)
    det = BeatDetector()
    buf = array("i", [0] * 10)
    beats_before = 0
    for start in range(0, len(samples) - 10, 10):
        for j in range(10):
            buf[j] = samples[start + j]
        if start == 2000:  # after 20 s the tracker runs: lock the heap from here on
            beats_before = det.beats_total
            if is_micropython():
                micropython.heap_lock()
        try:
            det.feed(buf, 10)
            det.take_beat()
        finally:
            if start >= 2000 and is_micropython():
                micropython.heap_unlock()
    assert det.beats_total - beats_before >= 3  # beats were found while the heap was locked


def test_helpers():
    assert ticks_diff(5, TICKS_MASK - 4) == 10
    assert ticks_diff(TICKS_MASK - 4, 5) == -10
    assert [isqrt(v) for v in (0, 1, 2, 3, 4, 99, 100, 101, (1 << 30) - 1)] == [
        0, 1, 1, 1, 2, 9, 10, 10, 32767,
    ]  # fmt: skip


def test_reset_starts_exactly_afresh():
    first, _ = ppgsynth.make([700] * 30, noise=300, seed=3)
    second, _ = ppgsynth.make([900] * 40, noise=30, seed=4)
    used = BeatDetector()
    ppgsynth.feed(used, first)
    used.reset()
    fresh = BeatDetector()
    assert ppgsynth.feed(used, second) == ppgsynth.feed(fresh, second)
    assert used.take_epoch() == fresh.take_epoch()
    assert used.hr_x10 == fresh.hr_x10 and used.quality == fresh.quality
