"""The last two stages before the strip: a current limiter and a flash-safety limiter.

CurrentLimiter keeps the estimated current of every frame within the power supply's budget, with
the semantics of WLED's automatic brightness limiter. FlashLimiter, the very last stage, guarantees
that whatever frames come in, the light shows at most 3 general and 3 red flashes in any 1-second
period (WCAG 2.x, success criterion 2.3.1), over the whole strip and over each quarter of it.

    cur = CurrentLimiter(60); flash = FlashLimiter(60)
    cur.limit(rgb); flash.limit(rgb, now_ms); board.strip.show(rgb)

Both work in place on the bytes sent to the strip (R, G, B per LED, already gamma-corrected, i.e.
linear light), integers only, allocation-free per frame. Their per-LED loops are
@micropython.viper on MicroPython, with plain twins that give bit-identical results
(tests/firmware/core/test_limiter.py checks both on the unix port); CPython runs the plain twins.

Current (WLED wled00/FX_fcn.cpp, estimateCurrentAndLimitBri): a channel at 255 draws ma_per_led/3,
every LED draws standby_ma, the controller reserve_ma; when the estimate exceeds budget_ma, every
channel is scaled by budget/estimate (rounded down, so the scaled frame is within budget).

Flash safety. WCAG 2.x: a general flash is a pair of opposing changes in relative luminance of 10%
or more of the maximum where the darker state is below 0.80; a red flash is such a pair involving a
saturated red (R/(R+G+B) >= 0.8). "More than three flashes" means 7 or more alternating transitions
in one second (Trace Center's photosensitive-epilepsy test media). Values sent to the strip are
linear light (PWM duty), so relative luminance is 0.2126 R + 0.7152 G + 0.0722 B over 255.

How it holds by construction. For each region (whole strip, each quarter) the limiter follows the
luminance of what it actually emitted with a hysteresis ("zigzag") tracker: it remembers the
extreme since the last reversal and registers a transition when the luminance has moved back from
that extreme by H = 9% (less than WCAG's 10%, and counting every transition, whatever the darker
state: both only make it stricter). It allows at most MAX_TRANSITIONS = 4 registrations in any
window of WINDOW_MS = 1000 ms + GUARD_MS. When a frame would register one more, the frame is
blended back towards the previous output (one factor k for all LEDs) so that the luminance stays
inside the band; if rounding still lets it through, the previous frame is repeated, which can
never register. Why 4 and not 6: a checker that counts WCAG transitions (>= 10%, at the frame where
the change reaches 10%) and finds n of them in a second has seen n-1 alternating swings of >= 10%
there, and a hysteresis tracker with a smaller threshold registers at least n-2 transitions inside
that second whatever state it started in (one reversal can be missed at each end). So n-2 <= 4,
n <= 6 transitions, at most 3 flashes; red flashes are a subset of general ones. The blend keeps
the current budget too: every channel ends up between its previous and its new value with the same
k, rounded down, so the frame's channel sum stays below the larger of two sums within budget.
"""

import sys
from array import array

import micropython
from micropython import const

_MPY = sys.implementation.name == "micropython"

# ------------------------------------------------------------------------------- current limiter

# WLED defaults (wled00/const.h, FX_fcn.cpp): 55 mA per LED at full white (typical WS2812B at 5 V),
# 1 mA standby per LED; the reserve for the ESP32 and the 850 mA budget are the project's defaults
# (domain notes, Light; see hardware/power.md for the reference build).
MA_PER_LED = const(55)
STANDBY_MA = const(1)
RESERVE_MA = const(120)
BUDGET_MA = const(850)
# Channel units per LED at full white: 3 channels x 255 (WLED's 195075 power units / 255).
_FULL_WHITE = const(765)

# Supported strip length: keeps every luminance sum below 2^30 (a small int on the ESP32).
MAX_LEDS = const(1024)


