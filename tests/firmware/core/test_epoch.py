# Streaming epoch features (cocoon.core.epoch), on CPython and on the MicroPython unix port.
# test_epoch_props.py compares them with a float reproduction of Walch's own code.
import micropython
from cocoon.core.epoch import DELAY_EPOCHS, EPOCH_S, EpochFeatures
from cocoon.core.intmath import isqrt
from mpt import is_micropython


def _run(ef, seconds, hr_of, count_of):
    out = []
    for s in range(seconds):
        ef.push_second(hr_of(s))
        if s % 15 == 14:
            ef.push_count(count_of(s // 15))
        while ef.take_epoch():
            out.append((ef.epoch_n, ef.count_q8, ef.hr_q12, ef.valid, ef.hr_x10))
    return out


def test_isqrt():
    for n in (0, 1, 2, 3, 4, 15, 16, 17, 99, 100, 12345, (1 << 29) - 1, (1 << 30) - 1):
        r = isqrt(n)
        assert r * r <= n < (r + 1) * (r + 1), n


def test_each_epoch_is_published_once_in_order_with_the_delay():
    ef = EpochFeatures()
    published_at = []
    for s in range(40 * EPOCH_S):
        ef.push_second(600)
        if s % 15 == 14:
            ef.push_count(0)
        while ef.take_epoch():
            published_at.append((ef.epoch_n, s))
    assert [e for e, _ in published_at] == list(range(len(published_at)))
    assert len(published_at) == 40 - DELAY_EPOCHS
    for e, s in published_at:
        # Ready as soon as its samples are in: during epoch e + DELAY_EPOCHS + 1.
        assert (e + DELAY_EPOCHS) * EPOCH_S <= s < (e + DELAY_EPOCHS + 1) * EPOCH_S


def test_a_steady_heart_has_no_variability_and_still_counts_are_zero():
    out = _run(EpochFeatures(), 60 * EPOCH_S, lambda s: 583, lambda k: 10)
    assert out
    for _, count_q8, hr_q12, valid, hr_x10 in out:
        assert hr_q12 == 0
        assert count_q8 == 0  # 10 < Walch's offset of 18
        assert valid
        assert hr_x10 == 583


def test_no_reading_gives_invalid_epochs():
    out = _run(EpochFeatures(), 40 * EPOCH_S, lambda s: 0, lambda k: 0)
    assert out and all(not valid for _, _, _, valid, _ in out)
    assert all(hr_x10 == 0 for *_, hr_x10 in out)


def test_a_varying_heart_raises_the_hr_feature():
    calm = _run(EpochFeatures(), 80 * EPOCH_S, lambda s: 600 + (s // 60) % 2, lambda k: 0)
    wild = _run(EpochFeatures(), 80 * EPOCH_S, lambda s: 600 + 40 * ((s // 60) % 2), lambda k: 0)
    assert calm[-1][2] < wild[-1][2]
    # The running scale adapts: a whole night of the same wandering reads the same late on.
    assert abs(wild[-1][2] - wild[-10][2]) < wild[-1][2] // 5


def test_one_movement_shows_in_the_epochs_around_it():
    # One 15-s count of 200 at count index 80 (seconds 1200..1215, epoch 40).
    out = _run(EpochFeatures(), 80 * EPOCH_S, lambda s: 600, lambda k: 200 if k == 80 else 0)
    by_epoch = {e: c for e, c, *_ in out}
    peak = max(by_epoch, key=lambda e: by_epoch[e])
    assert peak in (39, 40)
    assert by_epoch[30] == 0 and by_epoch[50] == 0  # the Gaussian (sigma 50 s) has died out
    # (200 - 18) * 3.07 = 558.7 counts spread by the smoothing: the peak keeps a fraction.
    assert 0.05 * 558.7 * 256 < by_epoch[peak] < 0.3 * 558.7 * 256


def test_out_of_range_inputs_are_clamped():
    ef = EpochFeatures()
    out = _run(
        ef, 40 * EPOCH_S, lambda s: -5 if s % 2 else 10**9, lambda k: 10**9 if k % 2 else -9
    )
    assert out
    for _, count_q8, hr_q12, _, _ in out:
        assert 0 <= count_q8 <= (1920 - 18) * 786
        assert 0 <= hr_q12 < (1 << 24)


def test_taking_epochs_too_late_says_invalid_rather_than_guessing():
    ef = EpochFeatures()
    for s in range(60 * EPOCH_S):
        ef.push_second(600 + (s % 7))
        if s % 15 == 14:
            ef.push_count(0)
    assert ef.take_epoch()  # epoch 0's window has left the ring by now
    assert ef.epoch_n == 0 and not ef.valid


def test_reset_starts_a_new_night():
    ef = EpochFeatures()
    _run(ef, 30 * EPOCH_S, lambda s: 700, lambda k: 0)
    ef.reset()
    assert ef.seconds == 0
    out = _run(ef, 20 * EPOCH_S, lambda s: 650, lambda k: 0)
    assert out[0][0] == 0 and out[0][4] == 650


def test_steady_state_allocates_nothing():
    ef = EpochFeatures()
    for s in range(20 * EPOCH_S):
        ef.push_second(600)
        if s % 15 == 14:
            ef.push_count(30)
        ef.take_epoch()
    published = 0
    hr = 600
    if is_micropython():
        micropython.heap_lock()
    try:
        for s in range(20 * EPOCH_S, 40 * EPOCH_S):
            hr = 500 + (hr * 13 + 7) % 300
            ef.push_second(hr if s % 11 else 0)
            if s % 15 == 14:
                ef.push_count(hr % 200)
            if ef.take_epoch():
                published += 1
    finally:
        if is_micropython():
            micropython.heap_unlock()
    assert published == 20
