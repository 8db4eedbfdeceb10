"""The light engine: what the sleeper sees, frame by frame.

Palettes per sleep stage (night-safe: amber and red, no blue), pulse shapes driven by the
phase-sync loop's phase, crossfades, gamma computed at 14 bits and temporally dithered to the
strip's 8, then the current limiter and, last, the flash-safety limiter (cocoon/core/limiter.py).

    light = Light(60); light.configure(cfg); light.set_phase(sync.phase_q16(), sync.shaped_q16())
    light.render(now_ms, dt_ms, frame); board.strip.show(frame)

Modes
    pulse       one pulse per phase turn of the heartbeat loop: quick rise, slow fall, peak at 0
    breathe     the breathing guide: a symmetric swell drawn on phasesync's shaped phase, which
                stretches the exhale to 1.5 x the inhale (Dodow pacing, domain notes)
    sunrise     ramp over sunrise_min (30 min) from dark red through amber to warm white at full
                brightness (Philips wake-up light, Hatch); the smart wake starts it
    nightlight  the stage palette, fading out over nightlight_min (1-255 min; WLED: 60), then off
    off         dark
    festival    a group palette drifting along the strip, pulsing on the group's shared phase
Without a phase from the loop (set_phase never called) the engine runs its own: 60 pulses and
60000 / period_ms breaths per minute.

Light path, per frame
    stage palette -> per-LED linear colour (u8.8: 8-bit value x 256), crossfaded from the previous
    one (fade_ms for modes, stage_fade_ms for sleep stages: WLED's transition is 750 ms);
    level (perceptual, Q14) = brightness x stage dimming x mode level, faded the same way;
    gain = level ** gamma (Q14, table with linear interpolation: 14 bits, not 8);
    value = colour x gain, then first-order sigma-delta dithering over time: each channel keeps
    its rounding remainder and adds it to the next frame, so 1/256 steps average out over a few
    frames and a slow fade at the bottom moves smoothly instead of in visible 8-bit steps. Each
    LED starts with a different remainder so that the strip does not blink in step. Below
    DITHER_FLOOR (a quarter of one step) a channel is off rather than twinkling at a few Hz.
    Then CurrentLimiter, then FlashLimiter, always, whatever the mode.

Pulse depth falls to nothing as the pulse rate rises from 2 to 3 per second, so a fast pulse
becomes a steady glow instead of leaning on the flash limiter (phasesync keeps the rate below
2 Hz anyway; this holds for any phase source).

Integers only, no allocation per frame (heap_lock test on the unix port). The per-LED loops are
@micropython.viper on MicroPython with plain twins, bit-identical
(tests/firmware/core/test_light.py).
"""

import sys
from array import array

import micropython
from micropython import const

from cocoon.core.limiter import CurrentLimiter, FlashLimiter
from cocoon.core.trig import sin_q15

_MPY = sys.implementation.name == "micropython"

MODES = ("pulse", "breathe", "sunrise", "nightlight", "off", "festival")
_PULSE = const(0)
_BREATHE = const(1)
_SUNRISE = const(2)
_NIGHTLIGHT = const(3)
_OFF = const(4)
_FESTIVAL = const(5)

# Sleep stages, as cocoon/core/stager.py numbers them (UNKNOWN = -1 is shown as WAKE).
STAGE_NAMES = ("wake", "light", "deep", "rem")
# Night-safe defaults: no blue at all; melanopic EDI <= 1 lx in the sleep environment (Brown et al.
# 2022) is met by dim red/amber, and red has the least effect on the circadian clock.
STAGE_COLOURS = ("ff5a00", "ff3c00", "c80800", "ff1e04")
# Deeper sleep, dimmer light (x/256 of the brightness setting).
_STAGE_DIM = (256, 224, 160, 200)

# Festival palettes (shared with the group by number): 4 stops each, placed around the strip.
FESTIVAL_PALETTES = (
    ("ff2000", "ff8000", "ff0040", "ffb000"),  # ember
    ("0040ff", "00c0ff", "8000ff", "00ffa0"),  # ocean
    ("ff0080", "00ff60", "4000ff", "ffd000"),  # aurora
    ("ffffff", "ff9040", "ffffff", "40a0ff"),  # daylight
)