class CurrentLimiter:
    """Estimate each frame's current like WLED and scale the frame into the budget.

    limit(rgb) scales rgb in place when needed and returns the scale applied in Q10 (1024 = none).
    estimate_ua(rgb) is the estimate in microamps (integer, no allocation).
    """

    def __init__(
        self,
        n_leds,
        budget_ma=BUDGET_MA,
        ma_per_led=MA_PER_LED,
        standby_ma=STANDBY_MA,
        reserve_ma=RESERVE_MA,
        viper=None,
    ):
        if not 0 < n_leds <= MAX_LEDS:
            raise ValueError("LED count %d is outside 1..%d" % (n_leds, MAX_LEDS))
        self.n = n_leds
        self.n3 = 3 * n_leds
        self.scale_q10 = 1024
        self.limited = 0  # frames scaled down since boot (telemetry)
        self._sum = _sum_v if _use_viper(viper) else _sum_py
        self._scale = _scale_v if _use_viper(viper) else _scale_py
        self.configure(budget_ma, ma_per_led, standby_ma, reserve_ma)

    def configure(self, budget_ma, ma_per_led, standby_ma, reserve_ma):
        """Set the power model; raise ValueError with a readable reason if it cannot work."""
        for name, v, hi in (
            ("budget_ma", budget_ma, 100000),
            ("ma_per_led", ma_per_led, 200),
            ("standby_ma", standby_ma, 10),
            ("reserve_ma", reserve_ma, 5000),
        ):
            if not isinstance(v, int) or not 0 <= v <= hi:
                raise ValueError("%s must be an integer in 0..%d" % (name, hi))
        idle_ma = reserve_ma + self.n * standby_ma
        if budget_ma < idle_ma:
            raise ValueError(
                "budget_ma=%d is below the idle draw %d mA (reserve + standby of %d LEDs)"
                % (budget_ma, idle_ma, self.n)
            )
        self.budget_ma = budget_ma
        self.ma_per_led = ma_per_led
        self.standby_ma = standby_ma
        self.reserve_ma = reserve_ma
        # Largest channel sum within budget: sum * ma_per_led / 765 <= budget - idle.
        if ma_per_led == 0:
            self.max_sum = self.n3 * 255  # LEDs modelled as free: never scale (WLED: 0 = off)
        else:
            room = (budget_ma - idle_ma) * _FULL_WHITE // ma_per_led
            self.max_sum = room if room < self.n3 * 255 else self.n3 * 255

    def estimate_ua(self, rgb):
        """The frame's estimated current in microamps (WLED's model)."""
        s = self._sum(rgb, self.n3)
        # s * ma_per_led <= 783360 * 200 < 2^28: no long ints on the ESP32.
        led_ua = s * self.ma_per_led // _FULL_WHITE * 1000
        led_ua += (s * self.ma_per_led % _FULL_WHITE) * 1000 // _FULL_WHITE
        return (self.reserve_ma + self.n * self.standby_ma) * 1000 + led_ua

    def limit(self, rgb):
        s = self._sum(rgb, self.n3)
        if s <= self.max_sum:
            self.scale_q10 = 1024
            return 1024
        # floor(max_sum * 1024 / s) < 1024; every channel rounds down, so the new sum is
        # <= s * scale / 1024 <= max_sum. max_sum < s <= 783360 < 2^20: max_sum << 10 < 2^30.
        k = (self.max_sum << 10) // s
        self._scale(rgb, self.n3, k)
        self.scale_q10 = k
        self.limited += 1
        return k


def _sum_py(rgb, n3):
    s = 0
    for i in range(n3):
        s += rgb[i]
    return s


def _scale_py(rgb, n3, k_q10):
    for i in range(n3):
        rgb[i] = (rgb[i] * k_q10) >> 10


# --------------------------------------------------------------------------- flash-safety limiter

# Relative luminance weights (WCAG 2.x / ITU-R BT.709: 0.2126, 0.7152, 0.0722) in Q12; they sum to
# 4096 and each is within 1e-4 of the exact weight, far inside the 1% margin below.
_WR = const(871)
_WG = const(2929)
_WB = const(296)
_Y_FULL = const(1044480)  # 255 * 4096: luminance units of one LED at full white
# Hysteresis threshold H = 0.09 of full luminance (WCAG counts changes of 0.10 or more).
_H_PER_LED = const(94003)  # floor(0.09 * 1044480)
# One channel step on all three channels of an LED: the most rounding can move its luminance.
_ROUND_PER_LED = const(4096)

MAX_TRANSITIONS = const(4)  # per window, by this limiter's count (see the module docstring)
WINDOW_MS = const(1000)  # WCAG: "any one-second period"
GUARD_MS = const(100)  # the strip may show a frame a little after the time it was limited for
_REGIONS = const(5)  # 0: whole strip, 1..4: quarters
_ONE_Q16 = const(65536)


