# Deterministic scenarios for the phase-sync tests: the same integers on CPython and MicroPython.
# Events: ("adv", n) ticks; ("beat", age_q8); ("peer", slot, phase_q32, freq_q32, age_ticks);
# ("drop", slot); ("breathe", start_per_min10, end_per_min10, ramp_s); ("heart",).
import struct

TICK_US = 10_000


class LCG:
    """Numerical Recipes' 32-bit LCG: portable, so both interpreters see the same scenario."""

    def __init__(self, seed):
        self.x = seed & 0xFFFFFFFF

    def next(self):
        self.x = (1664525 * self.x + 1013904223) & 0xFFFFFFFF
        return self.x

    def below(self, n):
        return (self.next() >> 8) % n


def beat_events(rng, t_us, loop_us, rr_us_list, events, max_block=7):
    """Turn beat times into events: advance in random blocks past each beat, then report it."""
    for rr in rr_us_list:
        t_us += rr
        while loop_us < t_us:
            n = 1 + rng.below(max_block)
            events.append(("adv", n))
            loop_us += n * TICK_US
        events.append(("beat", ((loop_us - t_us) << 8) // TICK_US))
    return t_us, loop_us


def rr_series(rng, n, mean_us, jitter_us):
    out = []
    rr = mean_us
    for _ in range(n):
        rr += rng.below(2 * jitter_us + 1) - jitter_us
        rr = min(max(rr, mean_us * 3 // 4), mean_us * 5 // 4)
        out.append(rr)
    return out


def mixed(seed, beats=120):
    """Acquisition, tracking with ectopic/missed/extra beats, a gap, peers, absurd input,
    breathing."""
    rng = LCG(seed)
    ev = [("adv", 150)]
    t, loop = 0, 150 * TICK_US
    mean = 600_000 + rng.below(500_000)
    rr = rr_series(rng, beats, mean, 15_000)
    # Spoil a few: a premature beat with its compensatory pause, a missed beat, an extra beat.
    for k in range(20, beats - 3, 17):
        kind = rng.below(3)
        if kind == 0:
            rr[k], rr[k + 1] = rr[k] * 7 // 10, rr[k + 1] * 13 // 10
        elif kind == 1:
            rr[k + 1] += rr[k]
            rr[k] = 0
        else:
            rr.insert(k, rr[k] * 4 // 10)
            rr[k + 1] -= rr[k]
    rr = [x for x in rr if x > 0]
    t, loop = beat_events(rng, t, loop, rr, ev)
    ev.append(("adv", 4000))  # 40 s without beats: holdover, then relaxation
    loop += 4000 * TICK_US
    t = loop
    for slot in range(3):
        ev.append(("peer", slot, rng.next(), rng.next() >> (4 + slot * 2), rng.below(300)))
    t, loop = beat_events(rng, t, loop, rr_series(rng, 40, mean * 11 // 10, 30_000), ev)
    for _ in range(60):  # beats every tick
        ev.append(("adv", 1))
        ev.append(("beat", rng.below(256)))
    ev.append(("drop", 1))
    ev.append(("breathe", 110, 60, 60))
    for _ in range(40):
        ev.append(("adv", 100 + rng.below(200)))
        ev.append(("beat", rng.below(1000)))
    ev.append(("heart",))
    loop += 40 * 250 * TICK_US
    t = loop
    beat_events(rng, t, loop, rr_series(rng, 30, mean, 10_000), ev)
    return ev


def golden_scenario():
    """Golden comparison: acquisition from 20% off, tracking, two peers, then no beats."""
    rng = LCG(7)
    ev = [("adv", 100)]
    t, loop = 0, 100 * TICK_US
    t, loop = beat_events(rng, t, loop, rr_series(rng, 60, 800_000, 8_000), ev)
    ev.append(("peer", 0, 0x40000000, 10737418 * 21 // 20, 3))
    ev.append(("peer", 1, 0xC0000000, 10737418 * 19 // 20, 5))
    t, loop = beat_events(rng, t, loop, rr_series(rng, 40, 760_000, 8_000), ev)
    ev.append(("adv", 6000))  # a minute without beats: holdover, then relaxation
    return ev


def apply(sync, ev):
    """Apply one event to a PhaseSync; returns the beat verdict or None."""
    kind = ev[0]
    if kind == "adv":
        sync.advance(ev[1])
    elif kind == "beat":
        return sync.beat(ev[1])
    elif kind == "peer":
        buf = bytearray(8)
        struct.pack_into("<II", buf, 0, ev[2] & 0xFFFFFFFF, ev[3] & 0xFFFFFFFF)
        sync.set_peer(ev[1], buf, 0, ev[4])
    elif kind == "drop":
        sync.drop_peer(ev[1])
    elif kind == "breathe":
        sync.breathe(ev[1], ev[2], ev[3])
    elif kind == "heart":
        sync.follow_heart()
    return None


def apply_ref(ref, sync_for_modes, ev):
    """Apply one event to a RefPhaseSync. Mode changes (slow path, shared code) go through a
    PhaseSync whose state the reference then copies, so only the fast path is compared."""
    kind = ev[0]
    if kind == "adv":
        ref.advance(ev[1])
    elif kind == "beat":
        return ref.beat(ev[1])
    elif kind == "peer":
        ref.set_peer(ev[1], ev[2], ev[3], ev[4])
    elif kind == "drop":
        ref.peers[ev[1] * 4 + 3] = 0
    else:
        st = sync_for_modes.st
        for i in range(len(ref.state)):
            st[i] = ref.state[i]
        apply(sync_for_modes, ev)
        for i in range(len(ref.state)):
            ref.state[i] = st[i]
    return None


def fnv(h, values):
    """FNV-1a over the values as unsigned 32-bit words (little-endian bytes)."""
    for v in values:
        v &= 0xFFFFFFFF
        for _ in range(4):
            h = ((h ^ (v & 0xFF)) * 16777619) & 0xFFFFFFFF
            v >>= 8
    return h


def chaos(seed, n_events):
    """Anything the inputs could do: absurd ages, beats every tick, peers from nowhere, long
    gaps."""
    rng = LCG(seed)
    ev = []
    for _ in range(n_events):
        r = rng.below(100)
        if r < 30:
            ev.append(("adv", rng.below(4) if r < 10 else rng.below(300)))
        elif r < 70:
            ev.append(("beat", rng.below(2_000_000) - 1000 if r < 35 else rng.below(60_000)))
        elif r < 80:
            ev.append(
                (
                    "peer",
                    rng.below(8),
                    rng.next(),
                    rng.next() >> rng.below(32),
                    rng.below(20_000) - 100,
                )
            )
        elif r < 84:
            ev.append(("drop", rng.below(8)))
        elif r < 86:
            ev.append(("breathe", 20 + rng.below(280), 20 + rng.below(280), rng.below(120)))
        elif r < 89:
            ev.append(("heart",))
        elif r < 90 and rng.below(10) == 0:
            ev.append(("adv", 20_000 + rng.below(40_000)))  # minutes without beats
        else:  # a burst of regular beats, so that the loop locks now and then
            period = 40 + rng.below(150)
            for _ in range(3 + rng.below(8)):
                ev.append(("adv", period))
                ev.append(("beat", rng.below(256)))
    return ev


# Configurations the exactness tests run: the default and the extremes of the settings.
CONFIGS = (
    {},
    {
        "ratio": 1,
        "coupling_mhz": 250,
        "alpha_q15": 32768,
        "beta_q15": 32768,
        "gate_k_q4": 255,
        "predict_order": 6,
        "predict_mu_q8": 255,
        "predict_reg_ms": 1,
        "predict_mean_sh": 1,
        "predict_w0_q12": 4096,
    },
    {
        "ratio": 8,
        "tick_us": 20_000,
        "rest_bpm": 30,
        "beat_min_bpm": 20,
        "lock_n": 1,
        "gate_k_q4": 0,
        "predict": 0,
    },
    {
        "ratio": 3,
        "tick_us": 1000,
        "gate_q16": 32768,
        "max_slew_mhz": 1,
        "unlock_n": 1,
        "coupling_mhz": 0,
        "predict_order": 1,
        "predict_reg_ms": 1000,
        "predict_mean_sh": 8,
        "predict_w0_q12": 0,
    },
)


def bytecode_twin():
    """phasesync.py compiled again without its @micropython.viper decorators: the same source as
    plain bytecode (on CPython the decorators are identities already). Returns its namespace."""
    from cocoon.core import phasesync

    with open(phasesync.__file__) as f:
        src = f.read()
    marker = "@micropython.viper\n"
    count = src.count(marker)
    ns = {"__name__": "phasesync_bytecode", "__viper_decorators_removed__": count}
    exec(src.replace(marker, "\n"), ns)
    return ns
