"""The pulse oscillator and the loop that locks it to heartbeats, a breathing guide and peers.

The light engine reads the pulse phase from here; the app feeds beats (from the beat detector),
radio peers (from sync packets) and the passing of time (a count of ticks). Integers only, no
clock reads, no allocation on the fast path (advance, beat, set_peer, phase_q16, shaped_q16).

    sync = PhaseSync(tick_us=10_000, ratio=4)       # one light pulse per 4 heartbeats
    sync.advance(2); sync.beat_us(3_500); p = sync.phase_q16()   # per loop: ticks, beats, read

Model
    Oscillator   phase_q32 (one turn = 2**32, wraps) advances by freq_q32 (turns per tick
                 * 2**32) every tick, plus a correction step limited per tick (max_slew_mhz).
                 The pulse peak is phase 0; the light engine maps phase to brightness.
    Beats        the phase detector works in beat turns: beat phase = ratio * phase (mod 2**32),
                 so each of the `ratio` beats of a pulse sits on a whole 1/ratio of a turn and
                 the peak falls on a beat. Timestamps are sub-tick: age_q8 = how long ago the
                 beat happened, in 1/256 tick (the detector reports beats late).
    Loop filter  on the beat-phase error e (Q16 beat turns, minus corrections still pending):
                 the phase moves by alpha_q15 * e, slewed in over the next ticks (time constant
                 slew_tau_ms, at most max_slew per tick), so the beat sits on a beat mark.
                 Frequency, once locked: the loop predicts the next interval and runs at
                 1 / (ratio * predicted interval) from the beat on, so the next mark lands where
                 the next beat is expected (the phase makes up the new rate over the report's
                 delay). The error at a beat is then the prediction's error; the floor for any
                 causal loop is the best causal predictor of the next beat.
    Predictor    intervals of one beat (0.5..1.5 x the running mean: a missed beat's double
                 interval teaches nothing) feed a normalised-LMS AR model of the deviation from a
                 running mean: next - mean = sum w_i (interval_i - mean) over the last
                 predict_order intervals. It learns respiratory sinus arrhythmia (a swing a few
                 beats long) and turns to the mean on beat-to-beat noise, where "one interval
                 after the last" (the RMSSD baseline) is worst. predict=0, or before the first
                 clean interval: freq += beta_q15 * e * freq (the PI loop of earlier versions).
    Acquisition  FREE -> ACQUIRE at the first beat: full phase alignment at every beat, and the
                 frequency taken from the measured interval while the error is large (the
                 predictor starts over from it). lock_n beats in a row within lock_err -> LOCKED.
    Rejection    LOCKED: a beat sooner than the shortest plausible interval, or whose error is
                 above the gate (extra, ectopic, premature) is ignored; a missed beat needs
                 nothing (the error is taken modulo one beat). The gate is gate_k_q4/16 times
                 the running mean |error| (so a sleeper with large beat-to-beat swings is
                 still followed), at least gate_q16. unlock_n rejections in a row -> ACQUIRE
                 again, from that beat.
    Holdover     no accepted beat for hold_s: keep the last frequency (HOLDOVER); after
                 relax_after_s relax exponentially (relax_tau_s) to the resting rate.
    Breathing    breathe(): ignore beats; slow the pulse from the sleeper's rate (default
                 11/min) to 6/min over ramp_s (Dodow: 8 or 20 minutes), exhale = 1.5 x inhale
                 through shaped_q16() (below).
    Peers        Kuramoto: each tick the phase moves by K/n * sum sin(peer - own) over the n
                 live peers, whose phases are extrapolated by their frequency since their
                 packet. K = 0 leaves the oscillator bit-identical to having no peers.
    Safety       freq_q32 always inside [pulse_min_mhz, pulse_max_mhz], at most 2 Hz: with the
                 largest correction step added the pulse stays below the 3 flashes per second
                 of WCAG 2.3.1. Every tick |step| <= max_step and the phase never runs
                 backwards. Nothing beat(), set_peer() or breathe() receive can break this
                 (tests/firmware/core/test_phasesync_props.py).

Output
    phase_q16()   pulse phase, 0..65535 per turn, peak at 0
    shaped_q16()  the same phase mapped piecewise-linearly so that a renderer drawing a
                  symmetric pulse (falling over 0..32767, rising over 32768..65535) shows an
                  asymmetric one: in breathing mode the exhale (falling) takes 60% of a cycle
    lock_state()  FREE, ACQUIRE, LOCKED, HOLDOVER; last_error_q16(): the error at the last beat

Exact arithmetic
    The hot functions are @micropython.viper. Viper computes in machine words (32 bits on the
    ESP32, 64 on x86-64) and ptr32 loads are sign-extended on one and zero-extended on the
    other, so only the low 32 bits of a sum or product may matter: each phase is re-normalised
    with s32(x) = ((x & M) ^ S) - S (M = 2**32 - 1, S = 2**31, built at run time: literals
    >= 2**30 are long ints on the ESP32), and only normalised, bounded values are compared,
    shifted right or divided. Products that are shifted right stay below 2**31 (bounds noted).
    The same source runs unchanged as plain Python: on CPython (tests/shims) and on MicroPython
    with the decorators removed, ptr32 falls back to indexing the array itself, and CPython's
    array('i') refuses any store outside 32 bits. phasesync_ref.py is the readable reference
    all three must equal bit for bit (tests/firmware/core/test_phasesync_exact.py).
"""

from array import array

import micropython
from micropython import const

from cocoon.core.trig import SIN_Q15

# Lock states (lock_state()).
FREE = const(0)  # no beats (yet): free-running at the resting rate
ACQUIRE = const(1)  # beats arriving, not yet trusted
LOCKED = const(2)
HOLDOVER = const(3)  # beats stopped: keep the last good frequency, then relax
# Modes.
HEART = const(0)
BREATH = const(1)
# beat() verdicts.
IGNORED = const(0)  # breathing mode
ACCEPTED = const(1)
REJECTED = const(2)