# Sunrise keyframes (progress in Q14, colour): dark red -> amber -> warm white (~2700 K in sRGB).
_SUNRISE_KEYS = (
    (0, 255, 0, 0),
    (4096, 255, 32, 0),
    (8192, 255, 96, 8),
    (12288, 255, 150, 48),
    (16384, 255, 190, 110),
)

# Defaults (config.py carries the user's values; these are used when a key is absent).
DEFAULTS = {
    "mode": "pulse",
    "bri": 48,
    "gamma_x100": 220,  # WLED's colour gamma 2.2 (ESPHome uses 2.8)
    "depth": 160,  # pulse depth, x/255 of the level: the light dips to 37% between pulses
    "fade_ms": 750,  # WLED's default transition
    "stage_fade_ms": 10000,
    "sunrise_min": 30,
    "sunrise_bri": 255,
    "nightlight_min": 60,
    "period_ms": 10000,  # own breathing period when no phase comes from the loop
    "festival": 0,
    "budget_ma": 850,
    "ma_per_led": 55,
    "reserve_ma": 120,
    "color": STAGE_COLOURS[0],
    "color_light": STAGE_COLOURS[1],
    "color_deep": STAGE_COLOURS[2],
    "color_rem": STAGE_COLOURS[3],
}
_STAGE_KEYS = ("color", "color_light", "color_deep", "color_rem")

_ONE_Q14 = const(16384)
DITHER_FLOOR = const(64)  # u8.8: a quarter of one 8-bit step
_HEART_RISE_Q16 = const(9830)  # the heartbeat pulse rises over the last 15% of the turn
_KNEE_RATE = const(131072)  # 2 pulses per second, in Q16 turns per second
_ZERO_RATE = const(196608)  # 3 pulses per second: no depth left


def gamma_table(gamma_x100):
    """257 entries, Q14: round(16384 * (i / 256) ** gamma). Built once, at configuration.

    Floats here only (the ESP32's are single precision: an entry may differ by one Q14 step from
    the unix port's, which nothing depends on).
    """
    g = gamma_x100 / 100
    t = array("H", [0] * 257)
    for i in range(257):
        t[i] = int(16384 * (i / 256) ** g + 0.5)
    return t


def _cos_half_q14(x_q14):
    """(1 + cos(pi * x)) / 2 in Q14 for x in 0..1 (Q14), from the integer sine table."""
    c = sin_q15(((x_q14 << 1) + 16384) & 0xFFFF)  # cos(pi x) = sin(2 pi (x/2 + 1/4))
    return ((c + 32767) * 16384) // 65534


