"""A synthetic night with a known hypnogram: the stages the virtual sleeper goes through, and what
each does to heart rate, its variability and movement, so that a simulated night can be scored.

    --scenario synthetic:profile=hypnogram,seed=3           (scenario.py PROFILES)
    p = HypnogramProfile(keys, rng); p.stage(t_s) -> 0 wake, 1 light, 2 deep, 3 rem

The shape follows adult sleep architecture: sleep onset after `latency` minutes (15) awake, then
~`cycle`-minute cycles (90) of light sleep, deep sleep (long in the first cycles, fading out by
the fourth), light again and REM (short in the first cycle, 25 min by morning), now and then a
brief awakening between cycles; after `night` hours (8) the sleeper is awake. What each stage
does is set so that the firmware's epoch features look like wrist data (walch2019-features per
stage: mean activity count 12 / 1.2 / 0.66 / 0.8 and median HR feature 0.41 / 0.25 / 0.16 / 0.40
for wake / light / deep / REM):
- heart rate level (wake +12 %, deep -6 %, REM +4 %) and its slow wandering (minute scale: the
  HR feature's band), large in REM, small in deep sleep; awake, movement artefacts add their own;
- beat-to-beat jitter (hrv_factor) and movements per hour (motion_factor, times the scenario's
  `motion` rate).
Calibration (declared): the wandering and movement rates were adjusted in two whole-night runs
of seed 100 against those count means and HR-feature medians only; nights are scored on other
seeds (bench/bench_night.py). On seed 100 the features came out at count 13.6 / 1.2 / 0.3 / 0.6
and HR feature 0.33 / 0.31 / 0.17 / 0.51 (light and REM read ~25 % high: the night's own HR
scale is a running percentile of the whole distribution, which the profile does not set).
Since the chips take their samples in blocks and movements draw from a random stream of their
own (scenario.py), seed 100 gives count 13.3 / 0.4 / 0.2 / 0.7 and HR feature 0.52 / 0.32 / 0.17
/ 0.53: the same model, other draws of the movements (over 20 nights their number stays within
the spread between random streams); not recalibrated.
Levels change over a minute at each transition, as heart rate does. Stages are 0 wake, 1 light,
2 deep, 3 REM (the numbering of cocoon/core/stager.py). Nothing here imports the firmware.
"""

import math

WAKE = 0
LIGHT = 1
DEEP = 2
REM = 3
# Per stage: HR level, HR wandering (fraction of HR), beat jitter factor, movements factor.
_LEVEL = (1.12, 1.0, 0.94, 1.04)
_WANDER = (0.027, 0.022, 0.0136, 0.044)
_JITTER = (1.3, 1.0, 0.8, 1.2)
_MOTION = (40.0, 4.0, 0.3, 1.5)  # x the scenario's motion rate (4/h): 160/h awake
_TRANSITION_S = 60.0


def _key(keys, name, default, lo, hi):
    if name not in keys:
        return default
    raw = keys.pop(name)
    try:
        v = float(raw)
    except ValueError:
        raise ValueError("scenario key %s=%s is not a number" % (name, raw)) from None
    if not lo <= v <= hi:
        raise ValueError("scenario key %s=%s is outside %s..%s" % (name, raw, lo, hi))
    return v


class HypnogramProfile:
    def __init__(self, keys, rng):
        latency_min = _key(keys, "latency", 15.0, 0, 180)
        cycle_min = _key(keys, "cycle", 90.0, 40, 180)
        night_h = _key(keys, "night", 8.0, 0.5, 24)
        self.segments = []  # (start_s, stage), in time order
        self._plan(rng, latency_min * 60.0, cycle_min / 90.0, night_h * 3600.0)
        self.end_s = night_h * 3600.0
        # The slow HR wandering: three sines with periods in the HR feature's 1-5 min band.
        self._waves = [
            (2.0 * math.pi / (60.0 + 240.0 * rng.u()), 2.0 * math.pi * rng.u()) for _ in range(3)
        ]
        self._i = 0

    def _plan(self, rng, latency_s, scale, night_s):
        def add(stage, minutes):
            if minutes > 0.25:
                self.segments.append((t[0], stage))
                t[0] += minutes * 60.0

        def vary(x):
            return x * (0.75 + 0.5 * rng.u())

        t = [0.0]
        add(WAKE, latency_s / 60.0 * (0.7 + 0.6 * rng.u()) if latency_s > 0 else 0.0)
        cycle = 0
        while t[0] < night_s:
            # Adult proportions over a night: ~55 % light, ~15 % deep, ~25 % REM, a little wake.
            add(LIGHT, vary(30.0) * scale)
            add(DEEP, vary(max(0.0, 35.0 - 11.0 * cycle)) * scale)
            add(LIGHT, vary(10.0) * scale)
            add(REM, vary(min(25.0, 5.0 + 5.0 * cycle)) * scale)
            if rng.u() < 0.35:
                add(WAKE, 1.0 + 3.0 * rng.u())
            cycle += 1
        # Morning: whatever stage runs at the end of the night gives way to wake.
        while self.segments and self.segments[-1][0] >= night_s:
            self.segments.pop()
        self.segments.append((night_s, WAKE))

    def _index(self, t_s):
        # Time mostly moves forward: start from the last answer (constant time per call).
        seg = self.segments
        i = self._i
        if i >= len(seg) or seg[i][0] > t_s:
            i = 0
        while i + 1 < len(seg) and seg[i + 1][0] <= t_s:
            i += 1
        self._i = i
        return i

    def stage(self, t_s):
        """The stage at t_s (seconds since the scenario started: lights-out)."""
        if t_s < 0:
            return WAKE
        return self.segments[self._index(t_s)][1]

    def _blend(self, table, t_s):
        if t_s < 0:
            return table[WAKE]
        i = self._index(t_s)
        start, stage = self.segments[i]
        now = table[stage]
        if i == 0 or t_s - start >= _TRANSITION_S:
            return now
        before = table[self.segments[i - 1][1]]
        f = (t_s - start) / _TRANSITION_S
        return before + (now - before) * f

    def hr_factor(self, t_s):
        w = 0.0
        for omega, phase in self._waves:
            w += math.sin(omega * t_s + phase)
        return self._blend(_LEVEL, t_s) * (1.0 + self._blend(_WANDER, t_s) * w * 0.6)

    def hrv_factor(self, t_s):
        return self._blend(_JITTER, t_s)

    def motion_factor(self, t_s):
        if t_s < 0:
            return _MOTION[WAKE]
        return _MOTION[self.stage(t_s)]

    def epochs(self, n, epoch_s=30):
        """The stage of each of the first n epochs (at each epoch's middle): the night's truth."""
        return [self.stage((k + 0.5) * epoch_s) for k in range(n)]