class FlashLimiter:
    """The last stage before the strip: at most 3 general and 3 red flashes per second, always.

    limit(rgb, now_ms) modifies rgb in place (towards the previous output when needed) and returns
    True when it had to intervene. now_ms is the board's tick count (wraps at 2^30 like the ESP32's
    ticks_ms; differences are taken modulo 2^30). Start state: a dark strip.
    """

    def __init__(self, n_leds, guard_ms=GUARD_MS, viper=None):
        if not 0 < n_leds <= MAX_LEDS:
            raise ValueError("LED count %d is outside 1..%d" % (n_leds, MAX_LEDS))
        self.n = n_leds
        self.n3 = 3 * n_leds
        self.window_ms = WINDOW_MS + guard_ms
        self.prev = bytearray(self.n3)  # what the strip shows now
        # Quarter q holds LEDs [n*q//4, n*(q+1)//4), as in the checker (cocoon_host.flashcheck).
        self._b1 = n_leds // 4
        self._b2 = n_leds // 2
        self._b3 = 3 * n_leds // 4
        self._y = array("i", [0] * _REGIONS)  # candidate luminance per region (sum over LEDs)
        self._yp = array("i", [0] * _REGIONS)  # luminance of self.prev
        self._thr = array("i", [0] * _REGIONS)  # H per region
        self._margin = array("i", [0] * _REGIONS)  # rounding allowance per region
        self._live = bytearray(_REGIONS)  # region has LEDs
        self._dir = array("i", [0] * _REGIONS)  # 0: no transition yet, 1: rising, -1: falling
        self._hi = array("i", [0] * _REGIONS)  # highest since the last reversal (or start)
        self._lo = array("i", [0] * _REGIONS)  # lowest since the last reversal (or start)
        self._times = array("i", [0] * (_REGIONS * MAX_TRANSITIONS))  # last registration times
        self._count = array("i", [0] * _REGIONS)  # registrations so far, saturating
        self._head = array("i", [0] * _REGIONS)  # ring index of the oldest registration
        counts = (n_leds, self._b1, self._b2 - self._b1, self._b3 - self._b2, n_leds - self._b3)
        for r in range(_REGIONS):
            c = counts[r]
            self._live[r] = 1 if c > 0 else 0
            self._thr[r] = c * _H_PER_LED
            self._margin[r] = c * _ROUND_PER_LED + 1
        self.limited = 0  # frames changed since boot (telemetry)
        self.held = 0  # of which repeated the previous frame
        self.transitions = 0  # transitions registered since boot, all regions
        if _use_viper(viper):
            self._lum = _lum_v
            self._blend = _blend_v
            self._copy = _copy_v
        else:
            self._lum = _lum_py
            self._blend = _blend_py
            self._copy = _copy_py

    def limit(self, rgb, now_ms):
        lum = self._lum
        y = self._y
        lum(rgb, self.n, self._b1, self._b2, self._b3, y)
        k = _ONE_Q16
        for r in range(_REGIONS):
            if self._live[r]:
                kr = self._allowed_q16(r, y[r], now_ms)
                if kr < k:
                    k = kr
        changed = False
        if k < _ONE_Q16:
            changed = True
            self._blend(rgb, self.prev, self.n3, k)
            lum(rgb, self.n, self._b1, self._b2, self._b3, y)
            for r in range(_REGIONS):
                if self._live[r] and self._allowed_q16(r, y[r], now_ms) < _ONE_Q16:
                    # Rounding let a forbidden transition through: repeat the previous frame,
                    # which never registers one (its luminance is inside every band).
                    self._copy(rgb, self.prev, self.n3)
                    for q in range(_REGIONS):
                        y[q] = self._yp[q]
                    self.held += 1
                    break
            self.limited += 1
        for r in range(_REGIONS):
            if self._live[r]:
                self._commit(r, y[r], now_ms)
            self._yp[r] = y[r]
        self._copy(self.prev, rgb, self.n3)
        return changed

    def _crossing(self, r, v):
        """+1/-1 if luminance v would register a rising/falling transition in region r, else 0."""
        d = self._dir[r]
        thr = self._thr[r]
        if d >= 0 and v <= self._hi[r] - thr:
            return -1
        if d <= 0 and v >= self._lo[r] + thr:
            return 1
        return 0

    def _full(self, r, now_ms):
        """True if region r may not register another transition at now_ms."""
        if self._count[r] < MAX_TRANSITIONS:
            return False
        age = _ticks_diff(now_ms, self._times[r * MAX_TRANSITIONS + self._head[r]])
        # A clock that went backwards (age < 0) counts as recent: refuse rather than guess.
        return age < self.window_ms

    def _allowed_q16(self, r, v, now_ms):
        """Largest blend factor (Q16) towards a frame of luminance v that region r accepts."""
        c = self._crossing(r, v)
        if c == 0 or not self._full(r, now_ms):
            return _ONE_Q16
        vp = self._yp[r]
        if c < 0:  # keep v above hi - thr (plus rounding room)
            target = self._hi[r] - self._thr[r] + self._margin[r]
            return _ratio_q16(vp - target, vp - v)
        target = self._lo[r] + self._thr[r] - self._margin[r]
        return _ratio_q16(target - vp, v - vp)

    def _commit(self, r, v, now_ms):
        c = self._crossing(r, v)
        if c:
            i = r * MAX_TRANSITIONS
            if self._count[r] < MAX_TRANSITIONS:
                self._times[i + (self._head[r] + self._count[r]) % MAX_TRANSITIONS] = now_ms
                self._count[r] += 1
            else:
                self._times[i + self._head[r]] = now_ms
                self._head[r] = (self._head[r] + 1) % MAX_TRANSITIONS
            self._dir[r] = c
            self._hi[r] = v
            self._lo[r] = v
            self.transitions += 1
            return
        if v > self._hi[r]:
            self._hi[r] = v
        if v < self._lo[r]:
            self._lo[r] = v

    def recent(self, now_ms):
        """Transitions this limiter counted in the last window, most over the regions."""
        most = 0
        for r in range(_REGIONS):
            c = 0
            for j in range(self._count[r]):
                t = self._times[r * MAX_TRANSITIONS + j]
                if 0 <= _ticks_diff(now_ms, t) < self.window_ms:
                    c += 1
            if c > most:
                most = c
        return most


