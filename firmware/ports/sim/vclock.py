"""The virtual board's clock, and the `time` module its firmware sees.

    clock = vclock.Clock(speed_milli=vclock.MAX)   # or 1000 = real time, 10000 = ten times faster
    vclock.install(clock); t = clock.ticks_ms(); clock.sleep_ms(20); clock.world_us()

Two times are kept apart:
- world time (`world_us()`, microseconds since the virtual board was first switched on) is the
  time of the simulated room: scenarios, LED recordings and `--until` follow it, across resets;
- ticks (`ticks_ms()`, `ticks_us()`) are the board's uptime since its last hard reset, wrapping at
  2^30 like MicroPython on the ESP32 (py/mpconfig.h: MICROPY_PY_TIME_TICKS_PERIOD is the small-int
  range, 2^30 on a 32-bit port), so only ticks_diff/ticks_add are valid on them.

Speed: world time runs `speed_milli / 1000` times as fast as real time; at MAX a sleep advances it
at once, while the code that runs between sleeps still takes its real time (a loop that computes
for 2 ms and sleeps 18 ms sees 20 ms per turn, as on a real board). Reading the clock allocates
nothing.
The module-level functions are the `time`/`utime` stand-in installed by the supervisor.
"""

import time as _rt

import hostctl

MAX = 0  # speed_milli for "as fast as the CPU allows"
TICKS_PERIOD = 1 << 30
_TICKS_MASK = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD >> 1
_NEVER = 1 << 62
_SLEEP_SLICE_US = 100000  # a long sleep wakes up this often (real time) to notice --until


def ticks_diff(a, b):
    """Signed difference of two tick values, correct across the 2^30 wrap."""
    return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def ticks_add(t, delta):
    return (t + delta) & _TICKS_MASK


class Clock:
    def __init__(
        self, speed_milli=1000, world0_us=0, boot_us=0, until_us=-1, epoch0_s=0, ticks0_ms=0
    ):
        self.max = speed_milli == MAX
        self.speed_milli = 1000 if self.max else speed_milli
        self._world0_us = world0_us
        self._boot_us = boot_us  # world time of the last hard reset: ticks count from there
        self._ticks0_us = ticks0_ms * 1000  # start ticks near the wrap to test wrap handling
        self._skipped_us = 0
        self._real0 = _rt.ticks_us()
        self.until_us = until_us if until_us >= 0 else _NEVER
        self.epoch0_s = epoch0_s  # Unix time of world time 0
        self.wdt_timeout_us = 0
        self._wdt_due_us = _NEVER
        self._next_event_us = self.until_us

    # ---- world time
    def world_us(self):
        w = (
            self._world0_us
            + self._skipped_us
            + _rt.ticks_diff(_rt.ticks_us(), self._real0) * self.speed_milli // 1000
        )
        if w >= self._next_event_us:
            self._event(w)
        return w

    def world_ms(self):
        return self.world_us() // 1000

    def _event(self, w):
        if w >= self.until_us:
            hostctl.until(w)
        if w >= self._wdt_due_us:
            hostctl.send("log watchdog: not fed for %d ms" % (self.wdt_timeout_us // 1000))
            import sys

            sys.stdout.write(
                "\r\nWDT: the virtual watchdog was not fed for %d ms: hard reset\r\n"
                % (self.wdt_timeout_us // 1000)
            )
            hostctl.reset("wdt", "friendly", w)

    # ---- the board's ticks
    def uptime_us(self):
        return self.world_us() - self._boot_us + self._ticks0_us

    def ticks_us(self):
        return self.uptime_us() & _TICKS_MASK

    def ticks_ms(self):
        return (self.uptime_us() // 1000) & _TICKS_MASK

    def ticks_cpu(self):
        return self.ticks_us()

    def ticks_diff(self, a, b):
        return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF

    def ticks_add(self, t, delta):
        return (t + delta) & _TICKS_MASK

    # ---- sleeping
    def sleep_us(self, us):
        if us <= 0:
            self.world_us()
            return
        if self.max:
            self._skipped_us += us
            self.world_us()
            return
        due = self.world_us() + us
        while True:
            left = due - self.world_us()
            if left <= 0:
                return
            real = left * 1000 // self.speed_milli
            _rt.sleep_us(min(max(real, 1), _SLEEP_SLICE_US))

    def sleep_ms(self, ms):
        self.sleep_us(ms * 1000)

    def sleep(self, s):
        self.sleep_us(int(s * 1000000))

    # ---- watchdog (machine.WDT and board.wdt)
    def wdt_start(self, timeout_ms):
        self.wdt_timeout_us = timeout_ms * 1000
        self.wdt_feed()

    def wdt_feed(self):
        if self.wdt_timeout_us:
            self._wdt_due_us = self.world_us() + self.wdt_timeout_us
            self._next_event_us = min(self.until_us, self._wdt_due_us)

    # ---- calendar time: the host's time when the board was switched on, plus world time
    def time(self):
        return self.epoch0_s + self.world_us() // 1000000

    def time_ns(self):
        return self.epoch0_s * 1000000000 + self.world_us() * 1000


# ---- the `time` module stand-in: module-level functions on the installed clock
_clock = None


def install(clock):
    global _clock
    _clock = clock


def ticks_ms():
    return _clock.ticks_ms()


def ticks_us():
    return _clock.ticks_us()


def ticks_cpu():
    return _clock.ticks_us()


def sleep_ms(ms):
    _clock.sleep_us(ms * 1000)


def sleep_us(us):
    _clock.sleep_us(us)


def sleep(s):
    _clock.sleep(s)


def time():
    return _clock.time()


def time_ns():
    return _clock.time_ns()


def gmtime(secs=None):
    return _rt.gmtime(_clock.time() if secs is None else secs)


def localtime(secs=None):
    return _rt.localtime(_clock.time() if secs is None else secs)


def mktime(t):
    return _rt.mktime(t)
