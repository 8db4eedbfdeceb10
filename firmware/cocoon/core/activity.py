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
Integers only (Q13 biquads on inputs halved so every sum stays below 2^30), allocation-free. The
band-pass is @micropython.viper on the board: machine words, 32 bits on the ESP32 and 64 on x86-64,
and ptr32 loads sign-extended on one and zero-extended on the other, so every load is normalised to
signed 32 bits and no value exceeds 2^30; the same source runs as plain Python on CPython (ptr32
is then the array itself), and tests compare both with a plain biquad bit for bit.
"""

from array import array

import micropython
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


try:  # Viper casts exist only inside @micropython.viper functions; elsewhere index the array.
    ptr32  # noqa: B018
except NameError:

    def ptr32(buf):
        return buf


@micropython.viper
def band3(sos, z, x0: int, x1: int, x2: int) -> int:
    """One sample of each axis through the four sections (state in z: x1, x2, y1, y2 per axis and
    section); returns the largest |output| of the three, in halved counts."""
    c = ptr32(sos)
    s = ptr32(z)
    one = 1
    S = one << 31
    M = (S - 1) | S
    hi = 16383  # _CLAMP
    lo = 0 - hi
    best = 0
    axis = 0
    while axis < 3:
        if axis == 0:
            v = x0 >> 1
        elif axis == 1:
            v = x1 >> 1
        else:
            v = x2 >> 1
        if v > hi:
            v = hi
        elif v < lo:
            v = lo
        j = axis * 16
        k = 0
        while k < 20:
            xa = ((s[j] & M) ^ S) - S
            xb = ((s[j + 1] & M) ^ S) - S
            ya = ((s[j + 2] & M) ^ S) - S
            yb = ((s[j + 3] & M) ^ S) - S
            y = (
                (((c[k] & M) ^ S) - S) * v
                + (((c[k + 1] & M) ^ S) - S) * xa
                + (((c[k + 2] & M) ^ S) - S) * xb
                - (((c[k + 3] & M) ^ S) - S) * ya
                - (((c[k + 4] & M) ^ S) - S) * yb
            ) >> 13
            if y > hi:
                y = hi
            elif y < lo:
                y = lo
            s[j] = v
            s[j + 1] = xa
            s[j + 2] = y
            s[j + 3] = ya
            v = y
            j += 4
            k += 5
        if v < 0:
            v = 0 - v
        if v > best:
            best = v
        axis += 1
    return best


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
        sos = self._sos
        z = self._z
        for k in range(n):
            m = band3(sos, z, ax[k], ay[k], az[k])
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
