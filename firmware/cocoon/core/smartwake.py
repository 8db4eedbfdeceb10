"""Smart wake: time the sunrise so that the sleeper wakes at a light-sleep moment before the alarm.

An alarm at A with a window W (default 30 min): the first light-sleep or wake epoch that starts
inside [A - W, A) wakes the sleeper; if none does, the alarm does, at A. The sunrise ramp (R,
default 30 min, red -> amber -> warm white in the light engine) is planned to reach full light at
A, starting at A - R; when a light-sleep epoch is seen first, the rest of the ramp is played over
`finish_ms` (default 3 min) from where it stands, so the light rises without a jump (never a flash:
WCAG 2.3.1 counts opposing changes, a ramp has one direction). The wake-up lights people use ramp
30 min to full at the alarm time (Philips, Hatch); wake windows of 30 min are Sleep as Android's.

Stages reach this module with the delay of the epoch features (core/epoch.py: 7.5 min after an
epoch ends), so a light-sleep epoch near the end of the window may be seen only after the alarm:
then the alarm has already woken the sleeper. Pure logic: times are ticks in ms (wrapping at 2^30
like time.ticks_ms on the ESP32), passed in.

    sw = SmartWake(); sw.set_alarm(now_ms, ticks_add(now_ms, 7 * 3600000))
    ev = sw.on_epoch(now_ms, epoch_start_ms, stage)     # or sw.tick(now_ms) between epochs
    level_q15 = sw.sunrise_q15(now_ms)                  # 0..32768 for the light engine, -1: none
"""

from micropython import const

_TICKS_MASK = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)
FULL_Q15 = const(32768)
NONE = const(-1)  # sunrise_q15 when there is no sunrise

# States
IDLE = const(0)  # no alarm
ARMED = const(1)  # alarm set, window not open yet
WINDOW = const(2)  # watching the stages
WAKING = const(3)  # decided: the ramp finishes
AWAKE = const(4)  # full light reached; held until clear()

# Events returned by tick() and on_epoch()
EV_NONE = const(0)
EV_WINDOW = const(1)  # the wake window opened
EV_WAKE = const(2)  # decided: reason says why (see REASONS)
EV_FULL = const(3)  # the sunrise reached full light

REASON_LIGHT = const(1)  # a light-sleep epoch inside the window
REASON_AWAKE = const(2)  # a wake epoch inside the window (already awake)
REASON_ALARM = const(3)  # no such epoch: the alarm time
REASONS = ("", "light", "wake", "alarm")
STATES = ("idle", "armed", "window", "waking", "awake")

_WAKE_STAGE = const(0)  # core/stager.py WAKE, LIGHT
_LIGHT_STAGE = const(1)
_DAY_MS = const(86400000)
_MAX_RAMP_MS = const(3600000)  # 60 min: keeps the progress arithmetic below 2^30
_MIN_FINISH_MS = const(10000)


def ticks_diff(a, b):
    """a - b for ticks in ms wrapped at 2^30 (valid while |a - b| < 2^29 ms, 6.2 days)."""
    return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def ticks_add(t, d):
    return (t + d) & _TICKS_MASK


