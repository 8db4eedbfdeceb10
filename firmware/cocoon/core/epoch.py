"""Epoch features on the device: Walch 2019's activity-count and heart-rate features, streaming.

Reproduces the features of `../shared/data/walch2019-features` (see its README and Walch et al.
2019, SLEEP 42(12)) from what the sensor pipeline gives every second and every 15 s:
- count: the 15-s activity counts c become (c - 18) * 3.07 clipped at 0, are interpolated linearly
  to 1 Hz and smoothed by a Gaussian (sigma 50 s) centred on the epoch, over t-285 s .. t+315 s.
- HR: the heart rate at 1 Hz (the last reading held through gaps), filtered by Walch's 285-s
  difference of Gaussians, divided by the 90th percentile of its magnitude, and the standard
  deviation of that over t-285 s .. t+315 s.
What a device cannot do like the data set, and what it does instead:
- Both windows look ahead (the HR one 457 s, with the filter): epoch e is published DELAY_EPOCHS
  epochs after it ends (7.5 min), once the samples it needs have arrived.
- The HR scale (90th percentile of the filtered HR, and the night's mean HR it is taken around)
  covers the whole night in the data set; here it is a running estimate since lights-out, started
  from a prior worth PRIOR_S seconds at PRIOR_SCALE.
- Edges: before lights-out nothing exists; the filter holds the first reading (not a mirror) and
  the count smoothing renormalises over the counts it has.
Also per epoch: the mean heart rate, its level against the night's running mean, and the share of
seconds with a reading (an epoch whose HR window is mostly without readings is not valid).

    ef = EpochFeatures()                    # at lights-out
    ef.push_second(hr_x10)                  # every second: heart rate in 0.1 bpm, 0 = no reading
    ef.push_count(count)                    # every 15 s: sum of the 15 per-second maxima (0..1920)
    if ef.take_epoch(): stage = stager.update(ef.count_q8, ef.hr_q12, ef.epoch_n, ef.valid)

Integers only, within 31 bits; nothing allocates after construction.
"""

from array import array

from micropython import const

from cocoon.core.intmath import isqrt

EPOCH_S = const(30)
COUNT_S = const(15)
# Epoch e needs heart rate up to second 30e + 456 (std window to +314 s, filter +142 s): it is
# ready 457 s after it starts, i.e. 15 epochs after it ends.
_LOOKAHEAD_S = const(457)
DELAY_EPOCHS = const(15)
_HALF_K = const(142)  # the filter is 285 s long: 142 s each side
_WIN_LO = const(-284)  # std window relative to the epoch start: -284 .. +314 s (599 samples)
_WIN_N = const(599)
_Y_MASK = const(511)  # 1-Hz heart rate ring (>= 285 + slack)
_D_MASK = const(1023)  # 1-Hz filtered heart rate ring (>= 599 + lookahead)
_C_MASK = const(63)  # 15-s counts ring
_E_MASK = const(31)  # per-epoch ring (> DELAY_EPOCHS)
_CW_LO = const(-13)  # count k = 2e + j contributes for j = -13 .. 15
_CW_N = const(29)
_COUNT_OFFSET = const(18)  # Walch: (c - 18) * 3.07, clipped at 0
_COUNT_GAIN_Q8 = const(786)  # 3.07 * 256
_COUNT_MAX = const(1920)  # 15 s of the top bin (128)
_Y_MAX = const(2047)  # heart rate minus the night's first reading, 0.1 bpm: +-204.7 bpm
_DOG_MAX = const(32767)
_MEAN_CAP_S = const(65536)  # the night's mean HR uses the first ~18 h
_HIST_N = const(208)  # log-spaced bins of |filtered HR|, 16 per octave, values < 2^16
# Prior for the HR scale before the night has data: worth 10 minutes at PRIOR_SCALE (units of
# the filtered HR, dog_q); a resting heart rate wandering by ~1 bpm at the minute scale.
PRIOR_S = const(600)
PRIOR_SCALE = const(400)
_MIN_COVERAGE = const(300)  # an epoch needs readings in half of its 599-s HR window
_K_SUM_Q10 = const(18782)  # sum of all 285 filter taps, Q10 (18.34)

# Computed on the host from the definitions above (tests/host/test_model.py checks them).
# fmt: off
# Walch's difference-of-Gaussians taps (sigma 120 s minus 0.75 x sigma 600 s, 285 s long) by
# offset 0..142 s from the centre, Q10
_DOG_Q10 = (
    256, 256, 256, 256, 255, 255, 255, 254, 254, 253, 253, 252, 251, 250, 249, 248, 247, 246, 245,
    244, 242, 241, 239, 238, 236, 235, 233, 231, 229, 227, 225, 223, 221, 219, 217, 215, 212, 210,
    207, 205, 202, 200, 197, 194, 191, 189, 186, 183, 180, 177, 174, 170, 167, 164, 161, 157, 154,
    150, 147, 143, 140, 136, 132, 128, 125, 121, 117, 113, 109, 105, 101, 97, 93, 89, 85, 80, 76,
    72, 67, 63, 59, 54, 50, 45, 41, 36, 32, 27, 23, 18, 14, 9, 4, 0, -5, -10, -15, -19, -24, -29,
    -34, -39, -43, -48, -53, -58, -63, -68, -73, -78, -82, -87, -92, -97, -102, -107, -112, -117,
    -122, -127, -132, -137, -142, -146, -151, -156, -161, -166, -171, -176, -181, -186, -190,
    -195, -200, -205, -210, -215, -219, -224, -229, -234, -238,
)
# weight of the 15-s count k = 2e + j, j = -13..15, in epoch e's count feature, Q15
_COUNT_W_Q15 = (
    1, 2, 7, 18, 46, 107, 228, 443, 789, 1285, 1915, 2612, 3260, 3724, 3893, 3724, 3260, 2612,
    1915, 1285, 789, 443, 228, 107, 46, 18, 7, 2, 1,
)
# fmt: on


