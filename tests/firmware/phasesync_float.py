"""A float64 model of the phase-sync loop (CPython): the same loop in turns and ticks, no integers.

It is what the fixed-point loop approximates: the golden vectors in phasesync_golden.py come from
it, and tests/firmware/core/test_phasesync_golden.py compares the fixed-point loop with them (on
CPython and on the MicroPython unix port). Regenerate after a deliberate change of the loop:

    .venv/bin/python tests/firmware/phasesync_float.py > tests/firmware/phasesync_golden.py

Differences from phasesync.py on purpose (these are what the comparison measures): no Q16
quantisation of the phase error, exact divisions, sin() instead of the table, a pure exponential
slew (the integer loop finishes the last 2**slew_sh units at once), a linear breathing ramp, and
an interval predictor in float ticks (the integer one rounds intervals to 1/128 tick, weights to
Q16).
"""

import math
import sys

if __name__ == "__main__":  # run as a script: find the firmware and the CPython stand-ins
    _here = __file__.rsplit("/", 1)[0]
    sys.path[:0] = [_here, _here + "/../../firmware", _here + "/../shims/cpython"]

import phasesync_cases as pc  # noqa: E402
from cocoon.core import phasesync as ps  # noqa: E402

TWO32 = 4294967296.0


def wrap_half(x):
    """x modulo 1, in [-0.5, 0.5)."""
    return x - math.floor(x + 0.5)


