"""What the virtual board's chips feel: a synthetic sleeper, or a real recording replayed.

    sc = scenario.build("synthetic:bpm=58,seed=3,drop_at=600,back_at=660", clock)
    red_nA_per_mA, ir_nA_per_mA = sc.ppg(t_us); x_g, y_g, z_g = sc.accel(t_us)
    sc.ppg_block(t0_us, period_us, n, ir_q12, red_q12)   # what the chips call: n samples at once

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

Speed: a night at `--speed max` makes 150 samples per virtual second, so the chips ask for them
in blocks (one per FIFO read) and kernels.py makes them in integers with viper loops: no float and
no allocation per sample. What changes slowly (each beat's interval, faults, movements) is decided
here per beat or per block.

Nothing here imports the firmware (`cocoon`): the board's flashed copy is the one under test. The
recording is read when the scenario is built, before the board's filesystem is mounted over `/`.
"""

import math
from array import array

import kernels  # the per-sample loops, in integers (viper on the unix port)
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


# Fixed-point forms (kernels.py): photocurrent q12 (nA/mA x 4096), relative levels q20,
# acceleration in micro-g.
_Q12 = 4096
_Q20 = 1 << 20
_UG = 1000000
_NEVER_US = 1 << 60  # still a small int on a 64-bit MicroPython
_CHUNK = 256  # samples per kernel call at most (the size of the shake buffer)
_OFFSETS_Q24 = (0, int(1 / (2 * math.pi) * (1 << 24)), int(2 / (2 * math.pi) * (1 << 24)))
_RESP_BASE = 0.003  # respiratory baseline modulation (relative to DC)
_RESP_PERF = 0.15  # respiratory amplitude modulation (relative to the pulse)
# Uniform noise of SD s spans sqrt(12) s.
_SQRT12 = 3.4641
# Finger states of the synthetic PPG, in order of precedence.
_NORMAL = 0
_LOOSE = 1
_OFF = 2
_SATURATED = 3


def _q12(na_per_ma):
    """nA/mA -> q12, rounded; never negative (no negative light), at most 2^30."""
    v = int(na_per_ma * _Q12 + 0.5)
    return 0 if v < 0 else (v if v < 1 << 30 else 1 << 30)


def _us(seconds):
    return int(seconds * US_PER_S) if seconds >= 0 else -1