def _bin(v):
    # Log-spaced histogram bin of v >= 0: exact below 16, then 16 bins per octave.
    if v < 16:
        return v
    n = 4
    while v >> (n + 1):
        n += 1
    b = (n - 3) * 16 + ((v >> (n - 4)) & 15)
    return b if b < _HIST_N else _HIST_N - 1


def _bin_mid(b):
    # The middle of bin b's range of values.
    if b < 16:
        return b
    n = (b >> 4) + 3
    lo = (16 + (b & 15)) << (n - 4)
    return lo + ((1 << (n - 4)) >> 1)


class EpochFeatures:
    """Streaming epoch features; see the module docstring. Results after take_epoch() is True:
    epoch_n, count_q8, hr_q12, valid, hr_x10, hr_rel_x10, coverage_pct, scale."""

    def __init__(self):
        self._y = array("h", [0] * (_Y_MASK + 1))
        self._dog = array("h", [0] * (_D_MASK + 1))
        self._ok = bytearray(_D_MASK + 1)  # 1 where the second had a reading
        self._counts = array("i", [0] * (_C_MASK + 1))
        self._e_sum = array("i", [0] * (_E_MASK + 1))  # per epoch: sum of readings (0.1 bpm)
        self._e_n = array("h", [0] * (_E_MASK + 1))  # per epoch: seconds with a reading
        self._hist = array("i", [0] * _HIST_N)
        self.reset()

    def reset(self):
        """Lights-out: a new night starts now."""
        self.seconds = 0  # seconds pushed since lights-out
        self.n_counts = 0
        self._next_e = 0  # the next epoch to publish
        self._ref = 0  # the night's first reading (0.1 bpm), 0 = none yet
        self._last = 0
        self._sum_y = 0  # running sum of readings minus ref, for the night's mean
        self._n_y = 0
        for i in range(_HIST_N):
            self._hist[i] = 0
        self._hist[_bin(PRIOR_SCALE)] = PRIOR_S
        self._hist_n = PRIOR_S
        for i in range(_E_MASK + 1):
            self._e_sum[i] = 0
            self._e_n[i] = 0
        for i in range(_D_MASK + 1):
            self._ok[i] = 0
        self.epoch_n = -1
        self.count_q8 = 0
        self.hr_q12 = 0
        self.valid = False
        self.hr_x10 = 0
        self.hr_rel_x10 = 0
        self.coverage_pct = 0
        self.scale = PRIOR_SCALE

    # -- inputs ----------------------------------------------------------------------------------
    def push_count(self, count):
        """The activity count of the next 15 s (Walch's per-second maxima of 0..128, summed)."""
        if count < 0:
            count = 0
        elif count > _COUNT_MAX:
            count = _COUNT_MAX
        c = count - _COUNT_OFFSET
        self._counts[self.n_counts & _C_MASK] = c * _COUNT_GAIN_Q8 if c > 0 else 0
        self.n_counts += 1

    def push_second(self, hr_x10):
        """The heart rate of the next second in 0.1 bpm (0 or less: no reading)."""
        n = self.seconds
        ok = 1 if 0 < hr_x10 < 3000 else 0
        if ok:
            if self._ref == 0:
                # First reading of the night: the ring holds it for every earlier second, so the
                # filter sees a constant before it (edge hold).
                self._ref = hr_x10
                for i in range(_Y_MASK + 1):
                    self._y[i] = 0
            y = hr_x10 - self._ref
            if y > _Y_MAX:
                y = _Y_MAX
            elif y < -_Y_MAX:
                y = -_Y_MAX
            self._last = y
            if self._n_y < _MEAN_CAP_S:
                self._sum_y += y
                self._n_y += 1
            e = (n // EPOCH_S) & _E_MASK
            self._e_sum[e] += hr_x10
            self._e_n[e] += 1
        self._y[n & _Y_MASK] = self._last
        self._ok[n & _D_MASK] = ok
        if n % EPOCH_S == EPOCH_S - 1:
            # The per-epoch slot two laps ahead is cleared before it is reused.
            e2 = (n // EPOCH_S + 1) & _E_MASK
            self._e_sum[e2] = 0
            self._e_n[e2] = 0
        self.seconds = n + 1
        s = n - _HALF_K  # the filter's output for second s needs samples up to s + 142 = n
        if s >= 0:
            self._filter(s, n)

    def _filter(self, s, n):
        y = self._y
        acc = _DOG_Q10[0] * y[s & _Y_MASK]
        for d in range(1, _HALF_K + 1):
            lo = s - d
            if lo < 0:
                lo = 0  # before lights-out: the first value held
            acc += _DOG_Q10[d] * (y[lo & _Y_MASK] + y[(s + d) & _Y_MASK])
        dog = acc >> 11  # dog_q: Walch's filter output in units of 0.2 bpm
        if dog > _DOG_MAX:
            dog = _DOG_MAX
        elif dog < -_DOG_MAX:
            dog = -_DOG_MAX
        self._dog[s & _D_MASK] = dog
        if self._ref and self._ok[s & _D_MASK]:
            # The scale is taken around the night's mean HR: Walch removes it before filtering.
            v = dog - self._mean_offset()
            self._hist[_bin(v if v >= 0 else -v)] += 1
            self._hist_n += 1

    def _mean_offset(self):
        if self._n_y == 0:
            return 0
        return ((self._sum_y // self._n_y) * _K_SUM_Q10) >> 11

    # -- output ----------------------------------------------------------------------------------
    def take_epoch(self):
        """Publish the next epoch whose samples have all arrived; False if none is ready yet."""
        e = self._next_e
        t = e * EPOCH_S
        if self.seconds < t + _LOOKAHEAD_S:
            return False
        self._next_e = e + 1
        self.epoch_n = e
        self.count_q8 = self._count_feature(e)
        self._hr_feature(t)
        slot = e & _E_MASK
        n = self._e_n[slot]
        if n:
            self.hr_x10 = self._e_sum[slot] // n
            mean = self._sum_y // self._n_y + self._ref if self._n_y else self.hr_x10
            self.hr_rel_x10 = self.hr_x10 - mean
        else:
            self.hr_x10 = 0
            self.hr_rel_x10 = 0
        return True

    def _count_feature(self, e):
        # Gaussian-weighted counts around the epoch, renormalised over the counts that exist.
        # The count is split in high and low 10 bits so that no product or sum reaches 2^30.
        hi = 0
        lo = 0
        wsum = 0
        for j in range(_CW_N):
            k = 2 * e + _CW_LO + j
            if 0 <= k < self.n_counts and k > self.n_counts - _C_MASK:
                w = _COUNT_W_Q15[j]
                c = self._counts[k & _C_MASK]
                hi += w * (c >> 10)
                lo += w * (c & 1023)
                wsum += w
        if wsum == 0:
            return 0
        q = hi // wsum
        return (q << 10) + (((hi - q * wsum) << 10) + lo) // wsum

    def _hr_feature(self, t):
        dog = self._dog
        ok = self._ok
        lo = t + _WIN_LO
        if self.seconds - lo > _D_MASK:
            # Called too late: the ring no longer holds this window. Say so rather than guess.
            self.coverage_pct = 0
            self.valid = False
            self.hr_q12 = 0
            return
        total = 0
        n = 0
        cover = 0
        top = -_DOG_MAX
        bottom = _DOG_MAX
        for s in range(lo, lo + _WIN_N):
            if s < 0:
                continue
            v = dog[s & _D_MASK]
            total += v
            if v > top:
                top = v
            if v < bottom:
                bottom = v
            n += 1
            cover += ok[s & _D_MASK]
        self.coverage_pct = cover * 100 // _WIN_N
        self.valid = cover >= _MIN_COVERAGE
        self.scale = self._percentile90()
        if n == 0:
            self.hr_q12 = 0
            return
        mean = total // n
        # Squares are shifted right by sh only as far as the largest deviation needs
        # (d^2 >> sh < 2^20, so 599 of them stay below 2^30): small deviations keep every bit.
        big = top - mean if top - mean > mean - bottom else mean - bottom
        if big > _DOG_MAX:
            big = _DOG_MAX
        sh = 0
        while (big >> (sh >> 1)) >= 1024:
            sh += 2
        acc = 0
        for s in range(lo, lo + _WIN_N):
            if s < 0:
                continue
            d = dog[s & _D_MASK] - mean
            if d > _DOG_MAX:
                d = _DOG_MAX
            elif d < -_DOG_MAX:
                d = -_DOG_MAX
            acc += (d * d) >> sh
        var = acc // n  # variance / 2^sh, below 2^20
        # r = std * 2^((k - sh) / 2), with k as large as keeps var << k below 2^29.
        k = 8
        while k < 18 and var < (1 << (27 - k)):
            k += 2
        r = isqrt(var << k)
        self.hr_q12 = (r << (12 - ((k - sh) >> 1))) // self.scale

    def _percentile90(self):
        target = self._hist_n - self._hist_n // 10
        run = 0
        for b in range(_HIST_N):
            run += self._hist[b]
            if run >= target:
                v = _bin_mid(b)
                return v if v > 0 else 1
        return _bin_mid(_HIST_N - 1)
