# The light engine inside the app (cocoon/app.py), against fake boards, on both interpreters.
from appfakes import Store, board, frames, of_type
from cocoon import app, proto


def run_for(b, ms):
    a = app.App(b)
    a.run(until_ms=ms)
    return a


def step(b, a, ms):
    for _ in range(ms // 20):
        b.clock.sleep_ms(20)
        a.step(b.clock.ticks_ms())


def command(b, a, seq, op, **fields):
    b.serial.inbox += proto.command(seq, op, **fields)
    step(b, a, 100)
    acks = [f.payload for f in of_type(frames(b), proto.EVENT) if f.payload.get("cmd") == seq]
    return acks[0]


def _swings(record, window_frames=50):
    # >= 10% swings of the whole strip's relative luminance, most in any 50 frames (1 s).
    lum = []
    for f in record:
        n = len(f) // 3
        s = 0
        for i in range(n):
            s += 0.2126 * f[3 * i] + 0.7152 * f[3 * i + 1] + 0.0722 * f[3 * i + 2]
        lum.append(s / (255.0 * n))
    marks = []
    hi = lo = lum[0]
    d = 0
    for i in range(1, len(lum)):
        y = lum[i]
        if d >= 0 and hi - y >= 0.1:
            marks.append(i)
            d, hi, lo = -1, y, y
        elif d <= 0 and y - lo >= 0.1:
            marks.append(i)
            d, hi, lo = 1, y, y
        else:
            hi, lo = max(hi, y), min(lo, y)
    most = 0
    for i in range(len(marks)):
        most = max(most, len([m for m in marks[i:] if m - marks[i] <= window_frames]))
    return most


def test_every_frame_is_within_the_power_budget_and_state_says_so():
    store = Store(b'{"bri": 255, "color": "ffffff", "budget_ma": 300, "depth": 0}')
    b = board(n=30, store=store, record=True)
    run_for(b, 3000)
    for f in b.strip.record:
        assert 120 + 30 + sum(f) * 55 / 765.0 <= 300
    led = of_type(frames(b), proto.STATE)[-1].payload["led"]
    assert led["mode"] == "pulse" and 250 <= led["ma"] <= 300 and led["cur_limited"] > 0
    assert led["flash_limited"] == 0 and len(led["rgb"]) == 8


def test_set_changes_the_light_and_refuses_what_it_cannot_change():
    b = board(n=8)
    a = run_for(b, 1000)
    ack = command(b, a, 1, "set", mode="festival", festival=2, bri=200)
    assert ack["ok"] is True and a.renderer.mode == "festival"
    ack = command(b, a, 2, "set", wifi="on")
    assert ack["ok"] is False and "cannot change 'wifi'" in ack["error"]
    ack = command(b, a, 3, "set", mode="strobe")
    assert ack["ok"] is False and a.renderer.mode == "festival"
    ack = command(b, a, 4, "set", gamma_x100=500)
    assert ack["ok"] is False and "100..300" in ack["error"] and a.cfg["gamma_x100"] == 220


def test_a_nightlight_fades_out_and_stays_off():
    b = board(n=4)
    a = run_for(b, 1000)
    ack = command(b, a, 1, "set", mode="nightlight", nightlight_min=1, bri=120)
    assert ack["ok"] is True
    step(b, a, 30000)
    assert a.renderer.mode == "nightlight" and max(b.strip.last) > 0
    step(b, a, 31000)
    assert a.renderer.mode == "off" and max(b.strip.last) == 0
    command(b, a, 2, "set", bri=100)  # another setting does not wake the nightlight up
    step(b, a, 1000)
    assert a.renderer.mode == "off"
    command(b, a, 3, "set", mode="nightlight")  # asking again does
    step(b, a, 1000)
    assert a.renderer.mode == "nightlight" and max(b.strip.last) > 0


def test_an_impossible_budget_is_refused_at_the_command_and_at_boot():
    b = board(n=60)
    a = run_for(b, 500)
    ack = command(b, a, 1, "config", set={"budget_ma": 150})  # idle draw of 60 LEDs: 180 mA
    assert ack["ok"] is False and "idle" in ack["error"] and a.cfg["budget_ma"] == 850
    b = board(n=60, store=Store(b'{"budget_ma": 150, "bri": 90}'))
    a = run_for(b, 2000)
    errs = [f.payload for f in of_type(frames(b), proto.ERR) if f.payload["code"] == "config"]
    assert any("light" in e["msg"] and "idle" in e["msg"] for e in errs)
    assert a.renderer.bri == 90 and a.renderer.cur.budget_ma == 850


def test_a_flood_of_mode_commands_at_full_white_stays_flash_safe():
    store = Store(b'{"bri": 255, "color": "ffffff", "fade_ms": 0, "depth": 255}')
    b = board(n=8, store=store, record=True)
    a = run_for(b, 2000)
    modes = ("off", "festival", "pulse", "sunrise", "off", "breathe")
    for i in range(60):  # a new mode every 100 ms for 6 s, no crossfade
        b.serial.inbox += proto.command(i, "set", mode=modes[i % len(modes)])
        step(b, a, 100)
    assert _swings(b.strip.record) <= 6  # at most 3 flashes in any second
    assert a.renderer.flash.limited > 0  # and the limiter had work to do


def test_frames_reach_the_strip_at_the_configured_rate_at_most():
    for fps, store in ((50, None), (25, Store(b'{"fps": 25}'))):
        b = board(n=4, store=store, record=True)
        run_for(b, 10000)
        assert fps * 10 - 2 <= len(b.strip.record) <= fps * 10 + 1


def _peaks(values, frac=2):
    # Pulses counted with hysteresis: up to the top, then down below top / frac, and again.
    top = max(values)
    n = 0
    armed = True
    for v in values:
        if armed and v >= top - 2:
            n += 1
            armed = False
        elif v <= top // frac:
            armed = True
    return n


def test_the_light_follows_heartbeats_through_the_oscillator():
    store = Store(b'{"bri": 255, "color": "ffffff", "depth": 255, "budget_ma": 5000}')
    b = board(n=4, store=store, record=True)
    a = run_for(b, 100)
    for _ in range(150):  # 200 bpm for 45 s: a beat every 300 ms
        step(b, a, 300)
        a.sync.beat_us(0)
    assert a.sync.stats()["lock"] == "locked"
    assert 800 <= a.sync.stats()["pulse_mhz"] <= 870  # one pulse per 4 beats: 0.83 Hz
    start = len(b.strip.record)
    step(b, a, 12000)
    for _ in range(40):
        step(b, a, 300)
        a.sync.beat_us(0)
    reds = [f[0] for f in b.strip.record[start:]]
    assert 19 <= _peaks(reds) <= 22  # 24 s at 0.83 Hz: 20 pulses
    led = of_type(frames(b), proto.STATE)[-1].payload
    assert led["sync"]["lock"] in ("locked", "holdover")


def test_breathe_mode_runs_the_oscillators_breathing_guide():
    from cocoon.core.phasesync import BREATH, HEART

    b = board(n=4)
    a = run_for(b, 500)
    command(b, a, 1, "set", mode="breathe")
    assert a.sync.mode() == BREATH
    command(b, a, 2, "set", mode="pulse")
    assert a.sync.mode() == HEART
