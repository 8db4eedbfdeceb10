"""The `machine` module of the virtual board (installed as sys.modules['machine']).

    import machine
    machine.reset()   # hard reset: the runner restarts the interpreter, boot.py then main.py run

What the ESP32's machine module offers that firmware and tools use on a board without pins:
reset, soft_reset, reset_cause (and its constants), unique_id, freq, idle, lightsleep, deepsleep,
WDT, RTC, disable_irq/enable_irq. Pins and buses are the port's business (board.py), not here.
"""

import hostctl
import machine as _unix_machine  # the unix port's own: mem8/16/32, Signal, PinBase, time_pulse_us
import vclock

# MicroPython's ESP32 port (ports/esp32/modmachine.c): reset_cause() values.
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

mem8 = _unix_machine.mem8
mem16 = _unix_machine.mem16
mem32 = _unix_machine.mem32
Signal = _unix_machine.Signal
PinBase = _unix_machine.PinBase  # type: ignore[attr-defined]  # unix port only
time_pulse_us = _unix_machine.time_pulse_us

_state = {"cause": PWRON_RESET, "freq": 240000000, "uid": b"\x02\xcc\x00\x00\x00\x01"}


def configure(reset_cause, uid):
    _state["cause"] = reset_cause
    _state["uid"] = uid


def reset():
    """Hard reset, like esp_restart(): the ESP32 then reports SOFT_RESET as the cause."""
    hostctl.reset("hard", "friendly", vclock._clock.world_us())


def soft_reset():
    """As on the ESP32: SystemExit, which the REPL turns into a soft reset once it is reported."""
    raise SystemExit()


def reset_cause():
    return _state["cause"]


def unique_id():
    return _state["uid"]


def freq(hz=None):
    if hz is None:
        return _state["freq"]
    if hz not in (20000000, 40000000, 80000000, 160000000, 240000000):
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    _state["freq"] = hz


def idle():
    vclock._clock.sleep_us(1000)  # until the next tick interrupt (FreeRTOS tick: 1 ms)


def lightsleep(time_ms=None):
    vclock._clock.sleep_us((time_ms if time_ms is not None else 1000) * 1000)


def deepsleep(time_ms=0):
    """Sleep, then boot again (boot.py, main.py) with reset_cause() == DEEPSLEEP_RESET."""
    clock = vclock._clock
    hostctl.reset("deepsleep", "friendly", clock.world_us(), max(0, time_ms) * 1000)


def disable_irq():
    return 1


def enable_irq(state=1):
    pass


class WDT:
    """The ESP32's watchdog: once started it cannot be stopped; not fed in time -> hard reset."""

    def __init__(self, id=0, timeout=5000):  # noqa: A002 - machine.WDT's own signature
        if timeout < 1:
            raise ValueError("WDT timeout too short")
        vclock._clock.wdt_start(timeout)

    def feed(self):
        vclock._clock.wdt_feed()


class RTC:
    """Calendar time of the virtual board: set it and the board's time.time() follows."""

    def datetime(self, dt=None):
        clock = vclock._clock
        if dt is None:
            t = vclock.gmtime(clock.time())
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        secs = vclock.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0))
        clock.epoch0_s += secs - clock.time()

    def init(self, dt):
        self.datetime(dt)
