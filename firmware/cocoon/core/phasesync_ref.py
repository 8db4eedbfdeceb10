"""The plain-Python reference of the phase-sync loop: its exact 32-bit semantics, to be read.

phasesync.py (viper, block of ticks per call) must give bit-identical state to this, on CPython, on
MicroPython bytecode and on MicroPython viper (tests/firmware/core/test_phasesync_exact.py). It is
slow and allocates: it is a definition, not firmware to run on the board.

    ref = RefPhaseSync(phasesync.make_config())
    ref.tick(); ref.beat(age_q8=300); ref.state == list(fast.st)

Every quantity is a Python int holding a signed 32-bit value. s32() is two's-complement wrapping;
the arithmetic between wraps never needs more than 32 bits except where a comment says that only
the low 32 bits are kept (phase sums and products).
"""

from cocoon.core import phasesync as ps
from cocoon.core.trig import SIN_Q15

_CORR_MAX = (1 << 30) - 1
_SINCE_MAX = (1 << 30) - 1
_MAKEUP_MAX = (1 << 29) - 1
_DEV_MAX = 8191
_W_MAX = 4 << 16  # weights are Q16


def s32(x):
    """x modulo 2**32, as a signed 32-bit value."""
    x &= 0xFFFFFFFF
    return x - 0x100000000 if x & 0x80000000 else x


def clamp(x, lo, hi):
    return lo if x < lo else hi if x > hi else x


def shr_away(x, sh):
    """|x| >> sh with the sign of x; at least 1 in magnitude when x != 0 (so a decay ends)."""
    if x == 0:
        return 0
    m = abs(x) >> sh
    m = m if m else 1
    return m if x > 0 else -m


def div_toward_zero(x, n):
    return x // n if x >= 0 else -((-x) // n)


def sin_q15_of_q16(p16):
    """Table sine with linear interpolation, exactly as trig.sin_q15."""
    i, frac = (p16 >> 8) & 0xFF, p16 & 0xFF
    a, b = SIN_Q15[i], SIN_Q15[i + 1]
    return a + (((b - a) * frac) >> 8)


