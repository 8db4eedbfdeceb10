"""What the virtual board's chips feel: a synthetic sleeper, or a real recording replayed.

    sc = scenario.build("synthetic:bpm=58,seed=3,drop_at=600,back_at=660", clock)
    red_nA_per_mA, ir_nA_per_mA = sc.ppg(t_us); x_g, y_g, z_g = sc.accel(t_us)

A spec is `NAME[:key=value,...]` (`cocoon sim --scenario SPEC`):
- `synthetic`: a sleeper whose PPG waveform is built beat by beat from a beat series with
  respiratory sinus arrhythmia, respiratory baseline and amplitude modulation, random beat-to-beat
  variability and noise; the accelerometer feels gravity, sensor noise and random movements (which
  also disturb the PPG). Keys: bpm (60), seed (1), resp (breaths/min, 14), hrv (SD of the
  beat-to-beat jitter, ms, 25), rsa (IBI modulation by breathing, fraction, 0.04), perf (pulse
  AC/DC, 0.02), noise (noise SD / pulse amplitude, 0.05), motion (movements per hour, 4), motion_at
  (s, one movement at that time), dc (photocurrent per mA of LED drive, nA/mA, 250), profile (flat:
  see PROFILES).
- `replay:PATH`: one recording folder in the format of `../shared/data/welltory-ppg` (`PPG.csv`:
  `time,<channel>,...`, time in ms, any frame rate, regular or not, any units), looped. The channel
  with the most periodic content in the heart-rate band is used (`channel=NAME` to force one); it
  is scaled so that its 5-95 % spread is `ac` (0.02) of the DC level `dc` (250 nA/mA), i.e. a
  typical fingertip perfusion in the middle of the MAX30102's ADC range, and resampled by linear
  interpolation at whatever rate the simulated chip samples. Polarity: a PPG in light intensity
  falls fast at each systole (as the MAX30102 sees it); one in blood volume rises fast:
  `invert=auto` tells them apart by which way the slope is steeper. Keys: channel, ac, dc, invert
  (auto|0|1), loop (1|0).
Faults, for every scenario (times in seconds of virtual time since the board started):
  drop_at / back_at (a chip stops answering on the bus, and comes back power-cycled: registers
  reset), drop_chip (max30102 | mpu6050 | all, default max30102), loose_at / loose_for (a loose
  finger: weak pulse, more noise), saturate_at / saturate_for (ambient light floods the
  photodiode), off_at / off_for (finger removed).

Nothing here imports the firmware (`cocoon`): the board's flashed copy is the one under test. The
recording is read when the scenario is built, before the board's filesystem is mounted over `/`.
"""

import math
from array import array

from hypnogram import HypnogramProfile  # the sleep-stage work: a night with known stages

US_PER_S = 1000000
# Typical fingertip reflectance: ~1800 nA of IR photocurrent at 7.2 mA of LED drive, i.e. ~44 % of
# the MAX30102's 4096 nA ADC range (datasheet Table "SpO2 ADC range"; SparkFun/Maxim example
# readings).
DC_NA_PER_MA = 250.0
RED_OVER_IR_DC = 0.8  # red reflects a little less than IR through a fingertip
RED_OVER_IR_AC = 0.5  # R ~ 0.5 <=> SpO2 ~ 97 % (ratio of ratios, Maxim AN6409)
GRAVITY_G = 1.0
ACCEL_NOISE_G = 0.002  # MPU-6050: 400 ug/sqrt(Hz) x sqrt(21 Hz DLPF) (product spec 6.2)
FLOOD_NA_PER_MA = 5000.0  # ambient light far beyond any ADC range: the ADC clips
NO_FINGER_NA_PER_MA = 3.0  # no finger: a little light scattered back by the cover glass


class ScenarioError(ValueError):
    """A scenario spec or recording that cannot be used; the message says what and what to do."""


def parse_spec(spec):
    """'name:k=v,k2=v2' -> (name, {k: v}); for replay the first value without '=' is `path`."""
    spec = (spec or "synthetic").strip()
    name, _, rest = spec.partition(":")
    name = name.strip()
    keys = {}
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        k, eq, v = item.partition("=")
        if not eq:
            if "path" in keys:
                raise ScenarioError("scenario '%s': '%s' is not key=value" % (spec, item))
            keys["path"] = item
        else:
            keys[k.strip()] = v.strip()
    return name, keys


