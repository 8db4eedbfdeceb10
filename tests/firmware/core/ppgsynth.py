"""A small PPG generator for the beat detector's tests (both interpreters): raw MAX30102-like
counts from a list of beat intervals, integers only, deterministic.

    samples, onsets_us = ppgsynth.make([800] * 60, noise=40)
"""

from array import array

PERIOD_US = 10000  # 100 samples/s
DC = 120000  # a fingertip at mid-scale of the 18-bit ADC
AC = 2400  # 2 % pulse


RISE_US = 120000  # the systolic upstroke lasts about as long whatever the interval


def _shape(dt_us, ibi_us):
    """Blood volume dt_us into a beat of ibi_us, 0..1024: a quick rise, then a slower fall."""
    if dt_us < RISE_US:
        u = dt_us * 1024 // RISE_US
        return u * u * (3072 - 2 * u) >> 20  # smoothstep
    return 1024 - (dt_us - RISE_US) * 1024 // (ibi_us - RISE_US)


def make(ibis_ms, noise=0, start_us=500000, seed=1, skip=(), dc=DC, ac=AC):
    """Samples (array('i')) and the true beat onsets (us). Beats whose index is in `skip` have no
    pulse (a missed beat for the detector)."""
    onsets = []
    t = start_us
    for ibi in ibis_ms:
        onsets.append(t)
        t += ibi * 1000
    n = t // PERIOD_US + 50
    out = array("i", [0] * n)
    k = 0
    state = seed * 2654435761 & 0xFFFFFFFF or 1
    for i in range(n):
        ts = (i + 1) * PERIOD_US
        while k + 1 < len(onsets) and onsets[k + 1] <= ts:
            k += 1
        v = 0
        if onsets and ts >= onsets[0] and k not in skip:
            ibi = onsets[k + 1] - onsets[k] if k + 1 < len(onsets) else ibis_ms[-1] * 1000
            if ts - onsets[k] < ibi:
                v = _shape(ts - onsets[k], ibi)
        r = 0
        if noise:
            state ^= (state << 13) & 0xFFFFFFFF
            state ^= state >> 17
            state ^= (state << 5) & 0xFFFFFFFF
            r = (state % (2 * noise + 1)) - noise
        out[i] = dc - ac * v // 1024 + r  # light drops as blood volume rises
    return out, onsets


def feed(det, samples, block=10):
    """Feed in FIFO-sized blocks, collecting beat times."""
    beats = []
    buf = array("i", [0] * block)
    i = 0
    n = len(samples)
    while i < n:
        m = min(block, n - i)
        for j in range(m):
            buf[j] = samples[i + j]
        det.feed(buf, m)
        i += m
        while True:
            b = det.take_beat()
            if b < 0:
                break
            beats.append(b)
    return beats