class Scenario:
    """Base: faults shared by every scenario, and the accelerometer (gravity, noise, movements).

    The chips ask for samples in blocks: `ppg_block(t0_us, period_us, n, ir_q12, red_q12)` and
    `accel_block(t0_us, period_us, n, xyz_ug)` fill array('i') buffers for the n sample times
    t0_us + k * period_us (q12: nA/mA x 4096; xyz interleaved, micro-g). `ppg(t_us)` and
    `accel(t_us)` give one sample in nA/mA and g, for tests and tools."""

    name = "none"

    def __init__(self, keys):
        self.drop_at_s = _number(keys, "drop_at", -1.0, 0, 1e7)
        self.back_at_s = _number(keys, "back_at", 1e12, 0, 1e12)
        self.drop_chip = keys.pop("drop_chip", "max30102")
        if self.drop_chip not in ("max30102", "mpu6050", "all"):
            raise ScenarioError("drop_chip=%s: use max30102, mpu6050 or all" % self.drop_chip)
        self._drop_us = (_us(self.drop_at_s), _us(min(self.back_at_s, 1e9)))
        self.loose = self._window(keys, "loose")
        self.saturate = self._window(keys, "saturate")
        self.off = self._window(keys, "off")
        self.motion_at_s = _number(keys, "motion_at", -1.0, 0, 1e7)
        seed = _number(keys, "seed", 1, 0, 2**31)
        self.seed = int(seed)
        self.rng = _Rng(seed)  # the night's plan and the beats
        # Movements draw from their own stream, so that the order in which the two chips ask for
        # samples (block sizes, read times) does not change which movements happen.
        self._move_rng = _Rng(int(seed) + 0x5EED)
        self.beats_us = []  # ground-truth beat onsets (synthetic only), most recent last
        # Movements: the last few (start_us, end_us, amp_ug, (f1, f2, f3) Hz, gravity before,
        # gravity after (micro-g)), oldest first; the next random one is drawn when one starts.
        self._gravity0 = (0, 0, int(GRAVITY_G * _UG))
        self._moves = []
        self._next_start_us = _NEVER_US  # set by _move_at
        self._next_move_us = -1  # not drawn yet
        self._next_event_us = -1  # when _schedule has something to do (-1: at once)
        self._motion_at_us = _us(self.motion_at_s)  # the one-off movement, until it starts
        self.motion_per_hour = 0.0
        self._acc = array("i", [0] * kernels.A_SIZE)
        self._acc[kernels.A_RNG] = kernels.seed_state(self.seed, 2)
        self._acc[kernels.A_NOISE_W] = int(ACCEL_NOISE_G * _SQRT12 * _UG)
        self._sp = array("i", [0] * kernels.S_SIZE)
        self._shake = array("i", [0] * _CHUNK)
        self._one = array("i", [0] * 3)  # one sample of accel()

    def _window(self, keys, name):
        at = _number(keys, name + "_at", -1.0, 0, 1e7)
        length = _number(keys, name + "_for", 60.0, 0, 1e7)
        return (_us(at), _us(at + length)) if at >= 0 else (-1, -1)

    @staticmethod
    def _inside(window, t_us):
        return window[0] <= t_us < window[1]

    def _finger(self, t_us, red, ir):
        """Apply the finger faults to clean photocurrents (nA/mA)."""
        if self._inside(self.saturate, t_us):
            return FLOOD_NA_PER_MA, FLOOD_NA_PER_MA
        if self._inside(self.off, t_us):
            n = 0.05 * self.rng.gauss()
            return NO_FINGER_NA_PER_MA + n, NO_FINGER_NA_PER_MA + n
        return red, ir

    def drops(self, chip):
        """Can `chip` stop answering at all? (If not, the bus need not ask present().)"""
        return self._drop_us[0] >= 0 and self.drop_chip in ("all", chip)

    def present(self, chip, t_us):
        """Does `chip` ('max30102' or 'mpu6050') answer on the bus at t_us?"""
        at, back = self._drop_us
        if at < 0 or (self.drop_chip != "all" and chip != self.drop_chip):
            return True
        return not (at <= t_us < back)

    # -- movement ---------------------------------------------------------------------------------
    def _motion_factor(self, t_s):
        return 1.0

    def _exp_gap_us(self, t_us):
        rate_per_hour = self.motion_per_hour * self._motion_factor(t_us / US_PER_S)
        if rate_per_hour <= 0:
            return _NEVER_US
        u = self._move_rng.u()
        return int(-math.log(1.0 - u * 0.999) * 3600.0 / rate_per_hour * US_PER_S)

    def _schedule(self, t_us, upto_us):
        """Start every movement due by upto_us, each at its own time (Poisson arrivals at the
        rate of the moment the previous one started; the first drawn from t_us). The blocks call
        it only once upto_us reaches _next_event_us."""
        if self._next_move_us < 0:
            self._next_move_us = min(_NEVER_US, t_us + self._exp_gap_us(t_us))
        while True:
            at = self._motion_at_us
            if 0 <= at <= upto_us and (at <= self._next_move_us):
                self._motion_at_us = -1
                self._start_move(at)
            elif self._next_move_us <= upto_us:
                t = self._next_move_us
                self._start_move(t)
                self._next_move_us = min(_NEVER_US, t + self._exp_gap_us(t))
            else:
                break
        at = self._motion_at_us
        self._next_event_us = at if 0 <= at < self._next_move_us else self._next_move_us

    def _start_move(self, t_us):
        r = self._move_rng
        end_us = t_us + int((2.0 + 6.0 * r.u()) * US_PER_S)
        amp_ug = int((0.05 + 0.35 * r.u()) * _UG)
        freqs_mhz = (  # the three sines of the shake: 1-3, 3-6 and 6-9 Hz
            int((1.0 + 2.0 * r.u()) * 1000),
            int((3.0 + 3.0 * r.u()) * 1000),
            int((6.0 + 3.0 * r.u()) * 1000),
        )
        before = self._moves[-1][5] if self._moves else self._gravity0
        after = before
        if r.u() < 0.5:  # turned over: gravity now points along another direction
            a = 2.0 * math.pi * r.u()
            b = 0.6 * r.u()
            after = (
                int(math.sin(b) * math.cos(a) * _UG),
                int(math.sin(b) * math.sin(a) * _UG),
                int(math.cos(b) * _UG),
            )
        self._moves.append((t_us, end_us, amp_ug, freqs_mhz, before, after))
        if len(self._moves) > 4:
            self._moves.pop(0)

    def _move_at(self, t_us):
        """The last movement started by t_us, or None; self._next_start_us: the next one's
        start (or _NEVER_US)."""
        moves = self._moves
        j = len(moves) - 1
        while j >= 0 and moves[j][0] > t_us:
            j -= 1
        self._next_start_us = moves[j + 1][0] if j + 1 < len(moves) else _NEVER_US
        return moves[j] if j >= 0 else None

    def _gravity(self, move):
        if move is not None:
            return move[5]
        return self._moves[0][4] if self._moves else self._gravity0

    def _fill_shake(self, move, t_us, period_us, n):
        """The movement's acceleration at n samples from t_us into self._shake (micro-g)."""
        start, end, amp_ug, freqs_mhz, _, _ = move
        dt_us = t_us - start
        span_us = end - start
        p = self._sp
        p[kernels.S_N] = n
        p[kernels.S_ENV] = (dt_us << 23) // span_us  # half a turn over the movement
        p[kernels.S_ENV_STEP] = (period_us << 23) // span_us
        for i in range(3):  # turns = f * t (+ 0, 1 or 2 rad): q24 from mHz and us
            f = freqs_mhz[i]
            p[kernels.S_PH1 + 2 * i] = (((f * dt_us) << 24) // 1000000000 + _OFFSETS_Q24[i]) & (
                kernels.TURN_Q24 - 1
            )
            p[kernels.S_ST1 + 2 * i] = ((f * period_us) << 24) // 1000000000
        p[kernels.S_AMP] = amp_ug
        kernels.shake_run(p, self._shake)

    def _segment_end(self, t0_us, period_us, n, k, bound_us):
        """Index of the first sample at or after bound_us (at most n, more than k)."""
        if bound_us >= t0_us + n * period_us:
            end = n
        else:
            end = -((t0_us - bound_us) // period_us)  # ceil((bound - t0) / period)
        return min(end, n, k + _CHUNK) if end > k else k + 1

    def accel_block(self, t0_us, period_us, n, xyz_ug):
        """n accelerometer samples from t0_us into xyz_ug[0..3n) (x, y, z micro-g)."""
        if n <= 0:
            return
        upto = t0_us + (n - 1) * period_us
        if upto >= self._next_event_us:
            self._schedule(t0_us, upto)
        k = 0
        while k < n:
            t = t0_us + k * period_us
            moves = self._moves
            if not moves or t >= moves[-1][1]:  # still, after the last movement (or before any)
                g = moves[-1][5] if moves else self._gravity0
                kernels.accel_run(self._acc, self._shake, xyz_ug, k, n - k, g[0], g[1], g[2], 0)
                return
            move = self._move_at(t)
            bound = self._next_start_us  # a new movement (and posture) may start
            moving = move is not None and t < move[1]
            if moving and move[1] < bound:
                bound = move[1]
            end = self._segment_end(t0_us, period_us, n, k, bound)
            g = self._gravity(move)
            if moving:
                self._fill_shake(move, t, period_us, end - k)
            kernels.accel_run(
                self._acc, self._shake, xyz_ug, k, end - k, g[0], g[1], g[2], 1 if moving else 0
            )
            k = end

    def accel(self, t_us):
        """(x, y, z) acceleration in g felt by the MPU-6050 at t_us."""
        o = self._one
        self.accel_block(t_us, 1, 1, o)
        return (o[0] / _UG, o[1] / _UG, o[2] / _UG)

    def ppg_block(self, t0_us, period_us, n, ir_q12, red_q12):
        """Generic: n PPG samples from t0_us, one ppg() call each."""
        for k in range(n):
            red, ir = self.ppg(t0_us + k * period_us)
            ir_q12[k] = _q12(ir)
            red_q12[k] = _q12(red)

    def ppg(self, t_us):  # pragma: no cover - overridden
        return NO_FINGER_NA_PER_MA, NO_FINGER_NA_PER_MA


class Synthetic(Scenario):
    """A sleeper: beats with RSA and HRV, respiration, movements; see the module docstring.

    Samples come from kernels.ppg_run: the beat's waveform from a table indexed by its phase,
    breathing from a sine table, uniform noise from xorshift32; the beats themselves (their
    intervals, with RSA, HRV and the night's profile) and the faults are decided here, per beat
    and per block."""

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
        self._beat_end_us = 0  # _beat_to brings it up to date at the first sample
        self._period_us = 0
        self._resp_us = int(60 * US_PER_S / self.resp_per_min)  # one breath
        p = self._p = array("i", [0] * kernels.P_SIZE)
        p[kernels.P_RNG] = kernels.seed_state(self.seed, 1)
        p[kernels.P_MOTION] = int(3.0 * self.perf / 0.2 * _Q20 * 65536 / _UG)
        p[kernels.P_PERF_AMP] = int(_RESP_PERF * 32768)
        p[kernels.P_RED_AC] = int(RED_OVER_IR_AC * 32768)
        self._state = -1  # the finger state the levels in _p are set for
        self._bufs = (array("i", [0]), array("i", [0]))
        # Fault edges (us), for splitting blocks where the finger's state changes.
        self._edges = sorted(t for w in (self.loose, self.saturate, self.off) for t in w if t >= 0)

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

    def _beat_to(self, t_us):
        """Make the beats up to t_us: afterwards _beat_us <= t_us < _beat_us + _ibi_us."""
        if self._beat_us == 0 and t_us > 10 * US_PER_S:
            self._beat_us = t_us - t_us % self._ibi_us  # a board that starts late in the night
        while t_us >= self._beat_us + self._ibi_us:
            self._beat_us += self._ibi_us
            self._ibi_us = self._next_ibi_us(self._beat_us)
            self.beats_us.append(self._beat_us)
            if len(self.beats_us) > 512:
                del self.beats_us[:256]
        self._beat_end_us = self._beat_us + self._ibi_us

    def _finger_state(self, t_us):
        if self._inside(self.saturate, t_us):
            return _SATURATED
        if self._inside(self.off, t_us):
            return _OFF
        if self._inside(self.loose, t_us):
            return _LOOSE
        return _NORMAL

    def _set_levels(self, state):
        """The kernel's levels for a finger state (they change only at fault edges)."""
        p = self._p
        self._state = state
        dc, red_dc, base, perf = self.dc, self.dc * RED_OVER_IR_DC, 1.0, self.perf
        base_amp = _RESP_BASE
        noise = self.noise * self.perf
        if state == _LOOSE:  # a weak pulse on less light, and more noise
            base, base_amp, perf, noise = 0.4, 0.4 * _RESP_BASE, perf * 0.08, noise * 3.0
        elif state == _SATURATED:  # ambient light floods the photodiode: the ADC clips
            dc = red_dc = FLOOD_NA_PER_MA
            base_amp = perf = noise = 0.0
        elif state == _OFF:  # a little light scattered back by the cover glass, and noise
            dc = red_dc = NO_FINGER_NA_PER_MA
            base_amp = perf = 0.0
            noise = 0.05 / NO_FINGER_NA_PER_MA
        p[kernels.P_DC_IR] = _q12(dc)
        p[kernels.P_DC_RED] = _q12(red_dc)
        p[kernels.P_BASE] = int(base * _Q20)
        p[kernels.P_BASE_AMP] = int(base_amp * _Q20)
        p[kernels.P_PERF] = int(perf * _Q20)
        p[kernels.P_NOISE_W] = int(noise * _SQRT12 * _Q20)

    def ppg_block(self, t0_us, period_us, n, ir_q12, red_q12):
        """n PPG samples (q12) from t0_us into ir_q12[0..n), red_q12[0..n)."""
        if n <= 0:
            return
        upto = t0_us + (n - 1) * period_us
        if upto >= self._next_event_us:
            self._schedule(t0_us, upto)
        p = self._p
        if period_us != self._period_us:
            self._period_us = period_us
            p[kernels.P_RESP_STEP] = (period_us << 24) // self._resp_us
        k = 0
        while k < n:
            t = t0_us + k * period_us
            if t >= self._beat_end_us:
                self._beat_to(t)
            bound = self._beat_end_us
            state = _NORMAL
            if self._edges:  # faults: split where the finger's state changes
                state = self._finger_state(t)
                for edge in self._edges:
                    if edge > t:
                        bound = min(bound, edge)
                        break
            if state != self._state:
                self._set_levels(state)
            move = None
            moves = self._moves
            if state <= _LOOSE and moves and t < moves[-1][1]:  # a movement, now or soon
                move = self._move_at(t)
                bound = min(bound, self._next_start_us)
                if move is not None and t < move[1]:
                    bound = min(bound, move[1])
                else:
                    move = None
            if bound >= t0_us + n * period_us:
                end = n
            else:
                end = self._segment_end(t0_us, period_us, n, k, bound)
            ibi = self._ibi_us
            since = t - self._beat_us
            if move is not None:
                self._fill_shake(move, t, period_us, end - k)
            kernels.ppg_run(
                p,
                self._shake,
                ir_q12,
                red_q12,
                k,
                end - k,
                (since << 24) // ibi if since > 0 else 0,
                (period_us << 24) // ibi,
                ((t % self._resp_us) << 24) // self._resp_us,
                0 if move is None else 1,
            )
            k = end

    def ppg(self, t_us):
        ir, red = self._bufs
        self.ppg_block(t_us, 1, 1, ir, red)
        return red[0] / _Q12, ir[0] / _Q12


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
        v = self.value_at(t_us / 1000.0)
        if v is None:
            return self._finger(t_us, NO_FINGER_NA_PER_MA, NO_FINGER_NA_PER_MA)
        ir = self._offset + self._gain * v
        if self._inside(self.loose, t_us):
            ir = 0.4 * (self.dc + 0.08 * (ir - self.dc))
        red = RED_OVER_IR_DC * (self.dc + RED_OVER_IR_AC * (ir - self.dc))
        return self._finger(t_us, red, ir)


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
    """Linear resampling of (times, x) to rate_hz between t0 and t1 (ms).

    Arrays of floats, made at their final size: on the unix port a list of floats is a heap
    object per value, and growing lists among them fragments the heap (a replay then needs
    megabytes to start)."""
    step = 1000.0 / rate_hz
    count = 0
    while t0 + count * step < t1:
        count += 1
    out = array("d", [0.0] * count)
    i = 0
    n = len(times)
    for k in range(count):
        t = t0 + k * step
        while i + 2 < n and times[i + 1] <= t:
            i += 1
        f = (t - times[i]) / (times[i + 1] - times[i])
        out[k] = x[i] + (x[i + 1] - x[i]) * min(1.0, max(0.0, f))
    return out


def _band(y, fs):
    """Heart-rate band (~0.6-5 Hz) by a difference of moving averages (an array of floats)."""
    short = max(1, int(fs * 0.1))
    long_ = max(short + 1, int(fs * 0.8))
    out = array("d", [0.0] * max(0, len(y) - long_))
    acc_s = acc_l = 0.0
    for i in range(len(y)):
        v = y[i]
        acc_s += v - (y[i - short] if i >= short else y[0])
        acc_l += v - (y[i - long_] if i >= long_ else y[0])
        if i >= long_:
            out[i - long_] = acc_s / short - acc_l / long_
    return out


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
