# Activity counts (cocoon/core/activity.py), on both interpreters.
import math
from array import array

import micropython
from cocoon.core.activity import ActivityCounter
from mpt import is_micropython, raises

LSB = 16384  # +-2 g


def still(seconds, noise_lsb=30, seed=7):
    """Lying still: 1 g on z and a little sensor noise (integers, deterministic)."""
    n = 50 * seconds
    ax = array("i", [0] * n)
    ay = array("i", [0] * n)
    az = array("i", [0] * n)
    s = seed
    for i in range(n):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        ax[i] = (s >> 8) % (2 * noise_lsb + 1) - noise_lsb
        ay[i] = (s >> 4) % (2 * noise_lsb + 1) - noise_lsb
        az[i] = LSB + (s >> 12) % (2 * noise_lsb + 1) - noise_lsb
    return ax, ay, az


def shake(ax, ay, az, start_s, secs, amp_g, f_hz, axis=0):
    arr = (ax, ay, az)[axis]
    for i in range(50 * start_s, 50 * (start_s + secs)):
        arr[i] += int(amp_g * LSB * math.sin(2 * math.pi * f_hz * i / 50))


def counts(act, ax, ay, az, block=25):
    out = []
    for i in range(0, len(ax), block):
        m = min(block, len(ax) - i)
        act.feed(ax[i : i + m], ay[i : i + m], az[i : i + m], m)
        c = act.take_count()
        if c >= 0:
            out.append(c)
    return out


def test_still_is_fifteen_ones():
    act = ActivityCounter()
    ax, ay, az = still(60)
    assert counts(act, ax, ay, az) == [15, 15, 15, 15]  # bin 1 every second: (15-18)*3.07 < 0
    assert act.take_count() == -1  # taken already


def test_movement_in_band_counts_and_slow_tilt_does_not():
    act = ActivityCounter()
    ax, ay, az = still(60)
    shake(ax, ay, az, 17, 5, 0.3, 5.0)  # 5 s of 0.3 g at 5 Hz in the second 15 s
    for i in range(50 * 35, 50 * 45):  # a slow turn (0.5 Hz): below the 3-11 Hz band
        ay[i] += int(0.5 * LSB * math.sin(2 * math.pi * 0.5 * i / 50))
    c = counts(act, ax, ay, az)
    assert c[0] == 15 and c[3] == 15
    # 0.3 g at 5 Hz passes the band (~0.99): bin int(0.3 / (5/128)) + 1 = 8 for 5 seconds, and
    # the filters ring a little into the seconds around the start and the stop
    assert 15 + 5 * 6 <= c[1] <= 15 + 5 * 7 + 10
    assert c[2] <= 17  # the slow turn: the band-pass keeps it out


def test_a_large_shake_on_any_axis_saturates_gracefully():
    for axis in (0, 1, 2):
        act = ActivityCounter()
        ax, ay, az = still(15)
        shake(ax, ay, az, 2, 10, 1.9, 7.0, axis)  # near the +-2 g full scale
        c = counts(act, ax, ay, az)
        assert len(c) == 1 and 15 + 10 * 35 <= c[0] <= 1920


def test_gap_counts_as_still():
    act = ActivityCounter()
    ax, ay, az = still(10)
    counts(act, ax, ay, az)
    act.gap(250)  # 5 s lost
    c = counts(act, *still(1))
    assert c == [15] and act.counts_total == 1


def test_only_50_hz():
    raises(ValueError, ActivityCounter, 100)


def test_feed_allocates_nothing():
    act = ActivityCounter()
    ax, ay, az = still(2)
    shake(ax, ay, az, 0, 2, 0.5, 6.0)
    act.feed(ax, ay, az, 50)
    if is_micropython():
        micropython.heap_lock()
    try:
        act.feed(ax, ay, az, 50)
        act.take_count()
    finally:
        if is_micropython():
            micropython.heap_unlock()
    assert act.last_second_max > 1


def plain_band3(sos, z, xs):
    """The band-pass in plain integer Python: what band3 (viper on the board) must equal."""
    best = 0
    for axis in range(3):
        v = max(-16383, min(16383, xs[axis] >> 1))
        for k in range(4):
            j = 16 * axis + 4 * k
            c = sos[5 * k : 5 * k + 5]
            y = c[0] * v + c[1] * z[j] + c[2] * z[j + 1] - c[3] * z[j + 2] - c[4] * z[j + 3]
            y >>= 13
            y = max(-16383, min(16383, y))
            z[j + 1] = z[j]
            z[j] = v
            z[j + 3] = z[j + 2]
            z[j + 2] = y
            v = y
        best = max(best, abs(v))
    return best


def test_band3_matches_plain_integer_biquads_bit_for_bit():
    from cocoon.core import activity

    act = ActivityCounter()
    z_ref = [0] * 48
    s = 12345
    for i in range(3000):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        big = i % 400 < 40  # bursts up to full scale, then quiet: clamping and ringing
        span = 65535 if big else 801
        xs = [(s >> k) % span - span // 2 for k in (1, 5, 9)]
        xs[2] += 0 if big else LSB
        got = activity.band3(act._sos, act._z, xs[0], xs[1], xs[2])
        want = plain_band3(act._sos, z_ref, xs)
        assert got == want, (i, got, want)
    assert list(act._z) == z_ref