MAX_PEERS = const(8)
PEER_STRIDE = const(4)
P_PHASE = const(0)  # peer phase_q32, extrapolated every tick
P_FREQ = const(1)  # peer freq_q32 (already in our tick units)
P_AGE = const(2)  # ticks since its packet was sent
P_LIVE = const(3)

# State layout: array('i'), one int32 each.
S_PHASE = const(0)  # phase_q32 of the pulse
S_FREQ = const(1)  # freq_q32: pulse turns per tick * 2**32
S_CORR = const(2)  # phase correction still to be applied, q32 pulse turns
S_NOW = const(3)  # time in Q8 ticks (wraps; only differences are used)
S_LAST = const(4)  # Q8 time of the last accepted beat (the anchor)
S_HAVE = const(5)  # 1 if S_LAST is valid
S_LOCK = const(6)
S_MODE = const(7)
S_GOOD = const(8)  # beats in a row within lock_err (acquisition)
S_REJ = const(9)  # beats rejected in a row (locked)
S_SINCE = const(10)  # ticks since the last accepted beat (saturates)
S_ERR = const(11)  # beat-phase error at the last beat, Q16 beat turns (before correction)
S_MAXSTEP = const(12)  # largest |step| so far, q32 turns per tick
S_BEATS = const(13)  # beats seen (saturates)
S_BR_Q = const(14)  # breathing ramp: freq decrement per tick (whole part) ...
S_BR_R = const(15)  # ... and remainder, spread Bresenham-style over S_BR_T ticks
S_BR_ACC = const(16)
S_BR_LEFT = const(17)  # ramp ticks left
S_BR_T = const(18)
S_SPLIT = const(19)  # shaped_q16(): share of the cycle (Q16) from the peak to the trough
S_LIVE = const(20)  # live peers at the last tick
S_STEP = const(21)  # correction step of the last tick
S_MAD = const(22)  # running mean |error| at locked beats, Q16 beat turns (sets the gate)
S_REJT = const(23)  # Q8 time of the last rejected beat
# The interval predictor (locked: the frequency comes from the predicted next interval).
S_MEAN = const(24)  # running mean interval, Q4 predictor units (Q8 ticks >> C_PSH)
S_PRED = const(25)  # predicted next interval, predictor units
S_HN = const(26)  # clean intervals learned since the predictor (re)started, saturates at 255
S_HIST = const(27)  # S_HIST + i: the last ORDER_MAX clean intervals, newest first, units
S_W = const(33)  # S_W + i: the predictor's weights on (interval i - mean), Q16
STATE_LEN = const(39)
ORDER_MAX = const(6)

# Config layout: array('i'), derived once by make_config().
C_RATIO = const(0)
C_FMIN = const(1)
C_FMAX = const(2)
C_FREST = const(3)
C_MAXSTEP = const(4)
C_SLEW_SH = const(5)
C_ALPHA = const(6)
C_BETA = const(7)
C_GATE = const(8)
C_LOCK_ERR = const(9)
C_LOCK_N = const(10)
C_UNLOCK_N = const(11)
C_HOLD = const(12)
C_RELAX_AFTER = const(13)
C_RELAX_SH = const(14)
C_IVMIN = const(15)
C_IVMAX = const(16)
C_K = const(17)
C_PEER_TO = const(18)
C_MAXAGE = const(19)
C_SPLIT_HEART = const(20)
C_GATE_K = const(21)  # gate = max(C_GATE, C_GATE_K * mean |error| / 16)
C_INV = const(22)  # C_INV + n: 4096 // n for n = 1..MAX_PEERS (mean over n live peers)
C_PREDICT = const(31)  # 1: locked frequency from the predicted interval; 0: the PI update
C_ORDER = const(32)  # intervals the predictor looks back on, 1..ORDER_MAX
C_MU = const(33)  # NLMS step, Q8
C_REG = const(34)  # NLMS regularisation, predictor units squared (2**16..2**28)
C_PSH = const(35)  # predictor unit = 2**C_PSH Q8 ticks (so that intervals fit 15 bits)
C_MEAN_SH = const(36)  # the running mean's time constant: 2**C_MEAN_SH intervals
C_W0 = const(37)  # starting weight on the last interval, Q16
CONFIG_LEN = const(38)

_SINCE_MAX = const(0x3FFFFFFF)
_CORR_MAX = const(0x3FFFFFFF)  # |pending correction| <= a quarter turn: sums stay inside int32
_MAKEUP_MAX = const(0x1FFFFFFF)  # an eighth of a turn
_DEV_MAX = const(8191)  # |interval - mean| used by the predictor, units (about 0.5 s by default)
_W_MAX = const(0x40000)  # |weight| <= 4.0 (Q16); rounded to Q12 times a deviation < 2**27

# Defaults, and why.
# 100 ticks/s: the renderer (WLED targets 42 fps) finds a fresh phase every frame, the correction
# limit is a smooth slew, and beats carry sub-tick timestamps, so precision does not depend on it.
TICK_US = const(10_000)
# One pulse per 4 heartbeats: at rest the heart beats about 4 times per breath, so the light moves
# at a breathing pace (15/min at 60 bpm) and slows down as the sleeper's heart rate falls.
RATIO = const(4)
REST_BPM = const(60)
# WCAG 2.3.1: at most 3 flashes per second. The pulse is held at or below 2 Hz; with the largest
# correction (0.25 turn/s) and coupling (which shares that limit) it stays below 2.25 Hz.
PULSE_MAX_MHZ = const(2000)
MAX_SLEW_MHZ = const(250)

try:  # Viper casts exist only inside @micropython.viper functions; elsewhere index the array.
    ptr32  # noqa: B018
except NameError:

    def ptr32(buf):
        return buf

    def ptr16(buf):
        return buf

    def ptr8(buf):
        return buf


def _q32_per_tick(mhz, tick_us):
    # turns per tick * 2**32, from millihertz; integer maths, identical on every interpreter.
    return (mhz * tick_us << 32) // 1_000_000_000


def _shift_for(tau_ms, tick_us):
    # The power of two (ticks) closest to tau on a log scale: x >> sh is a first-order filter.
    ticks = tau_ms * 1000 // tick_us
    sh = 0
    while sh < 24 and (1 << (sh + 1)) * 1000 <= ticks * 1414:
        sh += 1
    return sh


