# Current limiter and flash-safety limiter (cocoon/core/limiter.py), on CPython and the unix port.
# The WCAG check against the independent host checker lives in test_limiter_props.py.
from array import array

import micropython
from cocoon.core import limiter
from cocoon.core.limiter import CurrentLimiter, FlashLimiter
from mpt import is_micropython, raises


def _estimate_ma(rgb, n, budget=None, mpl=55, standby=1, reserve=120):
    # WLED's model written out in floats: 255 on a channel draws a third of mpl.
    return reserve + n * standby + sum(rgb) * mpl / 765.0


def _full_lum(rgb):
    # Relative luminance of the whole strip (WCAG 2.x weights, linear values), 0..1.
    n = len(rgb) // 3
    s = 0.0
    for i in range(n):
        s += 0.2126 * rgb[3 * i] + 0.7152 * rgb[3 * i + 1] + 0.0722 * rgb[3 * i + 2]
    return s / (255.0 * n)


def _swings_per_window(samples, window_ms=1000):
    # Independent, minimal zigzag count of >= 10% swings; the most in any closed 1-s window.
    times = []
    hi = lo = samples[0][1]
    d = 0
    for t, y in samples[1:]:
        if d >= 0 and hi - y >= 0.1:
            times.append(t)
            d = -1
            hi = lo = y
        elif d <= 0 and y - lo >= 0.1:
            times.append(t)
            d = 1
            hi = lo = y
        else:
            hi = max(hi, y)
            lo = min(lo, y)
    most = 0
    for i in range(len(times)):
        c = 0
        for j in range(i, len(times)):
            if times[j] - times[i] <= window_ms:
                c += 1
        most = max(most, c)
    return most


def test_current_limit_scales_full_white_into_the_budget():
    n = 60
    cur = CurrentLimiter(n)
    rgb = bytearray([255] * (3 * n))
    assert _estimate_ma(rgb, n) > 3000  # 60 LEDs at full white: ~3.4 A
    k = cur.limit(rgb)
    assert k < 1024 and cur.limited == 1
    assert _estimate_ma(rgb, n) <= 850
    # Not needlessly dark: within one channel step per LED of the budget.
    assert _estimate_ma(rgb, n) > 850 - n * 55 / 765.0 * 3 - 1
    assert cur.estimate_ua(rgb) <= 850000
    # Still white: the scale keeps the colour.
    assert rgb[0] == rgb[1] == rgb[2] == rgb[-1]


def test_current_limit_leaves_a_frame_within_budget_alone():
    n = 30
    cur = CurrentLimiter(n)
    rgb = bytearray([40, 12, 0] * n)
    before = bytes(rgb)
    assert cur.limit(rgb) == 1024
    assert bytes(rgb) == before and cur.limited == 0


def test_current_estimate_matches_the_model():
    n = 10
    cur = CurrentLimiter(n, budget_ma=2000, ma_per_led=60, standby_ma=1, reserve_ma=100)
    rgb = bytearray([255, 0, 0] * n)
    # 10 LEDs with red at full: 10 * 60/3 mA + 100 + 10 = 310 mA.
    assert cur.estimate_ua(rgb) == 310000
    assert cur.limit(rgb) == 1024


def test_current_limit_rejects_a_budget_below_the_idle_draw():
    e = raises(ValueError, CurrentLimiter, 300, 400)
    assert "idle" in str(e)
    raises(ValueError, CurrentLimiter, 0)
    raises(ValueError, CurrentLimiter, 10, -5)


def test_zero_ma_per_led_turns_the_limit_off_like_wled():
    cur = CurrentLimiter(20, ma_per_led=0)
    rgb = bytearray([255] * 60)
    assert cur.limit(rgb) == 1024 and rgb[5] == 255


def test_flash_limiter_passes_a_slow_pulse_untouched():
    # 0.5 Hz pulse from dark to bright white: 1 flash per second at most, nothing to do.
    n = 12
    fl = FlashLimiter(n)
    for f in range(250):
        t = f * 20
        phase = t % 2000
        v = phase * 255 // 1000 if phase < 1000 else (2000 - phase) * 255 // 1000
        rgb = bytearray([v, v, v] * n)
        before = bytes(rgb)
        assert fl.limit(rgb, t) is False
        assert bytes(rgb) == before
    assert fl.limited == 0


