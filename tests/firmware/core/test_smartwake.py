# Smart wake (cocoon.core.smartwake): window edges, no light sleep in the window, an alarm moved
# mid-night, the ramp's continuity, and tick wrap-around. On CPython and on the MicroPython port.
from cocoon.core.smartwake import (
    ARMED,
    AWAKE,
    EV_FULL,
    EV_NONE,
    EV_WAKE,
    EV_WINDOW,
    FULL_Q15,
    IDLE,
    NONE,
    REASON_ALARM,
    REASON_AWAKE,
    REASON_LIGHT,
    WAKING,
    WINDOW,
    SmartWake,
    ticks_add,
    ticks_diff,
)
from mpt import raises

MIN = 60000
HOUR = 3600000
WAKE, LIGHT, DEEP, REM = 0, 1, 2, 3
DELAY = 8 * MIN  # a stage is published about 7.5 min after its epoch ends


def _armed(now=0, alarm_in=7 * HOUR, **kw):
    sw = SmartWake(**kw)
    sw.set_alarm(now, ticks_add(now, alarm_in))
    return sw


def _feed(sw, start, end, stage_of, delay=DELAY):
    """Publish every 30-s epoch from start to end (ms) with its delay; return the events seen."""
    events = []
    t = start
    while ticks_diff(end, t) > 0:
        now = ticks_add(t, delay)
        ev = sw.on_epoch(now, t, stage_of(t))
        if ev != EV_NONE:
            events.append((ev, now))
        t = ticks_add(t, 30000)
    return events


def test_first_light_epoch_inside_the_window_wakes():
    sw = _armed()
    alarm = 7 * HOUR
    light_at = alarm - 20 * MIN
    events = _feed(sw, 6 * HOUR, alarm, lambda t: LIGHT if t >= light_at else DEEP)
    assert sw.tick(alarm - 31 * MIN + DELAY) == EV_NONE
    wakes = [now for ev, now in events if ev == EV_WAKE]
    assert len(wakes) == 1
    assert sw.reason == REASON_LIGHT and sw.epoch_ms == light_at and sw.stage == LIGHT
    assert sw.decided_ms == light_at + DELAY
    # Full light 3 min (the finish) after the decision, well before the alarm.
    assert sw.wake_at_ms() == light_at + DELAY + 3 * MIN
    assert sw.sunrise_q15(sw.wake_at_ms()) == FULL_Q15
    assert [ev for ev, _ in events] == [EV_WINDOW, EV_WAKE, EV_FULL]
    assert [now for ev, now in events if ev == EV_FULL] == [sw.wake_at_ms()]
    assert sw.state == AWAKE


def test_window_edges():
    alarm = 7 * HOUR
    start = alarm - 30 * MIN
    for epoch_start, counts in (
        (start - 30000, False),  # the epoch before the window
        (start - 1, False),
        (start, True),  # the first epoch of the window
        (alarm - 30000, True),  # the last one (published after the alarm: see below)
        (alarm, False),
    ):
        sw = _armed()
        sw.tick(start)  # the window is open
        ev = sw.on_epoch(start + 1000, epoch_start, LIGHT)
        assert (ev == EV_WAKE) == counts, epoch_start
        assert sw.state == (WAKING if counts else WINDOW)