def make_config(
    tick_us=TICK_US,
    ratio=RATIO,
    rest_bpm=REST_BPM,
    beat_min_bpm=30,
    beat_max_bpm=200,
    pulse_min_mhz=20,
    pulse_max_mhz=PULSE_MAX_MHZ,
    max_slew_mhz=MAX_SLEW_MHZ,
    slew_tau_ms=100,
    alpha_q15=32768,
    beta_q15=27853,
    gate_q16=9830,
    gate_k_q4=96,
    lock_err_q16=7864,
    lock_n=2,
    unlock_n=3,
    hold_s=3,
    relax_after_s=20,
    relax_tau_s=60,
    coupling_mhz=100,
    peer_timeout_ms=3000,
    heart_split_q16=32768,
    predict=1,
    predict_order=6,
    predict_mu_q8=40,
    predict_reg_ms=40,
    predict_mean_sh=3,
    predict_w0_q12=2048,
):
    """Validate the settings and return the loop's config as array('i'). Raises ValueError.

    tick_us                 tick length (100 Hz default, see TICK_US)
    ratio                   heartbeats per light pulse (4: a breathing pace, see RATIO)
    rest_bpm                free-running and relaxation rate, as a heart rate
    beat_min/max_bpm        plausible heart rates: shorter intervals are extra beats
    pulse_min/max_mhz       the pulse band; the ceiling is 2 Hz (WCAG 2.3.1, see PULSE_MAX_MHZ)
    max_slew_mhz            the largest correction, in turns per second (0.25: a slow catch-up)
    slew_tau_ms, alpha_q15, beta_q15, gate_q16, gate_k_q4, lock_err_q16
                            the loop filter and the beat gate (the smallest gate, and how
                            many times the running mean |error| it is, Q4), chosen by
                            bench/tune_sync.py on synthetic beat series only
    lock_n, unlock_n        beats in a row to lock; rejections in a row to let go
    hold_s, relax_after_s, relax_tau_s   holdover, then relaxation to rest_bpm
    coupling_mhz            Kuramoto K in turns per second (0: this cocoon ignores its peers)
    peer_timeout_ms         a peer not heard from for this long is dropped
    heart_split_q16         shaped_q16() split in heart mode (32768: symmetric)
    predict                 1: once locked, each beat sets the frequency from the predicted next
                            interval (below); 0: the PI frequency update (beta_q15) instead
    predict_order, predict_mu_q8, predict_reg_ms, predict_mean_sh, predict_w0_q12
                            the interval predictor: a normalised-LMS AR(order) model of the
                            interval's deviation from a running mean (2**mean_sh beats), step
                            mu, regularisation reg_ms (RMS deviation), starting weight w0 on
                            the last interval; chosen by bench/tune_sync.py (synthetic series
                            and the odd-numbered recordings only)
    """

    def check(name, value, lo, hi):
        if not isinstance(value, int) or value < lo or value > hi:
            raise ValueError(
                "phasesync: %s must be an integer in %d..%d, got %r" % (name, lo, hi, value)
            )

    check("tick_us", tick_us, 1000, 20000)
    check("ratio", ratio, 1, 8)
    check("beat_min_bpm", beat_min_bpm, 20, 120)
    check("beat_max_bpm", beat_max_bpm, beat_min_bpm + 10, 240)
    check("rest_bpm", rest_bpm, beat_min_bpm, beat_max_bpm)
    check("pulse_max_mhz", pulse_max_mhz, 50, PULSE_MAX_MHZ)
    check("pulse_min_mhz", pulse_min_mhz, 5, pulse_max_mhz)
    check("max_slew_mhz", max_slew_mhz, 1, MAX_SLEW_MHZ)
    check("slew_tau_ms", slew_tau_ms, 10, 5000)
    check("alpha_q15", alpha_q15, 0, 32768)
    check("beta_q15", beta_q15, 0, 32768)
    check("gate_q16", gate_q16, 656, 32768)
    check("gate_k_q4", gate_k_q4, 0, 255)
    check("lock_err_q16", lock_err_q16, 1, 32768)
    check("lock_n", lock_n, 1, 20)
    check("unlock_n", unlock_n, 1, 20)
    check("hold_s", hold_s, 3, 600)
    check("relax_after_s", relax_after_s, hold_s, 3600)
    check("relax_tau_s", relax_tau_s, 1, 3600)
    check("coupling_mhz", coupling_mhz, 0, max_slew_mhz)
    check("peer_timeout_ms", peer_timeout_ms, 100, 60000)
    check("heart_split_q16", heart_split_q16, 4096, 61440)
    check("predict", predict, 0, 1)
    check("predict_order", predict_order, 1, ORDER_MAX)
    check("predict_mu_q8", predict_mu_q8, 0, 255)
    check("predict_reg_ms", predict_reg_ms, 1, 1000)
    check("predict_mean_sh", predict_mean_sh, 1, 8)
    check("predict_w0_q12", predict_w0_q12, 0, 4096)
    rest_mhz = rest_bpm * 1000 // (60 * ratio)
    if rest_mhz < pulse_min_mhz or rest_mhz > pulse_max_mhz:
        raise ValueError("phasesync: rest_bpm / ratio is outside the pulse band")
    cfg = array("i", bytes(4 * CONFIG_LEN))
    cfg[C_RATIO] = ratio
    cfg[C_FMIN] = _q32_per_tick(pulse_min_mhz, tick_us)
    cfg[C_FMAX] = _q32_per_tick(pulse_max_mhz, tick_us)
    # Resting pulse: rest_bpm / 60 / ratio Hz, rounded down.
    cfg[C_FREST] = (rest_bpm * tick_us << 32) // (60_000_000 * ratio)
    cfg[C_MAXSTEP] = _q32_per_tick(max_slew_mhz, tick_us)
    cfg[C_SLEW_SH] = _shift_for(slew_tau_ms, tick_us)
    cfg[C_ALPHA] = alpha_q15
    cfg[C_BETA] = beta_q15
    cfg[C_GATE] = gate_q16
    cfg[C_GATE_K] = gate_k_q4
    cfg[C_LOCK_ERR] = lock_err_q16
    cfg[C_LOCK_N] = lock_n
    cfg[C_UNLOCK_N] = unlock_n
    cfg[C_HOLD] = hold_s * 1_000_000 // tick_us
    cfg[C_RELAX_AFTER] = relax_after_s * 1_000_000 // tick_us
    cfg[C_RELAX_SH] = _shift_for(relax_tau_s * 1000, tick_us)
    # Beat intervals in Q8 ticks: shortest and longest plausible (beat_max_bpm, beat_min_bpm).
    cfg[C_IVMIN] = 60_000_000 * 256 // (beat_max_bpm * tick_us)
    cfg[C_IVMAX] = 60_000_000 * 256 // (beat_min_bpm * tick_us)
    # K in q24 turns per tick (bounded: coupling_mhz <= 250 and tick <= 20 ms give < 2**18).
    cfg[C_K] = (coupling_mhz * tick_us << 24) // 1_000_000_000
    cfg[C_PEER_TO] = peer_timeout_ms * 1000 // tick_us
    cfg[C_MAXAGE] = 2_000_000 * 256 // tick_us  # a beat reported more than 2 s late is clamped
    cfg[C_SPLIT_HEART] = heart_split_q16
    for n in range(1, MAX_PEERS + 1):
        cfg[C_INV + n] = 4096 // n
    cfg[C_PREDICT] = predict
    cfg[C_ORDER] = predict_order
    cfg[C_MU] = predict_mu_q8
    # Predictor units: the longest interval below 2**15 units (|deviation| * |weight| < 2**27).
    psh = 0
    while cfg[C_IVMAX] >> psh >= 32768:
        psh += 1
    cfg[C_PSH] = psh
    # reg_ms squared in units squared (unit = tick_us * 2**psh / 256 us), inside 2**16..2**28 so
    # that the NLMS division keeps its products below 2**31 (see _learn).
    reg = (predict_reg_ms * 256_000) ** 2 // (tick_us << psh) ** 2
    cfg[C_REG] = min(max(reg, 1 << 16), 1 << 28)
    cfg[C_MEAN_SH] = predict_mean_sh
    cfg[C_W0] = predict_w0_q12 << 4
    return cfg