def _number(keys, key, default, lo, hi):
    if key not in keys:
        return default
    raw = keys.pop(key)
    try:
        v = float(raw)
    except ValueError:
        raise ScenarioError("scenario key %s=%s is not a number" % (key, raw)) from None
    if not (lo <= v <= hi):
        raise ScenarioError("scenario key %s=%s is outside %s..%s" % (key, raw, lo, hi))
    return v


class _Rng:
    """xorshift32: the same numbers on CPython and MicroPython for the same seed."""

    def __init__(self, seed):
        self.s = (int(seed) * 2654435761 + 1) & 0xFFFFFFFF or 1

    def u(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x / 4294967296.0

    def gauss(self):
        # Irwin-Hall with 4 uniforms: mean 2, variance 1/3; cheap and smooth enough for noise.
        return (self.u() + self.u() + self.u() + self.u() - 2.0) * 1.7320508


class FlatProfile:
    """The night's shape: factors on heart rate, HRV and movement rate at time t_s. Flat: constant.

    The sleep-stage work adds a hypnogram-driven profile to PROFILES (same three methods)."""

    def __init__(self, keys, rng):
        pass

    def hr_factor(self, t_s):
        return 1.0

    def hrv_factor(self, t_s):
        return 1.0

    def motion_factor(self, t_s):
        return 1.0


PROFILES = {"flat": FlatProfile, "hypnogram": HypnogramProfile}


class Scenario:
    """Base: faults shared by every scenario, and the still accelerometer."""

    name = "none"

    def __init__(self, keys):
        self.drop_at_s = _number(keys, "drop_at", -1.0, 0, 1e7)
        self.back_at_s = _number(keys, "back_at", 1e12, 0, 1e12)
        self.drop_chip = keys.pop("drop_chip", "max30102")
        if self.drop_chip not in ("max30102", "mpu6050", "all"):
            raise ScenarioError("drop_chip=%s: use max30102, mpu6050 or all" % self.drop_chip)
        self.loose = self._window(keys, "loose")
        self.saturate = self._window(keys, "saturate")
        self.off = self._window(keys, "off")
        self.motion_at_s = _number(keys, "motion_at", -1.0, 0, 1e7)
        self.rng = _Rng(_number(keys, "seed", 1, 0, 2**31))
        self.beats_us = []  # ground-truth beat onsets (synthetic only), most recent last
        # Accelerometer state: posture (gravity direction) and the current movement, if any.
        self._gravity = (0.0, 0.0, GRAVITY_G)
        self._move_start_s = -1.0
        self._move_end_s = -1.0
        self._move_amp_g = 0.0
        self._move_freqs = (2.0, 3.7, 5.9)
        self._next_move_s = -1.0
        self._accel_next_s = 0.0
        self.motion_per_hour = 0.0

    def _window(self, keys, name):
        at = _number(keys, name + "_at", -1.0, 0, 1e7)
        length = _number(keys, name + "_for", 60.0, 0, 1e7)
        return (at, at + length) if at >= 0 else (-1.0, -1.0)

    @staticmethod
    def _inside(window, t_s):
        return window[0] <= t_s < window[1]

    def present(self, chip, t_us):
        """Does `chip` ('max30102' or 'mpu6050') answer on the bus at t_us?"""
        if self.drop_chip != "all" and chip != self.drop_chip:
            return True
        t_s = t_us / US_PER_S
        return not (self.drop_at_s >= 0 and self.drop_at_s <= t_s < self.back_at_s)

    def _finger(self, t_s, red, ir):
        """Apply the finger faults to clean photocurrents (nA/mA)."""
        if self._inside(self.saturate, t_s):
            return FLOOD_NA_PER_MA, FLOOD_NA_PER_MA
        if self._inside(self.off, t_s):
            n = 0.05 * self.rng.gauss()
            return NO_FINGER_NA_PER_MA + n, NO_FINGER_NA_PER_MA + n
        return red, ir

    # -- movement ---------------------------------------------------------------------------------
    def _schedule_moves(self, t_s, rate_per_hour):
        if self.motion_at_s >= 0 and self._move_start_s < self.motion_at_s <= t_s:
            self._start_move(self.motion_at_s)
        if rate_per_hour <= 0:
            return
        if self._next_move_s < 0:
            self._next_move_s = t_s + self._exp_gap(rate_per_hour)
        if t_s >= self._next_move_s:
            self._start_move(t_s)
            self._next_move_s = t_s + self._exp_gap(rate_per_hour)

    def _exp_gap(self, rate_per_hour):
        return -math.log(1.0 - self.rng.u() * 0.999) * 3600.0 / rate_per_hour

    def _start_move(self, t_s):
        r = self.rng
        self._move_start_s = t_s
        self._move_end_s = t_s + 2.0 + 6.0 * r.u()
        self._move_amp_g = 0.05 + 0.35 * r.u()
        self._move_freqs = (1.0 + 2.0 * r.u(), 3.0 + 3.0 * r.u(), 6.0 + 3.0 * r.u())
        if r.u() < 0.5:  # turned over: gravity now points along another direction
            a = 2.0 * math.pi * r.u()
            b = 0.6 * r.u()
            self._gravity = (math.sin(b) * math.cos(a), math.sin(b) * math.sin(a), math.cos(b))

    def moving(self, t_s):
        return self._move_start_s <= t_s < self._move_end_s

    def _shake(self, t_s):
        """Movement acceleration (g) at t_s: a few sines in the 1-9 Hz band, faded in and out."""
        if not self.moving(t_s):
            return 0.0
        dt = t_s - self._move_start_s
        span = self._move_end_s - self._move_start_s
        env = math.sin(math.pi * dt / span)
        f1, f2, f3 = self._move_freqs
        w = 2.0 * math.pi * dt
        return (
            self._move_amp_g
            * env
            * (
                0.6 * math.sin(f1 * w)
                + 0.3 * math.sin(f2 * w + 1.0)
                + 0.2 * math.sin(f3 * w + 2.0)
            )
        )

    def accel(self, t_us):
        """(x, y, z) acceleration in g felt by the MPU-6050 at t_us."""
        t_s = t_us / US_PER_S
        if t_s >= self._accel_next_s:  # movements start and end on a 0.1-s grid
            self._accel_next_s = t_s + 0.1
            self._schedule_moves(t_s, self.motion_per_hour * self._motion_factor(t_s))
        s = self._shake(t_s) if self._move_start_s <= t_s < self._move_end_s else 0.0
        g = self._gravity
        r = self.rng
        n = ACCEL_NOISE_G * 3.4641  # uniform noise with this SD: width sqrt(12) SD
        return (
            g[0] + 0.5 * s + n * (r.u() - 0.5),
            g[1] + 0.8 * s + n * (r.u() - 0.5),
            g[2] + s + n * (r.u() - 0.5),
        )

    def _motion_factor(self, t_s):
        return 1.0

    def ppg(self, t_us):  # pragma: no cover - overridden
        return NO_FINGER_NA_PER_MA, NO_FINGER_NA_PER_MA


def _pulse_table(n):
    """One beat of blood volume (0..1) over n steps of normalised phase: a fast systolic rise, a
    slower fall, and a dicrotic wave (two-Gaussian PPG models, e.g. Tang et al. 2020)."""
    t = []
    peak = 0.0
    for i in range(n):
        ph = i / n
        if ph < 0.2:
            s = math.exp(-(((ph - 0.2) / 0.055) ** 2) / 2)
        else:
            s = math.exp(-(((ph - 0.2) / 0.16) ** 2) / 2)
        d = 0.35 * math.exp(-(((ph - 0.48) / 0.07) ** 2) / 2)
        v = s + d
        t.append(v)
        peak = max(peak, v)
    return [v / peak for v in t]


_PULSE_STEPS = 256
_PULSE = _pulse_table(_PULSE_STEPS)
_PULSE.append(_PULSE[0])  # a sentinel: interpolation never wraps


class Synthetic(Scenario):
    """A sleeper: beats with RSA and HRV, respiration, movements; see the module docstring."""

    name = "synthetic"

    def __init__(self, keys):
        super().__init__(keys)
        self.bpm = _number(keys, "bpm", 60.0, 20, 260)
        self.resp_per_min = _number(keys, "resp", 14.0, 2, 60)
        self.hrv_ms = _number(keys, "hrv", 25.0, 0, 300)
        self.rsa = _number(keys, "rsa", 0.04, 0, 0.3)
        self.perf = _number(keys, "perf", 0.02, 0, 0.5)
        self.noise = _number(keys, "noise", 0.05, 0, 10)
        self.dc = _number(keys, "dc", DC_NA_PER_MA, 0, 100000)
        self.motion_per_hour = _number(keys, "motion", 4.0, 0, 3600)
        prof = keys.pop("profile", "flat")
        if prof not in PROFILES:
            raise ScenarioError("profile=%s: use one of %s" % (prof, ", ".join(PROFILES)))
        self.profile = PROFILES[prof](keys, self.rng)
        self._beat_us = 0  # onset of the current beat
        self._ibi_us = int(60 * US_PER_S / self.bpm)
        self._steps_per_us = _PULSE_STEPS / self._ibi_us
        self._slow_next_s = -1.0
        self._base = 1.0
        self._perf_now = self.perf
        self._noise_now = 0.0
        self._fault = False

    def _resp_phase(self, t_s):
        return 2.0 * math.pi * self.resp_per_min / 60.0 * t_s

    def _next_ibi_us(self, t_us):
        t_s = t_us / US_PER_S
        p = self.profile
        bpm = self.bpm * p.hr_factor(t_s)
        ibi_ms = 60000.0 / bpm
        ibi_ms *= 1.0 + self.rsa * math.sin(self._resp_phase(t_s))
        ibi_ms += self.hrv_ms * p.hrv_factor(t_s) * self.rng.gauss()
        return int(max(250.0, min(3000.0, ibi_ms)) * 1000)

    def _motion_factor(self, t_s):
        return self.profile.motion_factor(t_s)

    def _slow(self, t_s):
        """What changes slowly, every 0.1 s: breathing, a loose finger, faults, movements."""
        self._slow_next_s = t_s + 0.1
        rp = self._resp_phase(t_s)
        s = math.sin(rp)
        perf = self.perf * (1.0 + 0.15 * s)  # respiratory amplitude modulation
        base = 1.0 + 0.003 * math.cos(rp)  # respiratory baseline modulation
        noise = self.noise * self.perf
        if self._inside(self.loose, t_s):
            perf *= 0.08
            base *= 0.4
            noise *= 3.0
        self._perf_now = perf
        self._base = base
        self._noise_now = noise * 3.4641  # uniform noise of this SD
        self._fault = self._inside(self.saturate, t_s) or self._inside(self.off, t_s)
        self._schedule_moves(t_s, self.motion_per_hour * self.profile.motion_factor(t_s))

    def ppg(self, t_us):
        if self._beat_us == 0 and t_us > 10 * US_PER_S:
            self._beat_us = t_us - t_us % self._ibi_us  # a board that starts late in the night
        while t_us >= self._beat_us + self._ibi_us:
            self._beat_us += self._ibi_us
            self._ibi_us = self._next_ibi_us(self._beat_us)
            self._steps_per_us = _PULSE_STEPS / self._ibi_us
            self.beats_us.append(self._beat_us)
            if len(self.beats_us) > 512:
                del self.beats_us[:256]
        t_s = t_us / US_PER_S
        if t_s >= self._slow_next_s:
            self._slow(t_s)
        x = (t_us - self._beat_us) * self._steps_per_us
        if x < 0:
            x = 0.0  # asked about the past (time only moves forward on a board)
        i = int(x)
        a = _PULSE[i]
        v = a + (_PULSE[i + 1] - a) * (x - i)
        noise = self._noise_now * (self.rng.u() - 0.5)
        if self._move_start_s <= t_s < self._move_end_s:
            noise += 3.0 * self.perf * self._shake(t_s) / 0.2
        perf = self._perf_now
        ir = self.dc * (self._base - perf * v + noise)
        red = self.dc * RED_OVER_IR_DC * (self._base - RED_OVER_IR_AC * perf * v + noise)
        if self._fault:
            return self._finger(t_s, red, ir)
        return red, ir


class Replay(Scenario):
    """A recording folder (`PPG.csv`), scaled into the sensor's range; see the module docstring."""

    name = "replay"

    def __init__(self, keys):
        super().__init__(keys)
        path = keys.pop("path", "")
        if not path:
            raise ScenarioError("replay needs a folder: --scenario replay:PATH")
        self.path = path.rstrip("/")
        self.ac = _number(keys, "ac", 0.02, 0, 1)
        self.dc = _number(keys, "dc", DC_NA_PER_MA, 0, 100000)
        self.loop = _number(keys, "loop", 1, 0, 1) >= 0.5
        invert = keys.pop("invert", "auto")
        if invert not in ("auto", "0", "1"):
            raise ScenarioError("invert=%s: use auto, 0 or 1" % invert)
        want = keys.pop("channel", "auto")
        times, channels = read_csv(self.path + "/PPG.csv")
        if want == "auto":
            self.channel = pick_channel(times, channels)
        elif want in channels:
            self.channel = want
        else:
            raise ScenarioError(
                "channel=%s is not in %s/PPG.csv (has %s)" % (want, self.path, ", ".join(channels))
            )
        self.t_ms = times
        x = channels[self.channel]
        lo, mid, hi = _percentiles(x, (0.05, 0.5, 0.95))
        if hi <= lo:
            raise ScenarioError("channel %s of %s/PPG.csv is flat" % (self.channel, self.path))
        sign = 1.0
        if invert == "1" or (invert == "auto" and slope_asymmetry(times, x) < 1.0):
            sign = -1.0
        self.inverted = sign < 0
        # nA/mA = dc * (1 + ac * (x - median) / spread), kept as one gain and one offset
        self._gain = sign * self.dc * self.ac / (hi - lo)
        self._offset = self.dc - self._gain * mid
        self.x = x
        self.duration_ms = times[-1] - times[0]
        self._i = 0  # index of the frame at or before the last time asked
        self.motion_per_hour = 0.0

    def value_at(self, t_ms):
        """The chosen channel at t_ms (recording time), interpolated; None past the end."""
        t = self.t_ms
        n = len(t)
        if self.loop and self.duration_ms > 0:
            t_ms = t[0] + (t_ms % self.duration_ms)
        else:
            t_ms = t[0] + t_ms
            if t_ms > t[-1]:
                return None
        i = self._i
        if t[i] > t_ms:
            i = 0  # looped back (or asked about the past): search again from the start
        while i + 1 < n and t[i + 1] <= t_ms:
            i += 1
        self._i = i
        if i + 1 >= n:
            return self.x[i]
        f = (t_ms - t[i]) / (t[i + 1] - t[i])
        return self.x[i] + (self.x[i + 1] - self.x[i]) * f

    def ppg(self, t_us):
        t_s = t_us / US_PER_S
        v = self.value_at(t_us / 1000.0)
        if v is None:
            return self._finger(t_s, NO_FINGER_NA_PER_MA, NO_FINGER_NA_PER_MA)
        ir = self._offset + self._gain * v
        if self._inside(self.loose, t_s):
            ir = 0.4 * (self.dc + 0.08 * (ir - self.dc))
        red = RED_OVER_IR_DC * (self.dc + RED_OVER_IR_AC * (ir - self.dc))
        return self._finger(t_s, red, ir)


def read_csv(path):
    """PPG.csv -> (times_ms, {channel: values}); drops frames whose time does not increase."""
    try:
        f = open(path)
    except OSError:
        raise ScenarioError("cannot read %s: give a folder that holds PPG.csv" % path) from None
    with f:
        header = f.readline().strip().split(",")
        if len(header) < 2:
            raise ScenarioError("%s: the first line must be a header like time,R,G,B" % path)
        names = [h.strip() for h in header[1:]]
        times = _farray()
        cols = [_farray() for _ in names]
        last = None
        for lineno, line in enumerate(f, 2):
            line = line.strip()
            if not line:
                continue
            parts = line.split(",")
            if len(parts) != len(header):
                raise ScenarioError("%s line %d: expected %d values" % (path, lineno, len(header)))
            try:
                t = float(parts[0])
                vals = [float(p) for p in parts[1:]]
            except ValueError:
                raise ScenarioError("%s line %d: not a number" % (path, lineno)) from None
            if last is not None and t <= last:
                continue
            last = t
            times.append(t)
            for k in range(len(cols)):
                cols[k].append(vals[k])
    if len(times) < 10:
        raise ScenarioError("%s holds fewer than 10 frames" % path)
    return times, {names[k]: cols[k] for k in range(len(names))}


def _farray():
    return array("d")


def _percentiles(x, qs):
    step = max(1, len(x) // 4000)  # a few thousand points are plenty for a spread
    s = sorted(x[i] for i in range(0, len(x), step))
    return [s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] for q in qs]


def _uniform(times, x, rate_hz, t0, t1):
    """Linear resampling of (times, x) to rate_hz between t0 and t1 (ms)."""
    out = []
    step = 1000.0 / rate_hz
    i = 0
    n = len(times)
    t = t0
    while t < t1:
        while i + 2 < n and times[i + 1] <= t:
            i += 1
        f = (t - times[i]) / (times[i + 1] - times[i])
        out.append(x[i] + (x[i + 1] - x[i]) * min(1.0, max(0.0, f)))
        t += step
    return out


def _band(y, fs):
    """Heart-rate band (~0.6-5 Hz) by a difference of moving averages."""
    short = max(1, int(fs * 0.1))
    long_ = max(short + 1, int(fs * 0.8))
    out = []
    acc_s = acc_l = 0.0
    for i, v in enumerate(y):
        acc_s += v - (y[i - short] if i >= short else y[0])
        acc_l += v - (y[i - long_] if i >= long_ else y[0])
        out.append(acc_s / short - acc_l / long_)
    return out[long_:]


_SCORE_HZ = 20.0


def _segments(times):
    """Up to three 60-s stretches (start, middle, end) to judge a channel on."""
    t0, t1 = times[0], times[-1]
    span = 60000.0
    if t1 - t0 <= span:
        return [(t0, t1)]
    mid = (t0 + t1) / 2
    return [(t0, t0 + span), (mid - span / 2, mid + span / 2), (t1 - span, t1)]


def periodicity(times, x):
    """How periodic x is at a heart rate of 40-180 bpm: the best peak of the normalised
    autocorrelation of its heart-rate band, averaged over up to three 60-s stretches. 0 for a flat
    or clipped channel."""
    n = len(x)
    lo, hi = min(x), max(x)
    if hi - lo <= 1e-9:
        return 0.0
    clipped = sum(1 for v in x if v >= hi or v <= lo)
    if clipped > n // 5:
        return 0.0  # a camera channel stuck at 255 (or 0) for long stretches
    total = 0.0
    segs = _segments(times)
    for a, b in segs:
        y = _band(_uniform(times, x, _SCORE_HZ, a, b), _SCORE_HZ)
        m = len(y)
        e = sum(v * v for v in y)
        if m < 3 * _SCORE_HZ or e <= 0:
            continue
        # the best peak of the autocorrelation at a heart rate of 40-180 bpm (a peak: a slow
        # drift correlates at every lag but has none)
        lo, hi = int(_SCORE_HZ * 60 / 180), int(_SCORE_HZ * 60 / 40)
        r = [
            sum(y[i] * y[i + lag] for i in range(m - lag)) / e if lag < m else 0.0
            for lag in range(lo - 1, hi + 2)
        ]
        best = 0.0
        for k in range(1, len(r) - 1):
            if r[k] >= r[k - 1] and r[k] >= r[k + 1] and r[k] > best:
                best = r[k]
        total += best
    return total / len(segs)


def pick_channel(times, channels):
    """The channel with the most periodic heart-rate-band content (the pulse)."""
    best, best_score = None, -1.0
    for name, x in channels.items():
        s = periodicity(times, x)
        if s > best_score:
            best, best_score = name, s
    if best_score <= 0:
        raise ScenarioError("no channel of the recording carries a pulse (all flat or clipped)")
    return best


def slope_asymmetry(times, x):
    """How much faster x falls than it rises in the heart-rate band: the ratio of its 5 % steepest
    fall to its 5 % steepest rise (quantiles: a movement artefact does not decide). > 1 for light
    intensity (the MAX30102's view: light drops fast at each systole), < 1 for blood volume."""
    y = _band(_uniform(times, x, _SCORE_HZ, times[0], min(times[-1], times[0] + 120000)), 20.0)
    d = sorted(y[i + 1] - y[i] for i in range(len(y) - 1))
    n = len(d)
    if n < 10 or d[int(0.95 * n)] <= 0:
        return 1.0
    return -d[int(0.05 * n)] / d[int(0.95 * n)]


SCENARIOS = {"synthetic": Synthetic, "replay": Replay}


def build(spec, clock=None):
    """Parse `spec` and return a ready Scenario; ScenarioError says what is wrong with it."""
    name, keys = parse_spec(spec)
    if name not in SCENARIOS:
        raise ScenarioError("unknown scenario '%s': use %s" % (name, " or ".join(SCENARIOS)))
    sc = SCENARIOS[name](keys)
    if keys:
        raise ScenarioError(
            "scenario %s does not know %s" % (name, ", ".join(sorted(k for k in keys)))
        )
    sc.spec = spec
    sc.clock = clock
    return sc
