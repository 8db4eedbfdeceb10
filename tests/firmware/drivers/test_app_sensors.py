# The app with the simulated sensor bus: heart rate in STATE, beats to the oscillator, and a chip
# that disappears and comes back mid-night. Both interpreters.
import sys

sys.path.append(__file__.rsplit("/", 1)[0])

import simbus  # noqa: E402
from appfakes import board, frames, of_type  # noqa: E402
from cocoon import app, proto  # noqa: E402


def sim_board(spec):
    b = board(n=4)
    clock, sc, bus = simbus.make(spec)
    b.clock = clock
    b.i2c = bus
    return b


def test_heart_rate_and_beats_flow_from_the_sensor():
    b = sim_board("synthetic:bpm=64,hrv=10,motion=0")
    a = app.App(b)
    a.run(until_ms=30000)
    states = of_type(frames(b), proto.STATE)
    last = states[-1].payload
    assert last["sensors"] == {"ppg": "ok", "imu": "ok"}
    heart = last["heart"]
    assert heart["finger"] is True and heart["q"] >= 60
    assert abs(heart["hr"] - 64) < 2
    assert heart["act"] == 1  # lying still: the smallest bin
    assert a.hub.beats.beats_total >= 20
    assert a.hub.activity.counts_total == 1  # one full 15-s count after the first second


def test_a_chip_that_vanishes_mid_night_is_reported_and_recovered():
    b = sim_board("synthetic:bpm=70,motion=0,drop_at=20,back_at=32")
    a = app.App(b)
    a.run(until_ms=60000)
    fs = frames(b)
    states = of_type(fs, proto.STATE)
    assert [s.payload["up_s"] for s in states] == list(range(1, 61))  # never stopped
    errs = of_type(fs, proto.ERR)
    assert len(errs) == 1  # reported once, not every retry
    assert errs[0].payload["code"] == "sensor"
    assert "MAX30102" in errs[0].payload["msg"] and "stopped answering" in errs[0].payload["msg"]
    assert 20000 <= errs[0].uptime_ms <= 20500
    back = [e for e in of_type(fs, proto.EVENT) if e.payload.get("ev") == "sensor"]
    assert [(e.payload["name"], e.payload["state"]) for e in back] == [("ppg", "ok")]
    assert 32000 <= back[0].uptime_ms <= 34500  # found again by a retry (every 2 s)
    by_s = {s.payload["up_s"]: s.payload for s in states}
    assert by_s[25]["sensors"]["ppg"] == "lost" and by_s[25]["heart"]["hr"] is None
    assert by_s[25]["sensors"]["imu"] == "ok"  # the other chip carried on
    assert abs(by_s[60]["heart"]["hr"] - 70) < 2  # reading again after the chip came back
    assert b.strip.shows >= 60 * 45  # the light kept going (50 frames/s)


def test_a_sensor_missing_at_boot_is_found_later():
    b = sim_board("synthetic:drop_at=0,back_at=4,drop_chip=all")
    a = app.App(b)
    a.run(until_ms=8000)
    fs = frames(b)
    errs = of_type(fs, proto.ERR)
    assert [e.payload["code"] for e in errs] == ["sensor", "sensor"]
    assert "MAX30102" in errs[0].payload["msg"] and "wiring" in errs[0].payload["msg"]
    assert "MPU-6050" in errs[1].payload["msg"]
    found = [
        e.payload["name"] for e in of_type(fs, proto.EVENT) if e.payload.get("ev") == "sensor"
    ]
    assert sorted(found) == ["imu", "ppg"]
    assert of_type(fs, proto.STATE)[-1].payload["sensors"] == {"ppg": "ok", "imu": "ok"}


def test_steady_app_step_with_sensors_allocates_nothing():
    import micropython
    from mpt import is_micropython
    from test_sensors import QuietBus

    b = board(n=8)
    b.i2c = QuietBus()
    a = app.App(b)
    t = b.clock.ticks_ms()
    a.start(t)
    for _ in range(400):  # 8 s: the FIFOs are read 80 times, STATE frames go out
        t = b.clock.ticks_add(t, 20)
        a.step(t)
    frames(b)
    while not of_type(frames(b), proto.STATE):  # step until a STATE frame has just gone out
        t = b.clock.ticks_add(t, 20)
        a.step(t)
    polls = a.hub.samples
    if is_micropython():
        micropython.heap_lock()
    try:
        for _ in range(30):  # 0.6 s: six FIFO reads, no frame due
            t = b.clock.ticks_add(t, 20)
            a.step(t)
    finally:
        if is_micropython():
            micropython.heap_unlock()
    assert a.hub.samples >= polls + 50