@micropython.viper
def _run(st, cfg, peers, n: int) -> int:
    """Advance n ticks. Returns the lock state."""
    s = ptr32(st)
    c = ptr32(cfg)
    pr = ptr32(peers)
    tab = ptr16(SIN_Q15)
    one = 1
    S = one << 31
    M = (S - 1) | S
    # Locals: loads are re-normalised to signed 32 bits (zero-extended on 64-bit viper).
    phase = ((s[S_PHASE] & M) ^ S) - S
    freq = ((s[S_FREQ] & M) ^ S) - S
    corr = ((s[S_CORR] & M) ^ S) - S
    now = ((s[S_NOW] & M) ^ S) - S
    since = ((s[S_SINCE] & M) ^ S) - S
    lock = ((s[S_LOCK] & M) ^ S) - S
    mode = ((s[S_MODE] & M) ^ S) - S
    have = ((s[S_HAVE] & M) ^ S) - S
    good = ((s[S_GOOD] & M) ^ S) - S
    maxstep = ((s[S_MAXSTEP] & M) ^ S) - S
    br_left = ((s[S_BR_LEFT] & M) ^ S) - S
    br_acc = ((s[S_BR_ACC] & M) ^ S) - S
    br_q = ((s[S_BR_Q] & M) ^ S) - S
    br_r = ((s[S_BR_R] & M) ^ S) - S
    br_t = ((s[S_BR_T] & M) ^ S) - S
    fmin = ((c[C_FMIN] & M) ^ S) - S
    fmax = ((c[C_FMAX] & M) ^ S) - S
    frest = ((c[C_FREST] & M) ^ S) - S
    lim = ((c[C_MAXSTEP] & M) ^ S) - S
    slew_sh = ((c[C_SLEW_SH] & M) ^ S) - S
    hold = ((c[C_HOLD] & M) ^ S) - S
    relax_after = ((c[C_RELAX_AFTER] & M) ^ S) - S
    relax_sh = ((c[C_RELAX_SH] & M) ^ S) - S
    k = ((c[C_K] & M) ^ S) - S
    peer_to = ((c[C_PEER_TO] & M) ^ S) - S
    step = 0
    live = 0
    i = 0
    while i < n:
        i += 1
        now = (((now + 256) & M) ^ S) - S
        if since < _SINCE_MAX:
            since += 1
        if mode == HEART:
            if since > hold:
                if lock == LOCKED:
                    lock = HOLDOVER
                elif lock == ACQUIRE:
                    lock = FREE
                    have = 0
                    good = 0
            if since > relax_after:
                if lock != LOCKED:
                    # First-order relaxation to the resting rate, rounded away from zero.
                    d = frest - freq
                    if d > 0:
                        r = d >> relax_sh
                        if r == 0:
                            r = 1
                        freq += r
                    elif d < 0:
                        r = (0 - d) >> relax_sh
                        if r == 0:
                            r = 1
                        freq -= r
        elif br_left > 0:
            br_left -= 1
            freq -= br_q
            br_acc += br_r
            if br_acc >= br_t:
                br_acc -= br_t
                freq -= 1
        if freq < fmin:
            freq = fmin
        elif freq > fmax:
            freq = fmax
        # This tick's step must stay in [lo, hi]: never faster than the limit, never backwards.
        hi = lim
        lo = 0 - lim
        if freq < lim:
            lo = 0 - freq
        # Peers: extrapolate, expire, and sum sin(peer - own) from the table (Q15 each).
        acc = 0
        live = 0
        j = 0
        while j < MAX_PEERS:
            b = j * PEER_STRIDE
            if pr[b + P_LIVE] != 0:
                age = pr[b + P_AGE] + 1
                if age > peer_to:
                    pr[b + P_LIVE] = 0
                else:
                    pr[b + P_AGE] = age
                    pp = (((pr[b + P_PHASE] + pr[b + P_FREQ]) & M) ^ S) - S
                    pr[b + P_PHASE] = pp
                    live += 1
                    if k != 0:
                        # Bits 16..31 of the difference are the same whether it wrapped or not.
                        d16 = ((pp - phase) >> 16) & 0xFFFF
                        ti = d16 >> 8
                        fr = d16 & 0xFF
                        ya = ((tab[ti] & 0xFFFF) ^ 0x8000) - 0x8000
                        yb = ((tab[ti + 1] & 0xFFFF) ^ 0x8000) - 0x8000
                        acc += ya + (((yb - ya) * fr) >> 8)
            j += 1
        cpl = 0
        if k != 0:
            if live > 0:
                # |acc| <= 8 * 32767, inv <= 4096/n: |mean| < 2**15; k < 2**18, mean >> 3 < 2**12.
                mean = (acc * c[C_INV + live]) >> 12
                cpl = ((k * (mean >> 3)) >> 12) << 8
                if cpl > hi:
                    cpl = hi
                elif cpl < lo:
                    cpl = lo
        # Slew in the pending correction: a first-order approach (time constant 2**slew_sh ticks).
        sl = 0
        if corr > 0:
            sl = corr >> slew_sh
            if sl == 0:
                sl = corr
        elif corr < 0:
            sl = 0 - ((0 - corr) >> slew_sh)
            if sl == 0:
                sl = corr
        if sl > hi - cpl:
            sl = hi - cpl
        elif sl < lo - cpl:
            sl = lo - cpl
        corr -= sl
        step = cpl + sl
        phase = (((phase + freq + step) & M) ^ S) - S
        if step > maxstep:
            maxstep = step
        elif 0 - step > maxstep:
            maxstep = 0 - step
    s[S_PHASE] = phase
    s[S_FREQ] = freq
    s[S_CORR] = corr
    s[S_NOW] = now
    s[S_SINCE] = since
    s[S_LOCK] = lock
    s[S_HAVE] = have
    s[S_GOOD] = good
    s[S_MAXSTEP] = maxstep
    s[S_BR_LEFT] = br_left
    s[S_BR_ACC] = br_acc
    if n > 0:
        s[S_LIVE] = live
        s[S_STEP] = step
    return lock


