# The light engine (cocoon/core/light.py), on CPython and the MicroPython unix port.
from array import array

import micropython
from cocoon.core import light
from cocoon.core.light import DEFAULTS, FESTIVAL_PALETTES, STAGE_COLOURS, Light
from mpt import is_micropython, raises


def _cfg(**kw):
    c = dict(DEFAULTS)
    for k in kw:
        c[k] = kw[k]
    return c


def _run(lt, frame, t0, t1, step=20, phase_hz=None):
    # Render frames from t0 to t1 (ms); return the last time rendered.
    t = t0
    while t < t1:
        t += step
        if phase_hz is not None:
            p = (t * phase_hz * 65536 // 1000) & 0xFFFF
            lt.set_phase(p, p)
        lt.render(t, step, frame)
    return t


def _lum(frame):
    n = len(frame) // 3
    s = 0
    for i in range(n):
        s += 2126 * frame[3 * i] + 7152 * frame[3 * i + 1] + 722 * frame[3 * i + 2]
    return s / (255.0 * 10000 * n)


def test_gamma_table_is_monotonic_and_exact_at_the_ends():
    t = light.gamma_table(220)
    assert t[0] == 0 and t[256] == 16384
    for i in range(256):
        assert t[i] <= t[i + 1]
    assert abs(t[128] - 16384 * 0.5**2.2) <= 1
    assert light.gamma_table(100)[64] == 4096  # gamma 1: linear
    # 14 bits, not 8: the bottom of the range has many distinct levels below one 8-bit step.
    below_one_step = set()
    for v in range(0, 65536, 16):
        g = light._lookup_q14(t, v)
        if 0 < g < 16384 // 255:
            below_one_step.add(g)
    assert len(below_one_step) > 40


def test_pulse_shapes_rise_fast_and_fall_slowly():
    heart, breath = light.shape_tables()
    assert heart[0] == heart[256] == 16384 and breath[0] == 16384
    # The heartbeat falls for 85% of the turn and rises in the last 15%.
    fall_end = (65536 - 9830) >> 8
    for i in range(fall_end):
        assert heart[i] >= heart[i + 1]
    for i in range(fall_end, 256):
        assert heart[i] <= heart[i + 1]
    assert heart[fall_end] < 100 and heart[fall_end // 2] < 16384 * 26 // 100  # a dim tail
    # Breathing: symmetric swell (phasesync's shaped phase makes the exhale longer).
    assert breath[128] == 0
    for i in range(1, 128):
        assert breath[i] == breath[256 - i]


def test_default_palettes_are_night_safe():
    for hexcol in STAGE_COLOURS:
        r, g, b = light.parse_rgb(hexcol)
        assert b <= 4 and r == max(r, g, b) and g < r // 2  # red/amber, no blue


def test_pulse_follows_the_phase_with_its_peak_at_zero():
    n = 10
    lt = Light(n, _cfg(bri=160, fade_ms=0))
    f = bytearray(3 * n)
    lt.set_phase(0, 0)
    _run(lt, f, 0, 400)
    peak = _lum(f)
    lt.set_phase(40000, 40000)  # ~0.6 turn: well down the slow fall
    lt.render(420, 20, f)
    trough = _lum(f)
    assert peak > 3 * trough > 0


def test_breathe_mode_swells_on_the_shaped_phase():
    n = 6
    lt = Light(n, _cfg(mode="breathe", bri=200, fade_ms=0))
    f = bytearray(3 * n)
    lums = []
    t = 0
    for k in range(65):
        p = k * 1024
        lt.set_phase(0, p & 0xFFFF)
        t += 100
        lt.render(t, 100, f)
        lums.append(_lum(f))
    assert lums[0] > lums[32] and lums[64] > lums[32]
    assert lums.index(min(lums)) in (31, 32, 33)


def test_temporal_dithering_averages_to_the_value_below_one_step():
    # A level whose linear value is a fraction of one 8-bit step: the average over frames shows it.
    n = 4
    lt = Light(n, _cfg(mode="breathe", bri=40, depth=0, fade_ms=0, stage_fade_ms=0))
    f = bytearray(3 * n)
    _run(lt, f, 0, 100)
    sums = [0] * (3 * n)
    frames = 256
    t = 100
    for _ in range(frames):
        t += 20
        lt.render(t, 20, f)
        for j in range(3 * n):
            sums[j] += f[j]
    # The exact value of red, in 8-bit steps: colour (linear u8.8) x gain (Q14).
    red_u88 = lt._to[0]
    want = (red_u88 * lt.gain_q14 >> 14) / 256
    assert 0.25 < want < 8 and want != int(want)
    got = sums[0] / frames
    assert abs(got - want) < 1.5 / frames + 1 / 256
    # Plain rounding would have shown int(want) every frame.
    assert abs(got - int(want)) > 0.05


def test_a_slow_fade_at_the_bottom_moves_smoothly():
    # Nightlight fading out: averaged over a few frames, the light takes many more levels than
    # the handful of 8-bit steps a plain renderer would show.
    n = 3
    lt = Light(n, _cfg(mode="nightlight", nightlight_min=1, bri=50, fade_ms=0, stage_fade_ms=0))
    f = bytearray(3 * n)
    means = []
    t = 0
    acc = 0
    for k in range(3050):  # 61 s at 50 fps
        t += 20
        lt.render(t, 20, f)
        acc += f[0]
        if k % 25 == 24:
            means.append(acc)
            acc = 0
    distinct = len(set(means))
    plain_steps = max(means) // 25 + 1
    assert distinct > 3 * plain_steps
    assert lt.mode == "off" and max(f) == 0  # faded out, then off


def test_stage_change_fades_over_seconds():
    n = 8
    lt = Light(n, _cfg(bri=200, depth=0, fade_ms=0, stage_fade_ms=4000))
    f = bytearray(3 * n)
    t = _run(lt, f, 0, 200)
    start = bytes(f)
    lt.set_stage(2)  # deep sleep: deep red, dimmer
    reds = []
    for _ in range(250):
        t += 20
        lt.render(t, 20, f)
        reds.append(f[0] + f[1])
    mid = reds[100]
    assert reds[-1] < mid < start[0] + start[1]
    jumps = [abs(reds[i + 1] - reds[i]) for i in range(len(reds) - 1)]
    assert max(jumps) <= 4  # no visible jump
    assert f[1] < start[1]  # less green: redder


def test_mode_change_crossfades_in_750_ms_by_default():
    n = 5
    lt = Light(n, _cfg(bri=120, depth=0))
    f = bytearray(3 * n)
    t = _run(lt, f, 0, 1500)
    assert max(f) > 0
    lt.configure(_cfg(bri=120, depth=0, mode="off"))
    levels = []
    for _ in range(45):
        t += 20
        lt.render(t, 20, f)
        levels.append(sum(f))
    assert levels[10] > 0  # still fading at 220 ms
    assert levels[40] == 0  # dark after 750 ms
    for i in range(len(levels) - 1):
        assert levels[i + 1] <= levels[i] + 3 * n  # monotone, give or take the dither


def test_sunrise_goes_from_dim_red_to_bright_warm_white():
    n = 20
    lt = Light(n, _cfg(bri=10, fade_ms=0))
    f = bytearray(3 * n)
    t = _run(lt, f, 0, 100)
    lt.start_sunrise(30 * 60000)
    t = _run(lt, f, t, t + 5 * 60000, step=1000)
    early = bytes(f)
    assert early[0] > 0 and early[1] * 4 <= early[0] and early[2] == 0  # dim red
    t = _run(lt, f, t, t + 25 * 60000 + 2000, step=1000)
    r, g, b = f[0], f[1], f[2]
    assert r >= g >= b > 0  # warm white
    assert lt.cur.limited > 0 or sum(f) * 55 / 765 + 140 <= 850  # bright: at the budget
    assert lt.cur.estimate_ua(f) <= 850000
    assert _lum(f) > 10 * _lum(early)


def test_festival_colours_drift_along_the_strip():
    n = 16
    lt = Light(n, _cfg(mode="festival", festival=1, bri=255, depth=0, fade_ms=0))
    f = bytearray(3 * n)
    _run(lt, f, 0, 600, phase_hz=1)
    a = bytes(f)
    assert len(set(a[3 * i : 3 * i + 3] for i in range(n))) > 4  # many colours along the strip
    assert max(a[3 * i + 2] for i in range(n)) > 0  # ocean: blue is allowed at a festival
    _run(lt, f, 600, 2600, phase_hz=1)
    assert bytes(f) != a
    raises(ValueError, lt.configure, _cfg(mode="festival", festival=len(FESTIVAL_PALETTES)))


def test_a_fast_pulse_becomes_a_glow():
    # 4 pulses per second asked for: the depth is taken out before the flash limiter has to act.
    n = 6
    lt = Light(n, _cfg(bri=255, depth=255, fade_ms=0))
    f = bytearray(3 * n)
    t = _run(lt, f, 0, 2000, phase_hz=4)
    lums = []
    for _ in range(100):
        t = _run(lt, f, t, t + 20, phase_hz=4)
        lums.append(_lum(f))
    assert max(lums) - min(lums) < 0.02
    assert min(lums) > 0.05
    # At 1 Hz the full depth is there.
    lt2 = Light(n, _cfg(bri=255, depth=255, fade_ms=0))
    t = _run(lt2, f, 0, 2000, phase_hz=1)
    lums = []
    for _ in range(50):
        t = _run(lt2, f, t, t + 20, phase_hz=1)
        lums.append(_lum(f))
    assert max(lums) - min(lums) > 0.1


def test_bad_settings_are_refused_with_a_reason():
    lt = Light(4)
    e = raises(ValueError, lt.configure, _cfg(mode="disco"))
    assert "disco" in str(e)
    raises(ValueError, lt.configure, _cfg(color="red"))
    raises(ValueError, lt.configure, _cfg(gamma_x100=50))
    raises(ValueError, lt.configure, _cfg(budget_ma=100))  # below the idle draw
    raises(ValueError, lt.set_mode, "strobe")


def test_gamma_is_configurable():
    n = 2
    f = bytearray(3 * n)
    out = []
    for g in (100, 220, 280):
        lt = Light(n, _cfg(bri=128, depth=0, fade_ms=0, gamma_x100=g, color="ffffff"))
        _run(lt, f, 0, 400)
        out.append(f[0])
    assert out[0] > out[1] > out[2] > 0


def test_viper_kernels_match_the_plain_ones_bit_for_bit():
    n = 23
    plain = Light(n, _cfg(bri=90), viper=False)
    fast = Light(n, _cfg(bri=90), viper=True)
    if is_micropython():
        assert fast._shade is not plain._shade
    fa = bytearray(3 * n)
    fb = bytearray(3 * n)
    script = (
        (0, None),
        (300, "breathe"),
        (900, "festival"),
        (1500, "sunrise"),
        (2100, "nightlight"),
        (2500, "pulse"),
    )
    t = 0
    for k in range(150):
        t += 20
        for when, mode in script:
            if when == t and mode:
                plain.set_mode(mode, 60000)
                fast.set_mode(mode, 60000)
        if k == 70:
            plain.set_stage(3)
            fast.set_stage(3)
        p = (t * 70) & 0xFFFF
        plain.set_phase(p, p >> 1)
        fast.set_phase(p, p >> 1)
        plain.render(t, 20, fa)
        fast.render(t, 20, fb)
        assert fa == fb
        assert plain._err == fast._err
    # And the shading kernel equals its formula, written out here.
    src_a = array("H", [(j * 2039) % 65281 for j in range(3 * n)])
    src_b = array("H", [(j * 7919) % 65281 for j in range(3 * n)])
    for shade in (plain._shade, fast._shade):
        out = bytearray(3 * n)
        err = bytearray([j % 256 for j in range(3 * n)])
        shade(out, err, src_a, src_b, 3 * n, 5000, 9000, 64)
        for j in range(3 * n):
            c = src_a[j] + (((src_b[j] - src_a[j]) * 5000) >> 14)
            v = (c * 9000) >> 14
            want = 0 if v < 64 else (v + j % 256) >> 8
            assert out[j] == want


def test_render_allocates_nothing_in_any_mode():
    n = 60
    lt = Light(n, _cfg(bri=255))
    f = bytearray(3 * n)
    t = 0
    for mode in ("pulse", "breathe", "sunrise", "nightlight", "festival", "off"):
        lt.set_mode(mode, 60000)  # switching allocates a little; rendering must not
        lt.set_stage(1 if mode == "breathe" else 2)
        for _ in range(60):
            t += 20
            p = (t * 300) & 0xFFFF
            micropython.heap_lock()
            try:
                lt.set_phase(p, p)
                lt.render(t, 20, f)
            finally:
                micropython.heap_unlock()
    assert lt.flash.n == n


def test_estimated_current_stays_within_budget_in_every_mode():
    n = 60
    lt = Light(n, _cfg(bri=255, color="ffffff", budget_ma=600, depth=0))
    f = bytearray(3 * n)
    t = 0
    for mode in ("pulse", "breathe", "festival", "sunrise"):
        lt.set_mode(mode, 4000)
        for _ in range(200):
            t += 20
            lt.render(t, 20, f)
            assert 120 + n + sum(f) * 55 / 765.0 <= 600
    assert lt.cur.limited > 0


def test_the_smart_wakes_sunrise_drives_the_light_and_hands_back():
    n = 6
    lt = Light(n, _cfg(bri=30, fade_ms=0))
    f = bytearray(3 * n)
    lt.set_sunrise_q15(-1)
    t = _run(lt, f, 0, 200)
    assert lt.mode == "pulse"
    seen = []
    for k in range(0, 32769, 2048):  # the smart wake's progress, frame by frame
        lt.set_sunrise_q15(k)
        t += 20
        lt.render(t, 20, f)
        seen.append(bytes(f))
    assert lt.mode == "sunrise"
    assert seen[1][1] * 4 <= seen[1][0]  # early: red
    last = seen[-1]
    assert last[0] >= last[1] >= last[2] > 0 and _lum(last) > 0.3  # end: bright warm white
    lums = [_lum(x) for x in seen]
    for i in range(len(lums) - 1):
        assert lums[i + 1] >= lums[i] - 0.01  # one direction: a ramp, never a flash
    lt.set_sunrise_q15(-1)  # alarm cleared: back to the configured mode
    assert lt.mode == "pulse"


def test_a_sunrise_can_start_part_way_up():
    n = 4
    f = bytearray(3 * n)
    full = Light(n, _cfg(bri=30, fade_ms=0))
    _run(full, f, 0, 100)
    full.start_sunrise(600000)
    _run(full, f, 100, 100 + 300000, step=1000)  # 5 of 10 min
    halfway = _lum(f)
    late = Light(n, _cfg(bri=30, fade_ms=0))
    _run(late, f, 0, 100)
    late.start_sunrise(600000, 300000)  # re-timed: already 5 min along
    _run(late, f, 100, 1100, step=1000)
    assert abs(_lum(f) - halfway) < 0.02 and halfway > 0.02