class RefPhaseSync:
    """Same state layout as PhaseSync (ps.S_*), one tick or one beat per call."""

    def __init__(self, cfg):
        self.cfg = list(cfg)
        self.state = [0] * ps.STATE_LEN
        self.peers = [0] * (ps.PEER_STRIDE * ps.MAX_PEERS)
        self.state[ps.S_FREQ] = self.cfg[ps.C_FREST]
        self.state[ps.S_SPLIT] = self.cfg[ps.C_SPLIT_HEART]
        self.state[ps.S_W] = self.cfg[ps.C_W0]

    def tick(self):
        c, s = self.cfg, self.state
        s[ps.S_NOW] = s32(s[ps.S_NOW] + 256)
        s[ps.S_SINCE] = min(s[ps.S_SINCE] + 1, _SINCE_MAX)
        freq = s[ps.S_FREQ]
        if s[ps.S_MODE] == ps.HEART:
            if s[ps.S_SINCE] > c[ps.C_HOLD]:
                if s[ps.S_LOCK] == ps.LOCKED:
                    s[ps.S_LOCK] = ps.HOLDOVER
                elif s[ps.S_LOCK] == ps.ACQUIRE:
                    s[ps.S_LOCK] = ps.FREE
                    s[ps.S_HAVE] = s[ps.S_GOOD] = 0
            if s[ps.S_SINCE] > c[ps.C_RELAX_AFTER] and s[ps.S_LOCK] != ps.LOCKED:
                freq += shr_away(c[ps.C_FREST] - freq, c[ps.C_RELAX_SH])
        elif s[ps.S_BR_LEFT] > 0:
            s[ps.S_BR_LEFT] -= 1
            freq -= s[ps.S_BR_Q]
            s[ps.S_BR_ACC] += s[ps.S_BR_R]
            if s[ps.S_BR_ACC] >= s[ps.S_BR_T]:
                s[ps.S_BR_ACC] -= s[ps.S_BR_T]
                freq -= 1
        freq = clamp(freq, c[ps.C_FMIN], c[ps.C_FMAX])
        s[ps.S_FREQ] = freq
        # The step window: at most the slew limit either way, and never backwards.
        hi = c[ps.C_MAXSTEP]
        lo = -min(c[ps.C_MAXSTEP], freq)
        # Peers: extrapolate by their frequency, expire, sum sin(peer - own).
        total, live = 0, 0
        for j in range(ps.MAX_PEERS):
            b = j * ps.PEER_STRIDE
            if not self.peers[b + ps.P_LIVE]:
                continue
            age = self.peers[b + ps.P_AGE] + 1
            if age > c[ps.C_PEER_TO]:
                self.peers[b + ps.P_LIVE] = 0
                continue
            self.peers[b + ps.P_AGE] = age
            pp = s32(self.peers[b + ps.P_PHASE] + self.peers[b + ps.P_FREQ])
            self.peers[b + ps.P_PHASE] = pp
            live += 1
            if c[ps.C_K]:
                total += sin_q15_of_q16((s32(pp - s[ps.S_PHASE]) >> 16) & 0xFFFF)
        coupling = 0
        if c[ps.C_K] and live:
            mean_q15 = (total * c[ps.C_INV + live]) >> 12
            coupling = clamp(((c[ps.C_K] * (mean_q15 >> 3)) >> 12) << 8, lo, hi)
        # Slew the pending correction in, inside what the coupling left of the window.
        corr = s[ps.S_CORR]
        slew = 0
        if corr:
            m = abs(corr) >> c[ps.C_SLEW_SH]
            slew = corr if m == 0 else (m if corr > 0 else -m)
        slew = clamp(slew, lo - coupling, hi - coupling)
        s[ps.S_CORR] = corr - slew
        step = coupling + slew
        s[ps.S_PHASE] = s32(s[ps.S_PHASE] + freq + step)
        s[ps.S_MAXSTEP] = max(s[ps.S_MAXSTEP], abs(step))
        s[ps.S_LIVE] = live
        s[ps.S_STEP] = step

    def advance(self, n):
        for _ in range(n):
            self.tick()

    def _add_corr(self, dq):
        s = self.state
        dq = clamp(dq, -_CORR_MAX, _CORR_MAX)
        s[ps.S_CORR] = clamp(s[ps.S_CORR] + dq, -_CORR_MAX, _CORR_MAX)

    def _freq_nudge(self, ee16):
        # freq *= 1 + beta * e in integers: g = beta * e (Q16); freq >> 13 keeps products < 2**31.
        c, s = self.cfg, self.state
        g = (ee16 * c[ps.C_BETA] + 16384) >> 15
        return s[ps.S_FREQ] + (((s[ps.S_FREQ] >> 13) * g) >> 3)

    def _clean(self, iv):
        """One beat long (0.5..1.5 x the running mean), or nothing learned yet."""
        s = self.state
        if s[ps.S_HN] == 0:
            return True
        u, m = self._units(iv), (s[ps.S_MEAN] + 8) >> 4
        return m < 2 * u < 3 * m

    def _units(self, iv):
        """Q8 ticks -> predictor units (2**C_PSH Q8 ticks), rounded half up."""
        sh = self.cfg[ps.C_PSH]
        return (iv + ((1 << sh) >> 1)) >> sh

    def _deviations(self):
        c, s = self.cfg, self.state
        m = (s[ps.S_MEAN] + 8) >> 4
        hist = s[ps.S_HIST : ps.S_HIST + c[ps.C_ORDER]]
        return [clamp(h - m, -_DEV_MAX, _DEV_MAX) for h in hist]

    def _learn(self, iv):
        """Normalised LMS on the deviations of the last intervals from the running mean."""
        c, s = self.cfg, self.state
        order = c[ps.C_ORDER]
        u = self._units(iv)
        if s[ps.S_HN] == 0:
            s[ps.S_MEAN] = u << 4
            s[ps.S_HIST : ps.S_HIST + order] = [u] * order
        else:
            d = self._deviations()
            e = clamp(u - s[ps.S_PRED], -_DEV_MAX, _DEV_MAX)
            nq = (c[ps.C_REG] + sum(x * x for x in d)) >> 12
            for j in range(order):
                q = div_toward_zero(e * d[j], nq)
                w = s[ps.S_W + j] + ((q * c[ps.C_MU]) >> 4)
                s[ps.S_W + j] = clamp(w, -_W_MAX, _W_MAX)
            s[ps.S_MEAN] += ((u << 4) - s[ps.S_MEAN]) >> c[ps.C_MEAN_SH]
            s[ps.S_HIST : ps.S_HIST + order] = [u] + s[ps.S_HIST : ps.S_HIST + order - 1]
        s[ps.S_HN] = min(s[ps.S_HN] + 1, 255)
        d = self._deviations()
        acc = sum(((s[ps.S_W + j] + 8) >> 4) * d[j] for j in range(order))  # Q12 weights
        lo, hi = c[ps.C_IVMIN] >> c[ps.C_PSH], c[ps.C_IVMAX] >> c[ps.C_PSH]
        s[ps.S_PRED] = clamp(((s[ps.S_MEAN] + 8) >> 4) + ((acc + 2048) >> 12), lo, hi)

    @staticmethod
    def _advance(freq, age_q8):
        # freq * age in Q8 ticks as the fast path computes it (only the low 32 bits matter).
        whole, frac = age_q8 >> 8, age_q8 & 0xFF
        return freq * whole + (freq >> 8) * frac + (((freq & 0xFF) * frac) >> 8)

    def beat(self, age_q8=0):
        c, s = self.cfg, self.state
        if s[ps.S_MODE] != ps.HEART:
            return ps.IGNORED
        age_q8 = clamp(age_q8, 0, c[ps.C_MAXAGE])
        s[ps.S_BEATS] = min(s[ps.S_BEATS] + 1, _SINCE_MAX)
        ratio = c[ps.C_RATIO]
        t = s32(s[ps.S_NOW] - age_q8)
        # Oscillator phase at the beat: back off freq * age (low 32 bits only).
        pb = s32(s[ps.S_PHASE] - self._advance(s[ps.S_FREQ], age_q8))
        e16 = s32(-ratio * pb) >> 16
        ee16 = s32(-ratio * (pb + s[ps.S_CORR])) >> 16
        s[ps.S_ERR] = e16
        iv = s32(t - s[ps.S_LAST]) if s[ps.S_HAVE] else 0
        have = s[ps.S_HAVE]
        if s[ps.S_LOCK] == ps.LOCKED:
            # Robust gate: gate_k/16 times the running mean |error|, within [gate, 1/2 turn].
            gate = clamp((s[ps.S_MAD] * c[ps.C_GATE_K]) >> 4, c[ps.C_GATE], 32768)
            s[ps.S_MAD] += (min(abs(ee16), gate) - s[ps.S_MAD]) >> 3
            if iv < c[ps.C_IVMIN] or abs(ee16) > gate:
                if s[ps.S_REJ] + 1 < c[ps.C_UNLOCK_N]:
                    s[ps.S_REJ] += 1
                    s[ps.S_REJT] = t
                    return ps.REJECTED
                # The rhythm changed: start over, timing from the previous rejected beat if any.
                s[ps.S_GOOD] = 0
                have = 1 if s[ps.S_REJ] > 0 else 0
                iv = s32(t - s[ps.S_REJT]) if have else iv
            else:
                s[ps.S_REJ] = 0
                s[ps.S_LAST] = t
                s[ps.S_SINCE] = 0
                dc = (ee16 * c[ps.C_ALPHA] + 16384) >> 15
                self._add_corr(div_toward_zero(dc, ratio) << 16)
                predict = c[ps.C_PREDICT]
                if predict and c[ps.C_IVMIN] <= iv <= c[ps.C_IVMAX] and self._clean(iv):
                    self._learn(iv)
                if predict and s[ps.S_HN]:
                    # Run at 1 / (ratio * predicted interval) as if since the beat.
                    fp = (1 << 40) // (ratio * (s[ps.S_PRED] << c[ps.C_PSH]))
                    fp = clamp(fp, c[ps.C_FMIN], c[ps.C_FMAX])
                    makeup = s32(self._advance(fp, age_q8) - self._advance(s[ps.S_FREQ], age_q8))
                    makeup = clamp(makeup, -_MAKEUP_MAX, _MAKEUP_MAX)
                    s[ps.S_CORR] = clamp(s[ps.S_CORR] + makeup, -_CORR_MAX, _CORR_MAX)
                    s[ps.S_FREQ] = fp
                else:
                    s[ps.S_FREQ] = clamp(self._freq_nudge(ee16), c[ps.C_FMIN], c[ps.C_FMAX])
                return ps.ACCEPTED
        good = s[ps.S_GOOD]
        if not have:
            good = 0
        elif iv < c[ps.C_IVMIN]:
            return ps.REJECTED
        elif iv > c[ps.C_IVMAX]:
            good = 0
        else:
            if abs(ee16) > c[ps.C_LOCK_ERR]:
                good = 0
                freq = (1 << 40) // (ratio * iv)
                s[ps.S_HN] = 0  # start the predictor over from this interval
                self._learn(iv)
            else:
                good += 1
                freq = self._freq_nudge(ee16)
                if self._clean(iv):
                    self._learn(iv)
            s[ps.S_FREQ] = clamp(freq, c[ps.C_FMIN], c[ps.C_FMAX])
        self._add_corr(div_toward_zero(ee16, ratio) << 16)
        s[ps.S_LAST] = t
        s[ps.S_HAVE] = 1
        s[ps.S_SINCE] = 0
        s[ps.S_REJ] = 0
        s[ps.S_GOOD] = good
        s[ps.S_LOCK] = ps.LOCKED if good >= c[ps.C_LOCK_N] else ps.ACQUIRE
        if s[ps.S_LOCK] == ps.LOCKED:
            s[ps.S_MAD] = c[ps.C_LOCK_ERR] >> 1
        return ps.ACCEPTED

    def set_peer(self, slot, phase_q32, freq_q32, age_ticks):
        c = self.cfg
        fr = clamp(s32(freq_q32), c[ps.C_FMIN], c[ps.C_FMAX])
        age = clamp(age_ticks, 0, c[ps.C_PEER_TO])
        b = slot * ps.PEER_STRIDE
        self.peers[b + ps.P_PHASE] = s32(phase_q32 + fr * age)
        self.peers[b + ps.P_FREQ] = fr
        self.peers[b + ps.P_AGE] = age
        self.peers[b + ps.P_LIVE] = 1