def _ratio_q16(num, den):
    """floor(num / den) in Q16 clamped to 0..65536, never rounded up; den > 0, small ints."""
    if num <= 0 or den <= 0:
        return 0
    if num >= den:
        return _ONE_Q16
    # Keep num << 16 below 2^30: shrink num rounding down and den rounding up (ratio only falls).
    while den >= 16384:
        num >>= 1
        den = (den + 1) >> 1
    return (num << 16) // den


def _ticks_diff(a, b):
    """a - b for tick counts that wrap at 2^30 (the ESP32's ticks_ms), in -2^29..2^29-1."""
    d = (a - b) & 0x3FFFFFFF
    if d >= 0x20000000:
        d -= 0x20000000
        d -= 0x20000000  # two steps: 2^30 itself is not a small int on the ESP32
    return d


def _lum_py(rgb, n, b1, b2, b3, out):
    # out[1..4]: luminance sums of the quarters; out[0]: of the whole strip.
    s = 0
    q = 1
    end = b1
    i = 0
    j = 0
    while q <= 4:
        while i < end:
            s += _WR * rgb[j] + _WG * rgb[j + 1] + _WB * rgb[j + 2]
            i += 1
            j += 3
        out[q] = s
        s = 0
        q += 1
        end = b2 if q == 2 else (b3 if q == 3 else n)
    out[0] = out[1] + out[2] + out[3] + out[4]


def _blend_py(rgb, prev, n3, k_q16):
    # Every channel moves from prev towards rgb by k, rounded down (>> is floor for negatives).
    for i in range(n3):
        p = prev[i]
        rgb[i] = p + (((rgb[i] - p) * k_q16) >> 16)


def _copy_py(dst, src, n3):
    for i in range(n3):
        dst[i] = src[i]


def _use_viper(viper):
    return _MPY if viper is None else (viper and _MPY)


if _MPY:

    @micropython.viper
    def _sum_v(rgb, n3: int) -> int:
        p = ptr8(rgb)
        s = 0
        i = 0
        while i < n3:
            s += p[i]
            i += 1
        return s

    @micropython.viper
    def _scale_v(rgb, n3: int, k_q10: int):
        p = ptr8(rgb)
        i = 0
        while i < n3:
            p[i] = (p[i] * k_q10) >> 10
            i += 1

    @micropython.viper
    def _lum_v(rgb, n: int, b1: int, b2: int, b3: int, out):
        p = ptr8(rgb)
        o = ptr32(out)
        s = 0
        q = 1
        end = b1
        i = 0
        j = 0
        while q <= 4:
            while i < end:
                s += 871 * p[j] + 2929 * p[j + 1] + 296 * p[j + 2]
                i += 1
                j += 3
            o[q] = s
            s = 0
            q += 1
            if q == 2:
                end = b2
            elif q == 3:
                end = b3
            else:
                end = n
        o[0] = o[1] + o[2] + o[3] + o[4]

    @micropython.viper
    def _blend_v(rgb, prev, n3: int, k_q16: int):
        p = ptr8(rgb)
        q = ptr8(prev)
        i = 0
        while i < n3:
            a = q[i]
            p[i] = a + (((p[i] - a) * k_q16) >> 16)
            i += 1

    @micropython.viper
    def _copy_v(dst, src, n3: int):
        d = ptr8(dst)
        s = ptr8(src)
        i = 0
        while i < n3:
            d[i] = s[i]
            i += 1

else:
    _sum_v = _sum_py
    _scale_v = _scale_py
    _lum_v = _lum_py
    _blend_v = _blend_py
    _copy_v = _copy_py