def shape_tables():
    """(heart, breath): 257-entry Q14 tables over one phase turn, peak 16384 at phase 0.

    heart:  rises over the last 15% of the turn (raised cosine), falls over the rest, squared so
            that it drops quickly after the peak and lingers dim (a heartbeat's glow);
    breath: a raised cosine, symmetric; phasesync's shaped phase makes the exhale longer.
    """
    heart = array("H", [0] * 257)
    breath = array("H", [0] * 257)
    fall = 65536 - _HEART_RISE_Q16
    for i in range(257):
        p = (i << 8) & 0xFFFF
        breath[i] = _cos_half_q14((i << 7) if i <= 128 else ((256 - i) << 7))
        if p < fall:
            c = _cos_half_q14(p * 16384 // fall)
            heart[i] = (c * c) >> 14
        else:
            heart[i] = 16384 - _cos_half_q14((p - fall) * 16384 // _HEART_RISE_Q16)
    heart[256] = heart[0]
    breath[256] = breath[0]
    return heart, breath


def _lookup_q14(table, p_q16):
    """Linear interpolation in a 257-entry table indexed by a Q16 position."""
    i = p_q16 >> 8
    a = table[i]
    return a + (((table[i + 1] - a) * (p_q16 & 255)) >> 8)


def _frac_q14(part, whole):
    """part / whole in Q14, 0..16384, for 0 <= part and 0 < whole < 2^30, without long ints."""
    if part <= 0:
        return 0
    if part >= whole:
        return _ONE_Q14
    while part >= 65536:
        part >>= 1
        whole >>= 1
    return (part << 14) // whole


def _ticks_diff(a, b):
    # a - b for ticks that wrap at 2^30 (the ESP32's ticks_ms).
    d = (a - b) & 0x3FFFFFFF
    if d >= 0x20000000:
        d -= 0x20000000
        d -= 0x20000000
    return d


def parse_rgb(text):
    """'rrggbb' -> (r, g, b), or None if it is not one."""
    if not isinstance(text, str) or len(text) != 6:
        return None
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except ValueError:
        return None


class Light:
    """Renders frames for an n-LED strip. The app's seam: configure(cfg), render(), mode, bri."""

    def __init__(self, n_leds, cfg=None, viper=None):
        self.n = n_leds
        self.n3 = 3 * n_leds
        fast = _MPY if viper is None else (viper and _MPY)
        self._paint = _paint_v if fast else _paint_py
        self._shade = _shade_v if fast else _shade_py
        self._mix = _mix_v if fast else _mix_py
        self.cur = CurrentLimiter(n_leds, viper=viper)
        self.flash = FlashLimiter(n_leds, viper=viper)
        self._heart, self._breath = shape_tables()
        self._gamma = None
        self._gamma_x100 = 0
        # Per-LED linear colours (u8.8) of the colour fade: from -> to.
        self._from = array("H", [0] * self.n3)
        self._to = array("H", [0] * self.n3)
        self._stops = array("H", [0] * 12)  # 4 stops x RGB, linear u8.8
        # Dither remainders, staggered so that LEDs do not step in unison.
        self._err = bytearray(self.n3)
        for j in range(self.n3):
            self._err[j] = (j * 173) & 255
        self.mode = "off"
        self._mode = _OFF
        self.stage = -1
        self.bri = 0
        self.cfg = {}
        self._now = 0
        self._started = False
        # Fades start at the next render (the time is known there): t0 < 0 means "pending".
        self._col_t0 = 0
        self._col_ms = 0
        self._col_fading = False
        self._col_pending = False
        self._col_ms_next = 0
        self._lvl_t0 = 0
        self._lvl_ms = 0
        self._lvl_from = 0
        self._lvl_fading = False
        self._lvl_pending = False
        self._level = 0  # last perceptual level, Q14
        self.gain_q14 = 0
        # Phase inputs (Q16 turns); None until the phase-sync loop provides them.
        self._ext_phase = False
        self._pulse_q16 = 0
        self._breath_q16 = 0
        self._own_pulse_q16 = 0
        self._own_breath_q16 = 0
        self._last_phase_q16 = 0
        self._rate_q16 = 0  # pulse rate estimate, Q16 turns per second
        self._drift_q16 = 0  # festival palette position
        self._mode_t0 = 0  # when the current mode started (sunrise, nightlight)
        self._mode_ms = 0  # how long it runs
        self._ext_sunrise = -1  # the smart wake's sunrise progress (Q15), -1: none
        self._mode_skip_ms = 0  # start the next mode this far along (start_sunrise)
        self.configure(cfg or {})

    # ------------------------------------------------------------------ inputs

    def configure(self, cfg):
        """Apply settings (missing keys: DEFAULTS). Changes fade in from the next frame.

        Raises ValueError for values that cannot work (the app validates them first). A lowered
        budget_ma holds for every new frame at once; the flash limiter may go on showing the
        brighter frame it has for up to one window (1.1 s) before it lets the light drop, because
        flash safety comes first."""
        old = self.cfg
        merged = {}
        for key in DEFAULTS:
            merged[key] = cfg.get(key, DEFAULTS[key])
        if merged["mode"] not in MODES:
            raise ValueError("unknown light mode %r" % (merged["mode"],))
        for key in _STAGE_KEYS:
            if parse_rgb(merged[key]) is None:
                raise ValueError("%s must be a colour rrggbb" % key)
        if not 100 <= merged["gamma_x100"] <= 300:
            raise ValueError("gamma_x100 must be in 100..300")
        if not 0 <= merged["festival"] < len(FESTIVAL_PALETTES):
            raise ValueError("festival palette must be 0..%d" % (len(FESTIVAL_PALETTES) - 1))
        if (
            merged["budget_ma"] != old.get("budget_ma")
            or merged["ma_per_led"] != old.get("ma_per_led")
            or merged["reserve_ma"] != old.get("reserve_ma")
        ):
            standby = self.cur.standby_ma
            mpl = merged["ma_per_led"]
            self.cur.configure(merged["budget_ma"], mpl, standby, merged["reserve_ma"])
        if merged["gamma_x100"] != self._gamma_x100:
            self._gamma = gamma_table(merged["gamma_x100"])
            self._gamma_x100 = merged["gamma_x100"]
            self._recolour(merged["fade_ms"])
        self.cfg = merged
        colours_changed = False
        for key in _STAGE_KEYS + ("festival",):
            if merged[key] != old.get(key):
                colours_changed = True
        # The mode is (re)started when the configured one changes, not when the light moved on
        # by itself (a nightlight that ended, a sunrise the smart wake started): set_mode() is
        # the explicit way to restart it.
        if merged["mode"] != old.get("mode") or (
            merged["mode"] in ("sunrise", "nightlight") and self._restart_wanted(old, merged)
        ):
            self.set_mode(merged["mode"])
        elif colours_changed:
            self._recolour(merged["fade_ms"])
        if merged["bri"] != self.bri:
            self.bri = merged["bri"]
            self._fade_level(merged["fade_ms"])

    def _restart_wanted(self, old, new):
        key = "sunrise_min" if new["mode"] == "sunrise" else "nightlight_min"
        return old.get(key) != new[key]

    def set_mode(self, name, duration_ms=0):
        """Switch mode with a crossfade. sunrise/nightlight run for duration_ms (0: configured)."""
        if name not in MODES:
            raise ValueError("unknown light mode %r" % (name,))
        mode = MODES.index(name)
        self.mode = name
        self._mode = mode
        if mode == _SUNRISE:
            self._mode_ms = duration_ms or self.cfg["sunrise_min"] * 60000
        elif mode == _NIGHTLIGHT:
            self._mode_ms = duration_ms or self.cfg["nightlight_min"] * 60000
        else:
            self._mode_ms = 0
        self._mode_t0 = -1
        self._recolour(self.cfg["fade_ms"])
        self._fade_level(self.cfg["fade_ms"])

    def start_sunrise(self, duration_ms=0, elapsed_ms=0):
        """Ramp to full light over duration_ms (0: sunrise_min), timed by the light itself;
        elapsed_ms > 0 starts it that far along (a ramp re-timed part-way up)."""
        self._ext_sunrise = -1
        self.set_mode("sunrise", duration_ms)
        if 0 < elapsed_ms < self._mode_ms:
            self._mode_skip_ms = elapsed_ms

    def set_sunrise_q15(self, progress_q15):
        """The smart wake's sunrise, every frame: progress 0..32768 (SmartWake.sunrise_q15), or
        -1 for none. From the first value >= 0 the light shows the sunrise at that progress; when
        it goes back to -1 (alarm cleared) the configured mode returns, crossfaded."""
        if progress_q15 >= 0:
            if self._ext_sunrise < 0:
                self.set_mode("sunrise")
            self._ext_sunrise = progress_q15 if progress_q15 < 32768 else 32768
        elif self._ext_sunrise >= 0:
            self._ext_sunrise = -1
            self.set_mode(self.cfg["mode"])

    def _sunrise_q14(self, now_ms):
        if self._ext_sunrise >= 0:
            return self._ext_sunrise >> 1
        return _frac_q14(_ticks_diff(now_ms, self._mode_t0), self._mode_ms)

    def set_stage(self, stage):
        """A new sleep stage (stager numbering): the palette fades over stage_fade_ms."""
        if stage == self.stage:
            return
        self.stage = stage
        if self._mode in (_PULSE, _BREATHE, _NIGHTLIGHT):
            self._recolour(self.cfg["stage_fade_ms"])
            self._fade_level(self.cfg["stage_fade_ms"])

    def set_phase(self, pulse_q16, breath_q16):
        """Phases from the phase-sync loop (phase_q16(), shaped_q16()), before each render."""
        self._ext_phase = True
        self._pulse_q16 = pulse_q16 & 0xFFFF
        self._breath_q16 = breath_q16 & 0xFFFF

    # ------------------------------------------------------------------ frames

    def render(self, now_ms, dt_ms, frame):
        """Fill frame (3n bytes, R, G, B) with the next frame, limited. Allocates nothing."""
        if not self._started:
            self._started = True
            dt_ms = 0
        if dt_ms < 0:
            dt_ms = 0
        elif dt_ms > 10000:
            dt_ms = 10000  # a long stall: phases need not catch up (and dt << 16 stays small)
        self._now = now_ms
        self._advance(dt_ms)
        mode = self._mode
        if self._mode_t0 < 0:
            self._mode_t0 = (now_ms - self._mode_skip_ms) & 0x3FFFFFFF
            self._mode_skip_ms = 0
        if mode == _NIGHTLIGHT and _ticks_diff(now_ms, self._mode_t0) >= self._mode_ms:
            self.set_mode("off")  # the nightlight has faded out: off, with nothing left to fade
            self._mode_t0 = now_ms
            mode = _OFF
        # Colour: sunrise and festival move every frame; the others only when told.
        if mode == _SUNRISE:
            self._sunrise_stops(self._sunrise_q14(now_ms))
            self._paint(self._to, self.n, self._stops, 0)
        elif mode == _FESTIVAL:
            self._paint(self._to, self.n, self._stops, self._drift_q16)
        mix = self._colour_mix(now_ms)
        level = self._level_now(now_ms)
        self._level = level
        gain = _lookup_q14(self._gamma, min(level << 2, 65535)) if level > 0 else 0
        self.gain_q14 = gain
        self._shade(frame, self._err, self._from, self._to, self.n3, mix, gain, DITHER_FLOOR)
        self.cur.limit(frame)
        self.flash.limit(frame, now_ms)

    def _advance(self, dt_ms):
        # Own phases: 1 pulse per second, one breath per period_ms.
        self._own_pulse_q16 = (self._own_pulse_q16 + dt_ms * 65536 // 1000) & 0xFFFF
        period = self.cfg["period_ms"]
        self._own_breath_q16 = (self._own_breath_q16 + (dt_ms << 16) // period) & 0xFFFF
        p = self._pulse_q16 if self._ext_phase else self._own_pulse_q16
        if dt_ms > 0:
            step = (p - self._last_phase_q16) & 0xFFFF
            rate = step * 1000 // dt_ms
            if rate > 4 * 65536:
                rate = 4 * 65536
            self._rate_q16 += (rate - self._rate_q16) >> 2
            self._drift_q16 = (self._drift_q16 + (step >> 4)) & 0xFFFF
        self._last_phase_q16 = p

    def _mode_level(self, now_ms):
        """The current mode's perceptual level, Q14, before any fade."""
        mode = self._mode
        if mode == _OFF:
            return 0
        base = (self.bri * 16384) // 255
        stage = self.stage if 0 <= self.stage < 4 else 0
        if mode == _SUNRISE:
            p = self._sunrise_q14(now_ms)
            return (p * ((self.cfg["sunrise_bri"] * 16384) // 255)) >> 14
        base = (base * _STAGE_DIM[stage]) >> 8
        if mode == _NIGHTLIGHT:
            left = self._mode_ms - _ticks_diff(now_ms, self._mode_t0)
            return (base * _frac_q14(left, self._mode_ms)) >> 14
        ext = self._ext_phase
        if mode == _BREATHE:
            p = self._breath_q16 if ext else self._own_breath_q16
            shape = _lookup_q14(self._breath, p)
        else:
            p = self._pulse_q16 if ext else self._own_pulse_q16
            shape = _lookup_q14(self._heart, p)
        depth = (self.cfg["depth"] * 16384) // 255
        rate = self._rate_q16
        if mode != _BREATHE and rate > _KNEE_RATE:
            # 2..3 pulses per second: less and less depth (a fast pulse becomes a glow).
            keep = _frac_q14(_ZERO_RATE - rate, _ZERO_RATE - _KNEE_RATE)
            depth = (depth * keep) >> 14
        return (base * (16384 - depth + ((depth * shape) >> 14))) >> 14

    def _level_now(self, now_ms):
        target = self._mode_level(now_ms)
        if self._lvl_pending:
            self._lvl_pending = False
            self._lvl_t0 = now_ms
            self._lvl_fading = self._lvl_ms > 0
        if not self._lvl_fading:
            return target
        t = _frac_q14(_ticks_diff(now_ms, self._lvl_t0), self._lvl_ms)
        if t >= _ONE_Q14:
            self._lvl_fading = False
            return target
        a = self._lvl_from
        return a + (((target - a) * t) >> 14)

    def _fade_level(self, fade_ms):
        self._lvl_from = self._level
        self._lvl_ms = fade_ms
        self._lvl_pending = True

    def _colour_mix(self, now_ms):
        if self._col_pending:
            self._col_pending = False
            self._col_t0 = now_ms
            self._col_ms = self._col_ms_next
            self._col_fading = self._col_ms > 0
        if not self._col_fading:
            return _ONE_Q14
        t = _frac_q14(_ticks_diff(now_ms, self._col_t0), self._col_ms)
        if t >= _ONE_Q14:
            self._col_fading = False
        return t

    def _recolour(self, fade_ms):
        """New target colours for the current mode and stage, faded in over fade_ms."""
        if self._gamma is None or not self.cfg:
            return
        # Freeze what is shown now as the start of the fade.
        mix = _ONE_Q14
        if self._col_pending:
            mix = 0  # the last fade has not started: what is shown is still `from`
        elif self._col_fading:
            mix = _frac_q14(_ticks_diff(self._now, self._col_t0), self._col_ms)
        self._mix(self._from, self._from, self._to, self.n3, mix)
        mode = self._mode
        if mode == _FESTIVAL:
            pal = FESTIVAL_PALETTES[self.cfg["festival"]]
            for s in range(4):
                self._set_stop(s, parse_rgb(pal[s]))
        elif mode == _SUNRISE:
            self._sunrise_stops(0)
        else:
            stage = self.stage if 0 <= self.stage < 4 else 0
            r, g, b = parse_rgb(self.cfg[_STAGE_KEYS[stage]])
            deep = (r, (g * 2) // 3, b // 2)  # a little deeper towards two points of the strip
            for s in range(4):
                self._set_stop(s, (r, g, b) if s % 2 == 0 else deep)
        self._paint(self._to, self.n, self._stops, self._drift_q16 if mode == _FESTIVAL else 0)
        self._col_ms_next = fade_ms
        self._col_pending = True

    def _set_stop(self, s, rgb):
        for c in range(3):
            self._stops[3 * s + c] = self._linear_u88(rgb[c])

    def _linear_u88(self, v8):
        # An 8-bit perceptual value -> linear light in u8.8 (0..65280).
        return (_lookup_q14(self._gamma, v8 << 8 if v8 < 255 else 65535) * 65280) >> 14

    def _sunrise_stops(self, p_q14):
        keys = _SUNRISE_KEYS
        k = 0
        while k < len(keys) - 2 and p_q14 > keys[k + 1][0]:
            k += 1
        a = keys[k]
        b = keys[k + 1]
        f = _frac_q14(p_q14 - a[0], b[0] - a[0])
        for c in range(3):
            v = a[c + 1] + (((b[c + 1] - a[c + 1]) * f) >> 14)
            lin = self._linear_u88(v)
            for s in range(4):
                self._stops[3 * s + c] = lin

    # ------------------------------------------------------------------ telemetry

    def status(self):
        """A small dict for the STATE frame (allocates: once per second)."""
        return {
            "mode": self.mode,
            "stage": STAGE_NAMES[self.stage] if 0 <= self.stage < 4 else None,
            "level": self._level * 1000 // _ONE_Q14,
            "ma": self.cur.estimate_ua(self.flash.prev) // 1000,
            "cur_limited": self.cur.limited,
            "flash_limited": self.flash.limited,
        }


# ---------------------------------------------------------------------------- per-LED kernels
# Each has a plain twin giving the same integers; every product stays below 2^30 (bounds noted),
# so neither twin needs long ints on the ESP32 and viper's 32-bit words never overflow.


def _paint_py(dst, n, stops, offset_q16):
    # Four colour stops placed around the strip (cyclic), shifted by offset; linear u8.8 per LED.
    for i in range(n):
        pos = (((i << 16) // n) + offset_q16) & 0xFFFF
        s = pos >> 14
        f = pos & 0x3FFF
        a = 3 * s
        b = 3 * ((s + 1) & 3)
        j = 3 * i
        for c in range(3):
            lo = stops[a + c]
            dst[j + c] = lo + (((stops[b + c] - lo) * f) >> 14)  # 65280 * 16383 < 2^30


def _shade_py(out, err, src_a, src_b, n3, mix_q14, gain_q14, floor):
    # colour = a..b by mix; value = colour x gain (u8.8); 8 bits out, remainder kept per channel.
    for j in range(n3):
        a = src_a[j]
        c = a + (((src_b[j] - a) * mix_q14) >> 14)  # 65280 * 16384 < 2^30
        v = (c * gain_q14) >> 14
        if v < floor:
            out[j] = 0
        else:
            v += err[j]
            out[j] = v >> 8
            err[j] = v & 255


def _mix_py(dst, src_a, src_b, n3, mix_q14):
    for j in range(n3):
        a = src_a[j]
        dst[j] = a + (((src_b[j] - a) * mix_q14) >> 14)


if _MPY:

    @micropython.viper
    def _paint_v(dst, n: int, stops, offset_q16: int):
        d = ptr16(dst)
        st = ptr16(stops)
        i = 0
        while i < n:
            pos = (((i << 16) // n) + offset_q16) & 0xFFFF
            s = pos >> 14
            f = pos & 0x3FFF
            a = 3 * s
            b = 3 * ((s + 1) & 3)
            j = 3 * i
            c = 0
            while c < 3:
                lo = int(st[a + c])
                d[j + c] = lo + (((int(st[b + c]) - lo) * f) >> 14)
                c += 1
            i += 1

    @micropython.viper
    def _shade_v(out, err, src_a, src_b, n3: int, mix_q14: int, gain_q14: int, floor: int):
        o = ptr8(out)
        e = ptr8(err)
        pa = ptr16(src_a)
        pb = ptr16(src_b)
        j = 0
        while j < n3:
            a = int(pa[j])
            c = a + (((int(pb[j]) - a) * mix_q14) >> 14)
            v = (c * gain_q14) >> 14
            if v < floor:
                o[j] = 0
            else:
                v += int(e[j])
                o[j] = v >> 8
                e[j] = v & 255
            j += 1

    @micropython.viper
    def _mix_v(dst, src_a, src_b, n3: int, mix_q14: int):
        d = ptr16(dst)
        pa = ptr16(src_a)
        pb = ptr16(src_b)
        j = 0
        while j < n3:
            a = int(pa[j])
            d[j] = a + (((int(pb[j]) - a) * mix_q14) >> 14)
            j += 1

else:
    _paint_v = _paint_py
    _shade_v = _shade_py
    _mix_v = _mix_py