class SmartWake:
    def __init__(self, window_ms=1800000, ramp_ms=1800000, finish_ms=180000):
        self.configure(window_ms, ramp_ms, finish_ms)
        self.clear()

    def configure(self, window_ms, ramp_ms, finish_ms):
        """Window up to 2 h; ramp 1..60 min; finish 10 s .. ramp. ValueError otherwise."""
        if not 0 <= window_ms <= 7200000:
            raise ValueError("smart wake: window must be 0..120 min")
        if not 60000 <= ramp_ms <= _MAX_RAMP_MS:
            raise ValueError("smart wake: sunrise ramp must be 1..60 min")
        if not _MIN_FINISH_MS <= finish_ms <= ramp_ms:
            raise ValueError("smart wake: finish must be 10 s .. the ramp")
        self.window_ms = window_ms
        self.ramp_ms = ramp_ms
        self.finish_ms = finish_ms

    def clear(self):
        """No alarm, no sunrise."""
        self.state = IDLE
        self.alarm_ms = 0
        self.reason = 0
        self.decided_ms = 0
        self.epoch_ms = 0  # start of the epoch that decided
        self.stage = -1
        self._t0 = 0  # the ramp: progress p0 at t0, full at t_end
        self._p0 = 0
        self._t_end = 0
        self._ramping = False

    def set_alarm(self, now_ms, alarm_ms):
        """Set (or move) the alarm to tick alarm_ms, 1 s .. 24 h from now. ValueError otherwise."""
        ahead = ticks_diff(alarm_ms, now_ms)
        if not 1000 <= ahead <= _DAY_MS:
            raise ValueError("smart wake: the alarm must be 1 s to 24 h ahead")
        p_now = self.sunrise_q15(now_ms) if self.state in (ARMED, WINDOW) else NONE
        self.clear()
        self.state = ARMED
        self.alarm_ms = alarm_ms
        start = ticks_add(alarm_ms, -self.ramp_ms)
        if p_now > 0 and ticks_diff(start, now_ms) <= 0:
            # The alarm moved while the sunrise was already up: carry on from the current light
            # towards the new time, so the light never jumps.
            self._plan(now_ms, p_now, alarm_ms)
        elif ticks_diff(start, now_ms) < 0:
            self._plan(now_ms, 0, alarm_ms)  # less than a ramp ahead: a shorter sunrise
        else:
            self._plan(start, 0, alarm_ms)
        # (A sunrise that was up for an alarm now moved later than a ramp away stops: the light
        # engine fades it out; it starts again in time for the new alarm.)
        return self.tick(now_ms)

    def _plan(self, t0, p0, t_end):
        self._t0 = t0
        self._p0 = p0
        self._t_end = t_end
        self._ramping = True

    def window_start_ms(self):
        return ticks_add(self.alarm_ms, -self.window_ms)

    def tick(self, now_ms):
        """Advance with the clock: opens the window, fires the alarm, reports full light."""
        s = self.state
        if s == ARMED and ticks_diff(now_ms, self.window_start_ms()) >= 0:
            self.state = WINDOW
            if ticks_diff(now_ms, self.alarm_ms) < 0:
                return EV_WINDOW
            s = WINDOW
        if s == WINDOW and ticks_diff(now_ms, self.alarm_ms) >= 0:
            self._decide(now_ms, REASON_ALARM, self.alarm_ms, -1)
            return EV_WAKE
        if s == WAKING and ticks_diff(now_ms, self._t_end) >= 0:
            self.state = AWAKE
            return EV_FULL
        return EV_NONE

    def on_epoch(self, now_ms, epoch_start_ms, stage):
        """A published stage (core/stager.py codes) of the epoch that started at epoch_start_ms."""
        ev = self.tick(now_ms)
        if ev != EV_NONE or self.state != WINDOW:
            return ev
        if ticks_diff(epoch_start_ms, self.window_start_ms()) < 0:
            return EV_NONE  # before the window
        if ticks_diff(epoch_start_ms, self.alarm_ms) >= 0:
            return EV_NONE
        if stage == _LIGHT_STAGE:
            self._decide(now_ms, REASON_LIGHT, epoch_start_ms, stage)
            return EV_WAKE
        if stage == _WAKE_STAGE:
            self._decide(now_ms, REASON_AWAKE, epoch_start_ms, stage)
            return EV_WAKE
        return EV_NONE

    def _decide(self, now_ms, reason, epoch_ms, stage):
        p = self.sunrise_q15(now_ms)
        if p < 0:
            p = 0
        end = ticks_add(now_ms, self.finish_ms)
        if ticks_diff(end, self.alarm_ms) > 0 and ticks_diff(self.alarm_ms, now_ms) > 0:
            end = self.alarm_ms  # never later than the alarm
        if p >= FULL_Q15:
            end = now_ms  # already full (the alarm time with a whole ramp behind it)
        elif ticks_diff(end, now_ms) < _MIN_FINISH_MS:
            end = ticks_add(now_ms, _MIN_FINISH_MS)  # no jump to full, even at the alarm
        self.state = WAKING
        self.reason = reason
        self.decided_ms = now_ms
        self.epoch_ms = epoch_ms
        self.stage = stage
        self._plan(now_ms, p, end)

    def wake_at_ms(self):
        """When the light will be full (the wake moment), or the alarm time before a decision."""
        return self._t_end if self._ramping else self.alarm_ms

    def sunrise_q15(self, now_ms):
        """Sunrise progress 0..32768 for the light engine, or -1 when there is no sunrise now."""
        if self.state == IDLE or not self._ramping:
            return NONE
        if self.state == AWAKE:
            return FULL_Q15
        since = ticks_diff(now_ms, self._t0)
        if since < 0:
            return NONE
        span = ticks_diff(self._t_end, self._t0)
        if since >= span:
            return FULL_Q15
        # 128-ms steps keep (32768 * steps) below 2^30 for ramps up to 60 min.
        steps = span >> 7
        if steps <= 0:
            return FULL_Q15
        p0 = self._p0
        return p0 + ((FULL_Q15 - p0) * (since >> 7)) // steps
