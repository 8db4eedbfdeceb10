"""Epoch features against a float reproduction of Walch's feature code (CPython only: numpy and
hypothesis), and the 31-bit check of every integer inside them.

The reference follows ojwalch/sleep_classifiers (source/utils.py smooth_gauss, convolve_with_dog;
preprocessing/*_feature_service.py): whole-night processing, which the device cannot do. So the
comparison is made where the two must agree: the count feature, and the HR feature before its
normalisation (std of the filtered HR), away from the night's edges; the device's running HR scale
is compared with the whole-night one at the end of the night.
"""

from __future__ import annotations

import numpy as np
import pytest
from cocoon.core import epoch
from cocoon.core.epoch import EpochFeatures
from hypothesis import given, settings
from hypothesis import strategies as st
from int31 import I31, checked


def smooth_gauss(y, box_pts):
    mu = int(box_pts / 2.0)
    box = np.exp(-0.5 * ((np.arange(box_pts) - mu) / 50.0) ** 2)
    return float((box / box.sum() * y).sum())


def convolve_with_dog(y, box_pts):
    y = y - np.mean(y)
    ind = np.arange(box_pts)
    mu = int(box_pts / 2.0)
    box = np.exp(-0.5 * ((ind - mu) / 120) ** 2) - 0.75 * np.exp(-0.5 * ((ind - mu) / 600) ** 2)
    y = np.insert(y, 0, np.flip(y[0 : int(box_pts / 2)]))
    y = np.insert(y, len(y) - 1, np.flip(y[int(-box_pts / 2) :]))
    return np.convolve(y, box, mode="valid")


def walch(hr_bpm, counts15, n_epochs):
    t = np.arange(len(hr_bpm), dtype=float)
    dog = convolve_with_dog(hr_bpm.astype(float), 285)
    scalar = np.percentile(np.abs(dog), 90)
    c = (np.asarray(counts15, float) - 18) * 3.07
    c[c < 0] = 0
    tc = 15.0 * np.arange(len(c))
    ti = np.arange(tc.min(), tc.max(), 1)
    ci = np.interp(ti, tc, c)
    count, hr_std = [], []
    for e in range(n_epochs):
        t0 = 30 * e
        m = (t > t0 - 285) & (t < t0 + 315)
        hr_std.append(np.std(dog[m]))
        mc = (ti > t0 - 285) & (ti < t0 + 315)
        count.append(smooth_gauss(ci[mc], int(mc.sum())))
    return np.array(count), np.array(hr_std), scalar


def synthetic_night(seed, hours=3.0):
    rng = np.random.default_rng(seed)
    n = int(hours * 3600)
    t = np.arange(n)
    slow = np.convolve(rng.normal(0, 1, n + 400), np.ones(120) / np.sqrt(120), "same")[:n]
    hr = 58 + 4 * np.sin(2 * np.pi * t / 1300) + 2.0 * slow
    counts = np.where(
        rng.random(n // 15) < 0.08, rng.integers(0, 600, n // 15), rng.integers(0, 25, n // 15)
    )
    return hr, counts


def run_device(hr, counts):
    ef = EpochFeatures()
    rows = []
    for s in range(len(hr)):
        ef.push_second(int(round(hr[s] * 10)))
        if s % 15 == 14:
            ef.push_count(int(counts[s // 15]))
        while ef.take_epoch():
            rows.append((ef.count_q8 / 256, ef.hr_q12 * ef.scale / 4096, ef.scale))
    return np.array(rows)


@pytest.mark.parametrize("seed", [1, 2])
def test_features_match_walchs_code(seed):
    hr, counts = synthetic_night(seed)
    dev = run_device(hr, counts)
    count, hr_std, scalar = walch(hr, counts, len(dev))
    mid = slice(20, len(dev) - 2)  # away from lights-out, where the edge rules differ
    # Count feature: same up to integer rounding.
    err = np.abs(dev[mid, 0] - count[mid]) / (count[mid] + 1.0)
    assert err.max() < 0.02, err.max()
    # HR feature before normalisation: filter and std in dog_q units (0.2 bpm, see epoch.py).
    ratio = dev[mid, 1] / (hr_std[mid] * 5.0)
    assert np.median(np.abs(ratio - 1)) < 0.005
    assert np.abs(ratio - 1).max() < 0.02
    # The running scale ends the night near the whole-night 90th percentile (log bins: ~4%).
    assert abs(dev[-1, 2] / (scalar * 5.0) - 1) < 0.08


INPUT = st.tuples(
    st.integers(-(1 << 40), 1 << 40), st.integers(-(1 << 40), 1 << 40), st.booleans()
)


@settings(max_examples=25, deadline=None)
@given(st.lists(INPUT, min_size=1, max_size=12), st.integers(0, 3))
def test_every_integer_stays_in_31_bits(pattern, offset):
    clamp = lambda v: I31(max(-(1 << 30), min((1 << 30) - 1, v)))  # noqa: E731
    with checked(epoch):
        ef = epoch.EpochFeatures()
        seconds = 30 * (epoch.DELAY_EPOCHS + 3) + offset * 17
        for s in range(seconds):
            hr, count, gap = pattern[s % len(pattern)]
            ef.push_second(clamp(0 if gap else hr))
            if s % 15 == 14:
                ef.push_count(clamp(count))
            if ef.take_epoch():
                assert 0 <= ef.count_q8 < (1 << 30) and 0 <= ef.hr_q12 < (1 << 30)
        assert ef.epoch_n >= 2
        assert type(ef._dog[0]) is I31  # the instrumentation is live


def test_extreme_heart_rate_swings_stay_in_31_bits():
    with checked(epoch):
        ef = epoch.EpochFeatures()
        for s in range(30 * 40):
            ef.push_second(I31(2999 if (s // 100) % 2 else 1))
            if s % 15 == 14:
                ef.push_count(I31(1920))
            ef.take_epoch()
        assert ef.hr_q12 > 0