def test_flash_limiter_tames_a_4hz_square_wave():
    n = 8
    fl = FlashLimiter(n)
    out = []
    for f in range(300):
        t = f * 20
        v = 255 if (t // 125) % 2 == 0 else 0  # 4 Hz: 8 transitions per second in
        rgb = bytearray([v] * (3 * n))
        fl.limit(rgb, t)
        out.append((t, _full_lum(rgb)))
    assert fl.limited > 0
    assert _swings_per_window(out) <= 6  # <= 3 flashes in any second
    # It still moves: the limiter bounds the flashing, it does not freeze the light.
    assert max(y for _, y in out) > 0.9 and min(y for _, y in out[10:]) < 0.05


def test_flash_limiter_watches_each_quarter():
    # One quarter flashes hard while the whole strip changes by less than 10%.
    n = 40
    fl = FlashLimiter(n)
    out = []
    for f in range(200):
        t = f * 20
        rgb = bytearray(3 * n)
        if (t // 100) % 2 == 0:
            for i in range(10, 20):
                rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = 80  # quarter 2 only
        fl.limit(rgb, t)
        out.append((t, _full_lum(rgb[30:60])))
    assert fl.limited > 0
    assert _swings_per_window(out) <= 6


def test_flash_limiter_only_blends_between_previous_and_new():
    n = 5
    fl = FlashLimiter(n)
    prev = bytes(3 * n)
    for f in range(120):
        t = f * 10
        v = 255 if f % 2 else 0
        want = bytes([v, 255 - v, v // 2] * n)
        rgb = bytearray(want)
        fl.limit(rgb, t)
        for i in range(3 * n):
            lo, hi = min(prev[i], want[i]), max(prev[i], want[i])
            assert lo <= rgb[i] <= hi
        prev = bytes(rgb)


def test_flash_limiter_window_survives_the_tick_wrap():
    # ticks_ms wraps at 2^30 on the ESP32: the window must not forget or invent transitions.
    n = 4
    fl = FlashLimiter(n)
    out = []
    t0 = (1 << 30) - 700
    for f in range(150):
        t = f * 20
        v = 255 if (t // 100) % 2 == 0 else 0
        rgb = bytearray([v] * (3 * n))
        fl.limit(rgb, (t0 + t) & 0x3FFFFFFF)
        out.append((t, _full_lum(rgb)))
    assert _swings_per_window(out) <= 6
    assert limiter._ticks_diff(5, (1 << 30) - 5) == 10
    assert limiter._ticks_diff((1 << 30) - 5, 5) == -10


def test_ratio_never_rounds_up():
    for num, den in ((1, 3), (2, 3), (12345, 99999), (1000000, 1000001), (7, 7), (0, 5)):
        k = limiter._ratio_q16(num, den)
        assert k * den <= num * 65536
    assert limiter._ratio_q16(-3, 5) == 0 and limiter._ratio_q16(9, 5) == 65536


def _kernels(viper):
    cur = CurrentLimiter(7, viper=viper)
    fl = FlashLimiter(7, viper=viper)
    return cur._sum, cur._scale, fl._lum, fl._blend, fl._copy


def test_viper_kernels_match_the_plain_ones_bit_for_bit():
    plain = _kernels(False)
    fast = _kernels(True)
    if is_micropython():
        assert fast[0] is not plain[0]  # the unix port really runs the viper code
    x = 12345
    for trial in range(40):
        n = 1 + trial % 9
        buf = bytearray(3 * n)
        prev = bytearray(3 * n)
        for i in range(3 * n):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            buf[i] = x >> 23
            prev[i] = (x >> 7) & 255
        k = (x >> 5) & 0xFFFF
        results = []
        for s, sc, lum, blend, copy in (plain, fast):
            a = bytearray(buf)
            out = [s(a, 3 * n)]
            sc(a, 3 * n, 700)
            arr = array("i", [0] * 5)
            lum(a, n, n // 4, n // 2, 3 * n // 4, arr)
            out.append(list(arr))
            blend(a, prev, 3 * n, k)
            out.append(bytes(a))
            c = bytearray(3 * n)
            copy(c, a, 3 * n)
            out.append(bytes(c))
            results.append(out)
        assert results[0] == results[1]
        # And both equal the formulas written out here.
        ref = [(v * 700) >> 10 for v in buf]
        want = [prev[i] + (((ref[i] - prev[i]) * k) >> 16) for i in range(3 * n)]
        assert list(results[0][2]) == want
        assert results[0][1][0] == sum(
            871 * ref[3 * i] + 2929 * ref[3 * i + 1] + 296 * ref[3 * i + 2] for i in range(n)
        )


def test_limiters_allocate_nothing_per_frame():
    n = 60
    cur = CurrentLimiter(n)
    fl = FlashLimiter(n)
    rgb = bytearray(3 * n)
    for f in range(100):
        v = 255 if (f // 3) % 2 else 0
        for i in range(3 * n):
            rgb[i] = v
        micropython.heap_lock()
        try:
            cur.limit(rgb)
            fl.limit(rgb, f * 20)
        finally:
            micropython.heap_unlock()
    assert fl.limited > 0 and cur.limited > 0