def test_the_window_opens_and_the_ramp_starts_at_its_time():
    sw = _armed()
    alarm = 7 * HOUR
    assert sw.state == ARMED
    assert sw.tick(alarm - 30 * MIN - 1) == EV_NONE
    assert sw.sunrise_q15(alarm - 30 * MIN - 1) == NONE
    assert sw.tick(alarm - 30 * MIN) == EV_WINDOW and sw.state == WINDOW
    assert sw.sunrise_q15(alarm - 30 * MIN) == 0
    half = sw.sunrise_q15(alarm - 15 * MIN)
    assert abs(half - FULL_Q15 // 2) <= 8


def test_no_light_sleep_in_the_window_wakes_at_the_alarm():
    sw = _armed()
    alarm = 7 * HOUR
    # Every epoch published before the alarm: deep or REM only.
    events = _feed(sw, 6 * HOUR, alarm - DELAY, lambda t: DEEP if (t // (5 * MIN)) % 2 else REM)
    assert [ev for ev, _ in events] == [EV_WINDOW]
    assert sw.state == WINDOW
    assert sw.sunrise_q15(alarm - 1000) < FULL_Q15
    assert sw.tick(alarm) == EV_WAKE
    assert sw.reason == REASON_ALARM and sw.decided_ms == alarm
    assert sw.sunrise_q15(alarm) == FULL_Q15  # the whole ramp is behind: full at the alarm
    assert sw.tick(alarm + 1000) == EV_FULL


def test_light_sleep_seen_only_after_the_alarm_is_too_late():
    sw = _armed()
    alarm = 7 * HOUR
    assert sw.tick(alarm) == EV_WAKE  # the alarm fired first
    assert sw.on_epoch(alarm + DELAY - 30000, alarm - 60000, LIGHT) in (EV_NONE, EV_FULL)
    assert sw.reason == REASON_ALARM


def test_a_wake_epoch_also_ends_the_wait():
    sw = _armed()
    alarm = 7 * HOUR
    sw.tick(alarm - 25 * MIN)
    assert sw.on_epoch(alarm - 25 * MIN, alarm - 28 * MIN, WAKE) == EV_WAKE
    assert sw.reason == REASON_AWAKE


def test_alarm_moved_later_mid_night():
    sw = _armed()
    sw.tick(3 * HOUR)
    assert sw.set_alarm(3 * HOUR, 8 * HOUR) == EV_NONE
    # Light sleep in the old window does nothing now.
    events = _feed(sw, 6 * HOUR + 30 * MIN, 7 * HOUR, lambda t: LIGHT)
    assert not events and sw.state == ARMED
    assert sw.sunrise_q15(7 * HOUR) == NONE
    events = _feed(sw, 7 * HOUR, 8 * HOUR, lambda t: LIGHT if t >= 7 * HOUR + 40 * MIN else DEEP)
    assert [ev for ev, _ in events] == [EV_WINDOW, EV_WAKE, EV_FULL]
    assert sw.epoch_ms == 7 * HOUR + 40 * MIN and sw.reason == REASON_LIGHT


def test_alarm_moved_earlier_into_the_window():
    sw = _armed()
    now = 6 * HOUR
    sw.tick(now)
    # Now 10 min ahead: the window is already open and the ramp is squeezed into those 10 min.
    assert sw.set_alarm(now, now + 10 * MIN) == EV_WINDOW
    assert sw.sunrise_q15(now) == 0
    assert abs(sw.sunrise_q15(now + 5 * MIN) - FULL_Q15 // 2) <= 8  # 128-ms steps
    assert sw.on_epoch(now + 2 * MIN, now - 60000, DEEP) == EV_NONE  # before the window
    assert sw.tick(now + 10 * MIN) == EV_WAKE and sw.reason == REASON_ALARM


def test_moving_the_alarm_while_the_sun_rises_never_jumps():
    sw = _armed()
    alarm = 7 * HOUR
    now = alarm - 10 * MIN
    sw.tick(now)
    before = sw.sunrise_q15(now)
    assert before > FULL_Q15 // 2
    sw.set_alarm(now, alarm + 15 * MIN)  # 25 min ahead: within a ramp, so it carries on
    after = sw.sunrise_q15(now)
    assert after == before
    assert sw.sunrise_q15(alarm + 15 * MIN) == FULL_Q15
    # Moved far away: the sunrise stops (the light engine fades it) and comes back in time.
    sw.set_alarm(now, now + 5 * HOUR)
    assert sw.sunrise_q15(now) == NONE
    assert sw.sunrise_q15(now + 5 * HOUR - 30 * MIN) == 0


def test_the_ramp_only_rises_and_in_small_steps():
    sw = _armed()
    alarm = 7 * HOUR
    light_at = alarm - 12 * MIN
    last = -1
    biggest = 0
    t = 6 * HOUR
    while t < alarm + 10 * MIN:
        if t % 30000 == 0 and t >= DELAY + 6 * HOUR:
            e = t - DELAY
            sw.on_epoch(t, e, LIGHT if e >= light_at else DEEP)
        else:
            sw.tick(t)
        p = sw.sunrise_q15(t)
        if p >= 0 and last >= 0:
            assert p >= last
            biggest = max(biggest, p - last)
        last = p
        t += 1000
    assert last == FULL_Q15
    # 1-s steps of at most 1/180 of full light over the 3-min finish (plus rounding).
    assert biggest <= FULL_Q15 // 180 + 2


def test_ticks_wrap_around():
    now = (1 << 30) - 2 * HOUR  # the ms tick counter wraps at 2^30 on the ESP32
    sw = _armed(now=now, alarm_in=3 * HOUR)
    alarm = ticks_add(now, 3 * HOUR)
    assert alarm < now
    light_at = ticks_add(alarm, -10 * MIN)
    events = _feed(
        sw,
        ticks_add(now, HOUR),
        alarm,
        lambda t: LIGHT if ticks_diff(t, light_at) >= 0 else DEEP,
    )
    assert [ev for ev, _ in events] == [EV_WINDOW, EV_WAKE, EV_FULL]
    assert sw.epoch_ms == light_at


def test_bad_settings_are_refused():
    sw = SmartWake()
    raises(ValueError, sw.set_alarm, 1000, 1000)  # now
    raises(ValueError, sw.set_alarm, 5 * HOUR, 4 * HOUR)  # in the past
    raises(ValueError, sw.set_alarm, 0, 25 * HOUR)  # beyond a day
    raises(ValueError, SmartWake, 3 * HOUR)  # window
    raises(ValueError, SmartWake, 30 * MIN, 2 * HOUR)  # ramp
    raises(ValueError, SmartWake, 30 * MIN, 30 * MIN, 1000)  # finish
    assert sw.state == IDLE and sw.sunrise_q15(0) == NONE


def test_clear_stops_everything():
    sw = _armed()
    sw.tick(7 * HOUR - 5 * MIN)
    assert sw.sunrise_q15(7 * HOUR - 5 * MIN) > 0
    sw.clear()
    assert sw.state == IDLE
    assert sw.tick(7 * HOUR) == EV_NONE
    assert sw.sunrise_q15(7 * HOUR) == NONE


def test_a_zero_window_only_has_the_alarm():
    sw = _armed(window_ms=0)
    assert sw.on_epoch(7 * HOUR - MIN, 7 * HOUR - 9 * MIN, LIGHT) == EV_NONE
    assert sw.tick(7 * HOUR) == EV_WAKE and sw.reason == REASON_ALARM