class FloatPhaseSync:
    def __init__(self, cfg):
        c = list(cfg)
        self.ratio = c[ps.C_RATIO]
        self.fmin, self.fmax = c[ps.C_FMIN] / TWO32, c[ps.C_FMAX] / TWO32
        self.frest = c[ps.C_FREST] / TWO32
        self.lim = c[ps.C_MAXSTEP] / TWO32
        self.slew_tau = float(1 << c[ps.C_SLEW_SH])
        self.alpha, self.beta = c[ps.C_ALPHA] / 32768, c[ps.C_BETA] / 32768
        self.gate, self.lock_err = c[ps.C_GATE] / 65536, c[ps.C_LOCK_ERR] / 65536
        self.gate_k = c[ps.C_GATE_K] / 16
        self.mad = 0.0
        self.rejt = 0.0
        self.lock_n, self.unlock_n = c[ps.C_LOCK_N], c[ps.C_UNLOCK_N]
        self.hold, self.relax_after = c[ps.C_HOLD], c[ps.C_RELAX_AFTER]
        self.relax_tau = float(1 << c[ps.C_RELAX_SH])
        self.ivmin, self.ivmax = c[ps.C_IVMIN] / 256, c[ps.C_IVMAX] / 256
        self.k = c[ps.C_K] / 2**24
        self.peer_to = c[ps.C_PEER_TO]
        self.maxage = c[ps.C_MAXAGE] / 256
        self.corr_max = 0.25
        # The interval predictor, in ticks (the fixed point works in 2**psh / 256 ticks).
        unit = (1 << c[ps.C_PSH]) / 256
        self.predict, self.order = c[ps.C_PREDICT], c[ps.C_ORDER]
        self.mu, self.reg = c[ps.C_MU] / 256, c[ps.C_REG] * unit * unit
        self.mean_a, self.dev_max = 1 / (1 << c[ps.C_MEAN_SH]), 8191 * unit
        self.w = [c[ps.C_W0] / 65536] + [0.0] * (ps.ORDER_MAX - 1)
        self.hist, self.mean, self.pred, self.hn = [0.0] * ps.ORDER_MAX, 0.0, 0.0, 0
        self.phase, self.freq, self.corr = 0.0, self.frest, 0.0
        self.now, self.last, self.have = 0.0, 0.0, False
        self.lock, self.mode, self.good, self.rej, self.since = ps.FREE, ps.HEART, 0, 0, 0
        self.err, self.maxstep = 0.0, 0.0
        self.br_left, self.br_rate = 0, 0.0
        self.peers = {}  # slot -> [phase, freq, age]

    def tick(self):
        self.now += 1
        self.since += 1
        if self.mode == ps.HEART:
            if self.since > self.hold:
                if self.lock == ps.LOCKED:
                    self.lock = ps.HOLDOVER
                elif self.lock == ps.ACQUIRE:
                    self.lock, self.have, self.good = ps.FREE, False, 0
            if self.since > self.relax_after and self.lock != ps.LOCKED:
                self.freq += (self.frest - self.freq) / self.relax_tau
        elif self.br_left > 0:
            self.br_left -= 1
            self.freq -= self.br_rate
        self.freq = min(max(self.freq, self.fmin), self.fmax)
        hi, lo = self.lim, -min(self.lim, self.freq)
        total, live = 0.0, 0
        for slot in sorted(self.peers):
            p = self.peers[slot]
            p[2] += 1
            if p[2] > self.peer_to:
                del self.peers[slot]
                continue
            p[0] = (p[0] + p[1]) % 1.0
            live += 1
            total += math.sin(2 * math.pi * (p[0] - self.phase))
        cpl = min(max(self.k * total / live, lo), hi) if self.k and live else 0.0
        slew = min(max(self.corr / self.slew_tau, lo - cpl), hi - cpl)
        self.corr -= slew
        step = cpl + slew
        self.phase = (self.phase + self.freq + step) % 1.0
        self.maxstep = max(self.maxstep, abs(step))

    def advance(self, n):
        for _ in range(n):
            self.tick()

    def _clean(self, iv):
        return self.hn == 0 or self.mean < 2 * iv < 3 * self.mean

    def _devs(self):
        return [min(max(h - self.mean, -self.dev_max), self.dev_max) for h in self.hist]

    def _learn(self, iv):
        n = self.order
        if self.hn == 0:
            self.mean, self.hist = iv, [iv] * n
        else:
            d = self._devs()
            e = min(max(iv - self.pred, -self.dev_max), self.dev_max)
            nrm = self.reg + sum(x * x for x in d)
            for j in range(n):
                self.w[j] = min(max(self.w[j] + self.mu * e * d[j] / nrm, -4.0), 4.0)
            self.mean += (iv - self.mean) * self.mean_a
            self.hist = [iv] + self.hist[: n - 1]
        self.hn += 1
        d = self._devs()
        pred = self.mean + sum(self.w[j] * d[j] for j in range(self.order))
        self.pred = min(max(pred, self.ivmin), self.ivmax)

    def beat(self, age_ticks):
        if self.mode != ps.HEART:
            return ps.IGNORED
        age = min(max(age_ticks, 0.0), self.maxage)
        t = self.now - age
        pb = self.phase - self.freq * age
        e = wrap_half(-self.ratio * pb)
        ee = wrap_half(-self.ratio * (pb + self.corr))
        self.err = e
        iv = t - self.last if self.have else 0.0
        have = self.have
        if self.lock == ps.LOCKED:
            gate = min(max(self.mad * self.gate_k, self.gate), 0.5)
            self.mad += (min(abs(ee), gate) - self.mad) / 8
            if iv < self.ivmin or abs(ee) > gate:
                if self.rej + 1 < self.unlock_n:
                    self.rej += 1
                    self.rejt = t
                    return ps.REJECTED
                self.good = 0
                have = self.rej > 0
                if have:
                    iv = t - self.rejt
            else:
                self.rej, self.last, self.since = 0, t, 0
                self._add_corr(self.alpha * ee / self.ratio)
                if self.predict and self.ivmin <= iv <= self.ivmax and self._clean(iv):
                    self._learn(iv)
                if self.predict and self.hn:
                    fp = min(max(1.0 / (self.ratio * self.pred), self.fmin), self.fmax)
                    makeup = min(max((fp - self.freq) * age, -0.125), 0.125)
                    self.corr = min(max(self.corr + makeup, -self.corr_max), self.corr_max)
                    self.freq = fp
                else:
                    self.freq = min(max(self.freq * (1 + self.beta * ee), self.fmin), self.fmax)
                return ps.ACCEPTED
        good = self.good
        if not have:
            good = 0
        elif iv < self.ivmin:
            return ps.REJECTED
        elif iv > self.ivmax:
            good = 0
        else:
            if abs(ee) > self.lock_err:
                good = 0
                freq = 1.0 / (self.ratio * iv)
                self.hn = 0
                self._learn(iv)
            else:
                good += 1
                freq = self.freq * (1 + self.beta * ee)
                if self._clean(iv):
                    self._learn(iv)
            self.freq = min(max(freq, self.fmin), self.fmax)
        self._add_corr(ee / self.ratio)
        self.last, self.have, self.since, self.rej, self.good = t, True, 0, 0, good
        self.lock = ps.LOCKED if good >= self.lock_n else ps.ACQUIRE
        if self.lock == ps.LOCKED:
            self.mad = self.lock_err / 2
        return ps.ACCEPTED

    def _add_corr(self, d):
        d = min(max(d, -self.corr_max), self.corr_max)
        self.corr = min(max(self.corr + d, -self.corr_max), self.corr_max)

    def set_peer(self, slot, phase_q32, freq_q32, age):
        fr = min(max(freq_q32 / TWO32, self.fmin), self.fmax)
        age = min(max(age, 0), self.peer_to)
        self.peers[slot] = [(phase_q32 / TWO32 + fr * age) % 1.0, fr, age]


def start_freq_q32(cfg):
    """Both loops start 20% above the resting rate, to exercise acquisition."""
    return cfg[ps.C_FREST] * 6 // 5


def run_float(events, kw):
    cfg = ps.make_config(**kw)
    f = FloatPhaseSync(cfg)
    f.freq = start_freq_q32(cfg) / TWO32
    out = []
    for ev in events:
        v = None
        if ev[0] == "adv":
            f.advance(ev[1])
        elif ev[0] == "beat":
            v = f.beat(ev[1] / 256)
        elif ev[0] == "peer":
            f.set_peer(ev[1], ev[2], ev[3], ev[4])
        out.append((round(f.phase, 10), round(f.freq * 1e6, 6), f.lock, v))
    return out


def main():
    events = pc.golden_scenario()
    rows = run_float(events, {})
    w = sys.stdout.write
    w("# Generated by tests/firmware/phasesync_float.py from the float64 model: do not edit.\n")
    w("# One row per event of phasesync_cases.golden_scenario(), default settings, start 20%\n")
    w(
        "# above the rest rate: (phase in turns, freq in micro-turns per tick, lock state,\n"
        "# beat verdict or None).\n"
    )
    w("ROWS = (\n")
    for r in rows:
        w("    ({!r}, {!r}, {:d}, {!r}),\n".format(*r))
    w(")\n")


if __name__ == "__main__":
    main()
