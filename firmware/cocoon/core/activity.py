"""Activity counts from the accelerometer: what the sleep stages read movement from.

    act = ActivityCounter(rate_hz=50, lsb_per_g=16384)   # the MPU-6050 driver's defaults
    act.feed(ax, ay, az, n); c = act.take_count()         # -1, or the count of the last 15 s

In the spirit of the counts behind `../shared/data/walch2019-features` (Walch et al. 2019, their
make_counts.m after te Lindert & Van Someren, SLEEP 36(5) 2013): the acceleration is band-passed
to 3-11 Hz, rectified, binned into 128 bins of 5/128 g (np.digitize: bin 1 is 0..0.039 g), the
maximum bin of each second is kept and the maxima are summed over 15 s (15..1920). The epoch
features apply Walch's (c - 18) * 3.07 themselves (cocoon/core/epoch.py). The differences:
- Walch filters the wrist's z axis offline with a 5th-order Butterworth band-pass run forwards and
  backwards; a cocoon's sensor has no fixed orientation and the device must stream, so each axis
  goes through a causal 4th-order Butterworth high-pass (3 Hz) and low-pass (11 Hz) and a sample
  takes the largest of the three band-passed axes.
- 50 Hz, as Walch resamples to; other rates get their own filter only at 50 Hz (ValueError
  otherwise: the coefficients below are for 50 Hz).
Integers only (Q13 biquads on inputs halved so every sum stays below 2^30), allocation-free.
"""

from array import array

from micropython import const

RATE_HZ = const(50)
COUNT_S = const(15)
BINS = const(128)
_Q = const(13)
_CLAMP = const(16383)  # states and inputs, after halving: products < 2^28, sums < 2^30

# Butterworth sections for 50 Hz (scipy.signal.butter(4, 3, 'high', fs=50, output='sos') and
# butter(4, 11, 'low', fs=50)), Q13: b0, b1, b2, a1, a2 (a0 = 1).
# fmt: off
_SOS_Q13 = (
    4988, -9977, 4988, -11367, 4034,
    8192, -16384, 8192, -13352, 6169,
    515, 1031, 515, -1609, 397,
    8192, 16384, 8192, -2231, 3716,
)
# fmt: on
_SECTIONS = const(4)


class ActivityCounter:
    def __init__(self, rate_hz=RATE_HZ, lsb_per_g=16384):
        if rate_hz != RATE_HZ:
            raise ValueError("ActivityCounter: the band-pass is designed for 50 Hz")
        self.lsb_per_g = lsb_per_g
        self._sos = array("i", _SOS_Q13)
        # per axis and section: x1, x2, y1, y2
        self._z = array("i", [0] * (3 * _SECTIONS * 4))
        # |band-passed| (in halved counts) that reaches bin k+1: a sample in bin b has
        # |v| * 2 * 128 // (5 g) == b - 1
        self._bin_div = 5 * lsb_per_g
        self.reset()

    def reset(self):
        for i in range(len(self._z)):
            self._z[i] = 0
        self._settle = RATE_HZ  # the filters' first second is their step response, not motion
        self._n_in_s = 0
        self._s_in_count = 0
        self._sec_max = 0
        self._sum = 0
        self.count = -1  # the last finished 15-s count
        self._ready = False
        self.last_second_max = 0  # the last second's maximum bin (1..128), for telemetry
        self.counts_total = 0

    def take_count(self):
        """The count of the last finished 15 s (sum of per-second maximum bins), or -1 if none."""
        if not self._ready:
            return -1
        self._ready = False
        return self.count

    def feed(self, ax, ay, az, n):
        """Process n samples (raw counts per axis). Returns how many 15-s counts finished."""
        done = 0
        for k in range(n):
            m = self._band(ax[k], 0)
            v = self._band(ay[k], 1)
            if v > m:
                m = v
            v = self._band(az[k], 2)
            if v > m:
                m = v
            if self._settle:
                self._settle -= 1
                m = 0
            b = m * 2 * BINS // self._bin_div + 1  # np.digitize on linspace(0, 5, 129)
            if b > BINS:
                b = BINS
            if b > self._sec_max:
                self._sec_max = b
            self._n_in_s += 1
            if self._n_in_s >= RATE_HZ:
                done += self._second()
        return done

    def gap(self, samples):
        """samples were lost (FIFO overflow): those seconds count as still (bin 1)."""
        for _ in range(samples):
            if self._sec_max < 1:
                self._sec_max = 1
            self._n_in_s += 1
            if self._n_in_s >= RATE_HZ:
                self._second()

    def _second(self):
        self._n_in_s = 0
        self.last_second_max = self._sec_max
        self._sum += self._sec_max
        self._sec_max = 0
        self._s_in_count += 1
        if self._s_in_count < COUNT_S:
            return 0
        self.count = self._sum
        self._ready = True
        self.counts_total += 1
        self._sum = 0
        self._s_in_count = 0
        return 1

    def _band(self, x, axis):
        """One sample of one axis through the four sections; returns |output| (halved counts)."""
        sos = self._sos
        z = self._z
        v = x >> 1
        if v > _CLAMP:
            v = _CLAMP
        elif v < -_CLAMP:
            v = -_CLAMP
        base = axis * _SECTIONS * 4
        for s in range(_SECTIONS):
            c = 5 * s
            j = base + 4 * s
            x1 = z[j]
            x2 = z[j + 1]
            y1 = z[j + 2]
            y2 = z[j + 3]
            y = (
                sos[c] * v + sos[c + 1] * x1 + sos[c + 2] * x2 - sos[c + 3] * y1 - sos[c + 4] * y2
            ) >> _Q
            if y > _CLAMP:
                y = _CLAMP
            elif y < -_CLAMP:
                y = -_CLAMP
            z[j] = v
            z[j + 1] = x1
            z[j + 2] = y
            z[j + 3] = y1
            v = y
        return v if v >= 0 else -v
