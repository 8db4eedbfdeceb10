# Sleep stages and the smart wake inside the app (cocoon/app.py) on a fake board, on both
# interpreters: EPOCH frames, the alarm command, the wake EVENTs and the light's sunrise.
from appfakes import board, frames, of_type
from cocoon import app, proto
from cocoon.core.epoch import DELAY_EPOCHS
from mpt import is_micropython


class _NoGC:
    # CPython only: the app collects garbage once per second, which takes a CPython test
    # process with a big heap milliseconds each time; the app's own tests cover that call.
    @staticmethod
    def collect():
        return None


class Hub:
    """Stands in for the sensors hub (cocoon/sensors.py): a heart rate and 15-s counts."""

    def __init__(self, hr_x10=600):
        self.hr_x10 = hr_x10
        self.n = 0

    def take_count(self):
        self.n += 1
        return 40 if self.n % 15 == 0 else -1

    # The rest of the hub's interface, as the app uses it.
    def start(self, now_ms):
        pass

    def poll(self, now_ms):
        pass

    def take_beat_age_us(self, now_ms):
        return -1

    def status(self):
        return {"ppg": "ok", "imu": "ok"}

    def state_payload(self):
        return {"hr": self.hr_x10 / 10}


def run(a, b, seconds, hub=None, step_ms=1000):
    t = b.clock.ticks_ms()
    gc = app.gc
    if not is_micropython():
        app.gc = _NoGC
    try:
        for i in range(seconds * 1000 // step_ms):
            if hub is not None:
                hub.hr_x10 = 600 + 30 * ((i // 90) % 2)
            t = b.clock.ticks_add(t, step_ms)
            b.clock.advance_ms(step_ms)
            a.step(t)
            if i % 20 == 19:
                keep(b)
    finally:
        app.gc = gc
    keep(b)
    return t


def keep(b):
    """Collect the frames written so far: all but STATE, and the last STATE (small heaps)."""
    if not hasattr(b, "kept"):
        b.kept = []
        b.last_state = None
    for f in frames(b):
        if f.type == proto.STATE:
            b.last_state = f.payload
        else:
            b.kept.append(f)


def kept(b):
    keep(b)
    return b.kept


def started(hub=None):
    b = board(n=8)
    a = app.App(b)
    a.hub = hub
    a.start(b.clock.ticks_ms())
    return a, b


def command(b, seq, op, **fields):
    b.serial.inbox += proto.command(seq, op, **fields)


def test_epochs_are_published_with_their_delay():
    hub = Hub()
    a, b = started(hub)
    run(a, b, 20 * 60, hub)
    epochs = of_type(kept(b), proto.EPOCH)
    assert [e.payload["n"] for e in epochs] == list(range(40 - DELAY_EPOCHS))
    first = epochs[0]
    # Ready 457 s after lights-out (the first second is given at uptime 1 s).
    assert abs(first.uptime_ms // 1000 - ((DELAY_EPOCHS + 1) * 30 - 23)) <= 2
    for e in epochs:
        p = e.payload
        assert p["stage"] in ("wake", "light", "deep", "rem")
        assert p["valid"] is True and 55 <= p["hr"] <= 65
        assert abs(sum(p["p"]) - 100) <= 2
        assert (DELAY_EPOCHS - 1) * 30 < p["delay_s"] <= DELAY_EPOCHS * 30
    state = b.last_state["sleep"]
    assert state["stage"] == epochs[-1].payload["stage"]
    assert state["epochs"] == len(epochs) and state["alarm"] is None


def test_without_heart_rate_epochs_say_so():
    a, b = started(None)
    run(a, b, 10 * 60)
    epochs = of_type(kept(b), proto.EPOCH)
    assert epochs and all(e.payload["valid"] is False for e in epochs)
    assert all(e.payload["hr"] is None for e in epochs)


def test_alarm_command_wakes_inside_the_window_and_starts_the_sunrise():
    hub = Hub()
    a, b = started(hub)
    command(b, 1, "alarm", in_min=14, window_min=10)
    run(a, b, 16 * 60, hub)
    fs = kept(b)
    acks = [f.payload for f in of_type(fs, proto.EVENT) if f.payload["ev"] == "ack"]
    assert acks and acks[0]["ok"] is True
    events = [f for f in of_type(fs, proto.EVENT) if f.payload["ev"].startswith("wake")]
    names = [f.payload["ev"] for f in events]
    assert names == ["wake_window", "wake", "wake_full"], names
    window, wake, full = events
    assert abs(window.uptime_ms - 4 * 60000) <= 3000
    # The first minutes after lights-out read as wake: the decision comes from an epoch inside
    # the window, as soon as it is published, before the alarm.
    assert wake.payload["reason"] in ("wake", "light")
    assert wake.payload["epoch_t_s"] >= 4 * 60
    assert 0 < wake.payload["before_alarm_s"]
    assert full.uptime_ms <= 14 * 60000 + 3000  # the alarm (set 1-2 s after boot)
    assert a.renderer.mode == "sunrise"
    state = b.last_state["sleep"]
    assert state["alarm"]["state"] == "awake" and state["alarm"]["sunrise_pct"] == 100


def test_alarm_with_no_sleep_data_wakes_at_the_alarm():
    a, b = started(None)
    command(b, 1, "alarm", in_min=5, window_min=3)
    run(a, b, 6 * 60)
    wakes = [f.payload for f in of_type(kept(b), proto.EVENT) if f.payload["ev"] == "wake"]
    assert len(wakes) == 1 and wakes[0]["reason"] == "alarm"
    assert a.renderer.mode == "sunrise"


def test_bad_alarm_commands_are_refused_and_clear_ends_the_sunrise():
    a, b = started(None)
    mode = a.renderer.mode
    command(b, 1, "alarm", in_min=3000)
    command(b, 2, "alarm", window_min=5)
    command(b, 3, "alarm", in_min=20, window_min=500)
    command(b, 4, "alarm", in_min=20)
    run(a, b, 5)
    acks = [f.payload for f in of_type(kept(b), proto.EVENT) if f.payload["ev"] == "ack"]
    assert [x["ok"] for x in acks] == [False, False, False, True]
    assert "24 h" in acks[0]["error"] and "in_min" in acks[1]["error"]
    run(a, b, 15 * 60)
    assert a.renderer.mode == "sunrise"
    command(b, 5, "alarm", clear=True)
    run(a, b, 2)
    assert a.renderer.mode == mode  # back to the configured light
    assert a.sleep_payload(b.clock.ticks_ms())["alarm"] is None


def test_night_command_starts_a_new_night():
    hub = Hub()
    a, b = started(hub)
    run(a, b, 10 * 60, hub)
    assert of_type(kept(b), proto.EPOCH)
    command(b, 1, "night")
    b.kept = []
    run(a, b, 8 * 60, hub)
    epochs = of_type(kept(b), proto.EPOCH)
    assert epochs and epochs[0].payload["n"] == 0