@micropython.viper
def _beat(st, cfg, age_q8: int) -> int:
    """One beat, age_q8/256 ticks ago. Returns IGNORED, ACCEPTED or REJECTED."""
    s = ptr32(st)
    c = ptr32(cfg)
    if s[S_MODE] != HEART:
        return IGNORED
    one = 1
    S = one << 31
    M = (S - 1) | S
    ratio = c[C_RATIO]
    fmin = ((c[C_FMIN] & M) ^ S) - S
    fmax = ((c[C_FMAX] & M) ^ S) - S
    maxage = c[C_MAXAGE]
    if age_q8 < 0:
        age_q8 = 0
    elif age_q8 > maxage:
        age_q8 = maxage
    beats = s[S_BEATS]
    if beats < _SINCE_MAX:
        s[S_BEATS] = beats + 1
    phase = ((s[S_PHASE] & M) ^ S) - S
    freq = ((s[S_FREQ] & M) ^ S) - S
    corr = ((s[S_CORR] & M) ^ S) - S
    t = (((s[S_NOW] - age_q8) & M) ^ S) - S
    # Where the oscillator was when the beat happened (wraps mod 2**32; only low bits matter).
    whole = age_q8 >> 8
    frac = age_q8 & 0xFF
    adv = freq * whole + (freq >> 8) * frac + (((freq & 0xFF) * frac) >> 8)
    pb = (((phase - adv) & M) ^ S) - S
    # Error in beat turns: the beat should find the beat phase (ratio * phase) at 0.
    e16 = ((((0 - ratio * pb) & M) ^ S) - S) >> 16
    # The same, counting the corrections still pending (they will still move the pulse).
    ee16 = ((((0 - ratio * (pb + corr)) & M) ^ S) - S) >> 16
    s[S_ERR] = e16
    aee = ee16
    if aee < 0:
        aee = 0 - aee
    lock = s[S_LOCK]
    have = s[S_HAVE]
    iv = 0
    if have != 0:
        iv = (((t - s[S_LAST]) & M) ^ S) - S
    if lock == LOCKED:
        # The gate widens with the sleeper's own beat-to-beat variability (a running mean of
        # |error|; mad <= 2**15, k < 2**8), never below gate_q16: a robust innovation gate.
        mad = s[S_MAD]
        gate = (mad * c[C_GATE_K]) >> 4
        if gate < c[C_GATE]:
            gate = c[C_GATE]
        elif gate > 32768:
            gate = 32768
        clip = aee
        if clip > gate:
            clip = gate
        s[S_MAD] = mad + ((clip - mad) >> 3)
        if iv < c[C_IVMIN] or aee > gate:
            rej = s[S_REJ] + 1
            if rej < c[C_UNLOCK_N]:
                s[S_REJ] = rej
                s[S_REJT] = t
                return REJECTED
            # Too many in a row: the rhythm changed. Start over from these beats: the interval
            # since the previous rejected one gives the new rate at once.
            lock = ACQUIRE
            s[S_GOOD] = 0
            have = 0
            if rej > 1:
                have = 1
                iv = (((t - s[S_REJT]) & M) ^ S) - S
        else:
            s[S_REJ] = 0
            s[S_LAST] = t
            s[S_SINCE] = 0
            # Phase: alpha * e in pulse turns (/ ratio on magnitudes: rounds toward zero).
            dc = (ee16 * c[C_ALPHA] + 16384) >> 15
            corr = int(_add_corr(corr, dc, ratio))
            if c[C_PREDICT] != 0 and iv >= c[C_IVMIN] and iv <= c[C_IVMAX]:
                if int(_clean(st, cfg, iv)) != 0:
                    _learn(st, cfg, iv)
            if c[C_PREDICT] != 0 and s[S_HN] != 0:
                # The next beat mark goes where the predictor expects the next beat: the pulse
                # runs at 1 / (ratio * predicted interval) from this beat on, as if it had done
                # so since the beat (the phase makes up freq difference * age: low 32 bits).
                fp = int(_div40(ratio * (s[S_PRED] << c[C_PSH])))
                if fp < fmin:
                    fp = fmin
                elif fp > fmax:
                    fp = fmax
                whole = age_q8 >> 8
                frac = age_q8 & 0xFF
                adv = freq * whole + (freq >> 8) * frac + (((freq & 0xFF) * frac) >> 8)
                advp = fp * whole + (fp >> 8) * frac + (((fp & 0xFF) * frac) >> 8)
                dd = (((advp - adv) & M) ^ S) - S
                if dd > _MAKEUP_MAX:  # absurd ages only; keeps the sum inside int32
                    dd = _MAKEUP_MAX
                elif dd < 0 - _MAKEUP_MAX:
                    dd = 0 - _MAKEUP_MAX
                corr += dd
                freq = fp
            else:
                # Frequency: relative change beta * e (freq >> 13 < 2**15, |g| <= 2**15).
                g = (ee16 * c[C_BETA] + 16384) >> 15
                freq += ((freq >> 13) * g) >> 3
            corr = int(_clamp_corr(corr))
            s[S_CORR] = corr
            if freq < fmin:
                freq = fmin
            elif freq > fmax:
                freq = fmax
            s[S_FREQ] = freq
            return ACCEPTED
    # FREE, ACQUIRE, HOLDOVER, or a lock just lost.
    good = s[S_GOOD]
    if have != 0:
        if iv < c[C_IVMIN]:
            return REJECTED  # an extra beat: keep the anchor
        if iv <= c[C_IVMAX]:
            if aee > c[C_LOCK_ERR]:
                good = 0
                # The frequency is clearly off: take it from this interval, and start the
                # predictor over from it.
                freq = int(_div40(ratio * iv))
                s[S_HN] = 0
                _learn(st, cfg, iv)
            else:
                good += 1
                g = (ee16 * c[C_BETA] + 16384) >> 15
                freq += ((freq >> 13) * g) >> 3
                if int(_clean(st, cfg, iv)) != 0:
                    _learn(st, cfg, iv)
            if freq < fmin:
                freq = fmin
            elif freq > fmax:
                freq = fmax
            s[S_FREQ] = freq
        else:
            good = 0  # after a gap: this beat is only an anchor
    else:
        good = 0
    # Align the phase fully while acquiring.
    corr = int(_add_corr(corr, ee16, ratio))
    s[S_CORR] = corr
    s[S_LAST] = t
    s[S_HAVE] = 1
    s[S_SINCE] = 0
    s[S_REJ] = 0
    if good >= c[C_LOCK_N]:
        lock = LOCKED
        s[S_MAD] = c[C_LOCK_ERR] >> 1  # errors were below lock_err to get here
    else:
        lock = ACQUIRE
    s[S_GOOD] = good
    s[S_LOCK] = lock
    return ACCEPTED


@micropython.viper
def _clamp_corr(x: int) -> int:
    """x limited to +-_CORR_MAX (a quarter turn), so pending corrections stay inside int32."""
    if x > _CORR_MAX:
        return _CORR_MAX
    if x < 0 - _CORR_MAX:
        return 0 - _CORR_MAX
    return x


@micropython.viper
def _add_corr(corr: int, e16: int, ratio: int) -> int:
    """corr plus a beat-phase error e16 (Q16 beat turns) as q32 pulse turns: / ratio rounding
    toward zero, the step and the sum each clamped by _clamp_corr (both < 2**30: no overflow)."""
    if e16 < 0:
        dq = 0 - (((0 - e16) // ratio) << 16)
    else:
        dq = (e16 // ratio) << 16
    return int(_clamp_corr(corr + int(_clamp_corr(dq))))


@micropython.viper
def _div40(d: int) -> int:
    """2**40 // d by long division (0 < d < 2**23: r < 2**24, the quotient < 2**31)."""
    r = 1
    q = 0
    b = 0
    while b < 40:
        r = r << 1
        q = q << 1
        if r >= d:
            r -= d
            q |= 1
        b += 1
    return q


@micropython.viper
def _clean(st, cfg, iv: int) -> int:
    """1 if the interval (Q8 ticks) is one beat long (0.5..1.5 x the running mean), or if the
    predictor has nothing yet: a missed beat (two intervals) must not teach it."""
    s = ptr32(st)
    c = ptr32(cfg)
    if s[S_HN] == 0:
        return 1
    sh = c[C_PSH]
    u = (iv + ((1 << sh) >> 1)) >> sh
    m = (s[S_MEAN] + 8) >> 4
    if u + u > m and u + u < 3 * m:
        return 1
    return 0


@micropython.viper
def _learn(st, cfg, iv: int):
    """A clean interval (Q8 ticks, ivmin..ivmax) arrived: adapt the predictor, predict the next.

    Model: next - mean = sum_i w_i * (interval_i - mean) over the last `order` intervals, the mean
    a running one; normalised LMS (Haykin, Adaptive Filter Theory, ch. 6): w_i += mu * e * d_i /
    (reg + sum d^2), e = this interval - its prediction. It follows respiratory sinus arrhythmia
    (quasi-periodic, a few beats long) and falls back to the mean on beat-to-beat noise.
    Bounds: u < 2**15, |d| <= _DEV_MAX < 2**13, |w| <= 2**14, order <= 6: |sum w d| < 2**30;
    sum d^2 < 2**29; nrm >> 12 >= 16 so q = e d / that (Q12) < 2**22 and times mu (< 2**8) < 2**30;
    weights are Q16 (the Q12 steps of small updates would be lost to rounding), used as Q12.
    """
    s = ptr32(st)
    c = ptr32(cfg)
    one = 1
    S = one << 31
    M = (S - 1) | S
    sh = c[C_PSH]
    order = c[C_ORDER]
    u = (iv + ((1 << sh) >> 1)) >> sh  # rounded: units, mean and prediction carry no bias
    hn = s[S_HN]
    j = 0
    if hn == 0:
        s[S_MEAN] = u << 4
        while j < order:
            s[S_HIST + j] = u
            j += 1
    else:
        m = (s[S_MEAN] + 8) >> 4
        e = u - s[S_PRED]
        if e > _DEV_MAX:
            e = _DEV_MAX
        elif e < 0 - _DEV_MAX:
            e = 0 - _DEV_MAX
        nrm = c[C_REG]
        while j < order:
            d = s[S_HIST + j] - m
            if d > _DEV_MAX:
                d = _DEV_MAX
            elif d < 0 - _DEV_MAX:
                d = 0 - _DEV_MAX
            nrm += d * d
            j += 1
        nq = nrm >> 12
        mu = c[C_MU]
        j = 0
        while j < order:
            d = s[S_HIST + j] - m
            if d > _DEV_MAX:
                d = _DEV_MAX
            elif d < 0 - _DEV_MAX:
                d = 0 - _DEV_MAX
            p = e * d
            if p < 0:
                q = 0 - ((0 - p) // nq)
            else:
                q = p // nq
            w = (((s[S_W + j] & M) ^ S) - S) + ((q * mu) >> 4)  # weights are signed
            if w > _W_MAX:
                w = _W_MAX
            elif w < 0 - _W_MAX:
                w = 0 - _W_MAX
            s[S_W + j] = w
            j += 1
        m4 = s[S_MEAN]
        s[S_MEAN] = m4 + (((u << 4) - m4) >> c[C_MEAN_SH])
        j = order - 1
        while j > 0:
            s[S_HIST + j] = s[S_HIST + j - 1]
            j -= 1
        s[S_HIST] = u
    if hn < 255:
        s[S_HN] = hn + 1
    m = (s[S_MEAN] + 8) >> 4
    acc = 0
    j = 0
    while j < order:
        d = s[S_HIST + j] - m
        if d > _DEV_MAX:
            d = _DEV_MAX
        elif d < 0 - _DEV_MAX:
            d = 0 - _DEV_MAX
        acc += (((((s[S_W + j] & M) ^ S) - S) + 8) >> 4) * d
        j += 1
    pred = m + ((acc + 2048) >> 12)
    lo = c[C_IVMIN] >> sh
    hi = c[C_IVMAX] >> sh
    if pred < lo:
        pred = lo
    elif pred > hi:
        pred = hi
    s[S_PRED] = pred


@micropython.viper
def _set_peer(peers, cfg, slot: int, buf, off: int, age: int):
    """Peer `slot` sent phase_q32, freq_q32 (u32 little-endian, buf[off:off+8]) age ticks ago."""
    pr = ptr32(peers)
    c = ptr32(cfg)
    bb = ptr8(buf)
    one = 1
    S = one << 31
    M = (S - 1) | S
    ph = bb[off] | (bb[off + 1] << 8) | (bb[off + 2] << 16) | (bb[off + 3] << 24)
    ph = ((ph & M) ^ S) - S
    fr = bb[off + 4] | (bb[off + 5] << 8) | (bb[off + 6] << 16) | (bb[off + 7] << 24)
    fr = ((fr & M) ^ S) - S
    # An absurd peer is clamped into our own band: it can pull, but only as hard as K allows.
    fmin = ((c[C_FMIN] & M) ^ S) - S
    fmax = ((c[C_FMAX] & M) ^ S) - S
    if fr < fmin:
        fr = fmin
    elif fr > fmax:
        fr = fmax
    to = c[C_PEER_TO]
    if age < 0:
        age = 0
    elif age > to:
        age = to
    # Extrapolate to now: phase + freq * age (wraps; only the low 32 bits matter).
    b = slot * PEER_STRIDE
    pr[b + P_PHASE] = (((ph + fr * age) & M) ^ S) - S
    pr[b + P_FREQ] = fr
    pr[b + P_AGE] = age
    pr[b + P_LIVE] = 1


@micropython.viper
def _write_sync(st, buf, off: int):
    """Write our phase_q32 and freq_q32 as u32 little-endian into buf[off:off+8]."""
    s = ptr32(st)
    bb = ptr8(buf)
    ph = s[S_PHASE]
    fr = s[S_FREQ]
    bb[off] = ph & 0xFF
    bb[off + 1] = (ph >> 8) & 0xFF
    bb[off + 2] = (ph >> 16) & 0xFF
    bb[off + 3] = (ph >> 24) & 0xFF
    bb[off + 4] = fr & 0xFF
    bb[off + 5] = (fr >> 8) & 0xFF
    bb[off + 6] = (fr >> 16) & 0xFF
    bb[off + 7] = (fr >> 24) & 0xFF


@micropython.viper
def _phase_q16(st) -> int:
    s = ptr32(st)
    return (s[S_PHASE] >> 16) & 0xFFFF


@micropython.viper
def _shaped_q16(st) -> int:
    s = ptr32(st)
    p = (s[S_PHASE] >> 16) & 0xFFFF
    split = s[S_SPLIT]
    # Piecewise linear: [0, split) -> [0, 1/2), [split, 1) -> [1/2, 1). Operands >= 0, < 2**31.
    if p < split:
        return (p << 15) // split
    return 32768 + ((p - split) << 15) // (65536 - split)


class PhaseSync:
    """The pulse oscillator and its loop (module docstring); keyword settings: make_config()."""

    def __init__(self, **settings):
        self.cfg = make_config(**settings)
        self.tick_us = settings.get("tick_us", TICK_US)
        self.ratio = self.cfg[C_RATIO]
        self.st = array("i", bytes(4 * STATE_LEN))
        self.peers = array("i", bytes(4 * PEER_STRIDE * MAX_PEERS))
        self.reset()

    def reset(self):
        """Back to FREE at the resting rate, phase 0, no peers, heart mode."""
        st = self.st
        for i in range(STATE_LEN):
            st[i] = 0
        for i in range(len(self.peers)):
            self.peers[i] = 0
        st[S_FREQ] = self.cfg[C_FREST]
        st[S_SPLIT] = self.cfg[C_SPLIT_HEART]
        st[S_W] = self.cfg[C_W0]

    # --- the fast path: no allocation ---------------------------------------------------------

    def advance(self, n_ticks):
        """Run n_ticks ticks (a block: however many passed since the last call). -> lock_state"""
        if n_ticks < 0:
            raise ValueError("phasesync: advance() needs n_ticks >= 0")
        return _run(self.st, self.cfg, self.peers, n_ticks)

    def beat(self, age_q8=0):
        """A heartbeat happened age_q8/256 ticks ago (clamped to 0..2 s). Returns a verdict."""
        return _beat(self.st, self.cfg, age_q8)

    def beat_us(self, age_us):
        """A heartbeat happened age_us microseconds ago."""
        if age_us < 0:
            age_us = 0
        elif age_us > 2_000_000:
            age_us = 2_000_000
        return _beat(self.st, self.cfg, (age_us << 8) // self.tick_us)

    def set_peer(self, slot, buf, offset, age_ticks):
        """Peer slot 0..7 sent phase_q32, freq_q32 (u32 LE in buf at offset) age_ticks ago."""
        if slot < 0 or slot >= MAX_PEERS:
            raise ValueError("phasesync: peer slot must be 0..7")
        if offset < 0 or offset + 8 > len(buf):
            raise ValueError("phasesync: peer data must be 8 bytes inside the buffer")
        _set_peer(self.peers, self.cfg, slot, buf, offset, age_ticks)

    def drop_peer(self, slot):
        self.peers[slot * PEER_STRIDE + P_LIVE] = 0

    def write_sync(self, buf, offset):
        """Write our phase_q32 and freq_q32 (u32 LE, 8 bytes) into buf at offset, for a packet."""
        if offset < 0 or offset + 8 > len(buf):
            raise ValueError("phasesync: need 8 bytes in the buffer")
        _write_sync(self.st, buf, offset)

    def phase_q16(self):
        """Pulse phase, 0..65535 per turn, peak at 0."""
        return _phase_q16(self.st)

    def shaped_q16(self):
        """Phase mapped for an asymmetric pulse (see the module docstring), 0..65535."""
        return _shaped_q16(self.st)

    def lock_state(self):
        return self.st[S_LOCK]

    def locked(self):
        return self.st[S_LOCK] == LOCKED

    def mode(self):
        return self.st[S_MODE]

    def last_error_q16(self):
        """Beat-phase error at the last beat, Q16 beat turns (the light's timing error)."""
        return self.st[S_ERR]

    def freq_q32(self):
        return self.st[S_FREQ]

    def max_step_q32(self):
        """Largest correction step in one tick so far, q32 turns."""
        return self.st[S_MAXSTEP]

    def live_peers(self):
        return self.st[S_LIVE]

    # --- slow path: mode changes and reporting (may allocate) ---------------------------------

    def breathe(self, start_per_min10=110, end_per_min10=60, ramp_s=480, exhale_q16=39322):
        """Breathing guide: from start to end breaths per minute (in tenths) over ramp_s seconds.

        Defaults after Dodow: 11/min down to 6/min over 8 minutes (480 s; 1200 s is the long
        ramp), exhale 60% of the cycle = 1.5 x inhale (4 s in, 6 s out at 6/min). Pass the
        sleeper's own breathing rate as start_per_min10 when it is known. Never speeds up.
        """
        for name, v, lo, hi in (
            ("start_per_min10", start_per_min10, 20, 300),
            ("end_per_min10", end_per_min10, 20, 300),
            ("ramp_s", ramp_s, 0, 7200),
            ("exhale_q16", exhale_q16, 4096, 61440),
        ):
            if not isinstance(v, int) or v < lo or v > hi:
                raise ValueError("phasesync: %s must be an integer in %d..%d" % (name, lo, hi))
        if start_per_min10 < end_per_min10:
            start_per_min10 = end_per_min10
        tick_us = self.tick_us
        # Breaths per minute / 10 -> Hz = x / 600 -> mHz = x * 10 / 6.
        f0 = (start_per_min10 * tick_us << 32) // 600_000_000
        f1 = (end_per_min10 * tick_us << 32) // 600_000_000
        cfg = self.cfg
        f0 = min(max(f0, cfg[C_FMIN]), cfg[C_FMAX])
        f1 = min(max(f1, cfg[C_FMIN]), cfg[C_FMAX])
        ticks = ramp_s * 1_000_000 // tick_us
        st = self.st
        st[S_MODE] = BREATH
        st[S_FREQ] = f0
        st[S_CORR] = 0
        st[S_SPLIT] = exhale_q16
        if ticks > 0 and f0 > f1:
            st[S_BR_Q] = (f0 - f1) // ticks
            st[S_BR_R] = (f0 - f1) % ticks
            st[S_BR_T] = ticks
            st[S_BR_LEFT] = ticks
        else:
            st[S_FREQ] = f1
            st[S_BR_Q] = st[S_BR_R] = st[S_BR_LEFT] = 0
            st[S_BR_T] = 1
        st[S_BR_ACC] = 0

    def follow_heart(self):
        """Back to following heartbeats (from FREE; the phase continues where it is)."""
        st = self.st
        st[S_MODE] = HEART
        st[S_LOCK] = FREE
        st[S_HAVE] = st[S_GOOD] = st[S_REJ] = st[S_BR_LEFT] = 0
        st[S_SPLIT] = self.cfg[C_SPLIT_HEART]

    def pulse_hz(self):
        """Pulse frequency in Hz (a float; for reports, not for the fast path)."""
        return self.st[S_FREQ] * 1_000_000 / (self.tick_us * 4294967296)

    def beat_period_ms(self):
        """The loop's current beat period in ms (a float; for reports)."""
        f = self.st[S_FREQ]
        return self.tick_us * 4294967296 / (1000 * self.ratio * f) if f else 0.0

    def stats(self):
        """A small dict for telemetry."""
        st = self.st
        return {
            "lock": ("free", "acquire", "locked", "holdover")[st[S_LOCK]],
            "mode": ("heart", "breath")[st[S_MODE]],
            "pulse_mhz": int(self.pulse_hz() * 1000),
            "err_q16": st[S_ERR],
            "peers": st[S_LIVE],
        }
