# Properties of the phase-sync loop under arbitrary input (hypothesis; CPython only): the band, the
# per-tick step limit, no backwards motion, no exceptions, K = 0 equals no peers, and the fast
# path equals the reference on every sequence.
import phasesync_cases as pc
import phasesync_float as pf
import phasesync_golden as golden
from cocoon.core import phasesync as ps
from cocoon.core.phasesync_ref import RefPhaseSync
from hypothesis import given, settings
from hypothesis import strategies as st

I32 = st.integers(-(2**31), 2**31 - 1)
U32 = st.integers(0, 2**32 - 1)

EVENT = st.one_of(
    st.tuples(st.just("adv"), st.integers(0, 300)),
    st.tuples(st.just("beat"), I32),
    st.tuples(st.just("beat"), st.integers(0, 3000)),
    st.tuples(st.just("peer"), st.integers(0, 7), U32, U32, I32),
    st.tuples(st.just("drop"), st.integers(0, 7)),
    st.tuples(st.just("breathe"), st.integers(20, 300), st.integers(20, 300), st.integers(0, 60)),
    st.tuples(st.just("heart")),
)


@st.composite
def burst(draw, tick_us):
    """Beats at a heart rate with a swing, jitter and the detector's latency, so that the loop
    locks and its predictor learns: a list of plain events."""
    period = draw(st.integers(300, 1500)) * 1000 // tick_us  # ticks
    age = draw(st.integers(0, 300)) * 256_000 // tick_us  # latency, Q8 ticks
    swing = draw(st.integers(0, 10))  # percent
    out = []
    for k, jit in enumerate(draw(st.lists(st.integers(-3, 3), min_size=5, max_size=15))):
        n = max(1, period + jit + (period * swing * (k % 5 - 2)) // 200)
        out += [("adv", n), ("beat", age + draw(st.integers(0, 64)))]
    return out


@st.composite
def config_and_events(draw):
    """Settings, then arbitrary events mixed with bursts of plausible beats at their tick."""
    kw = draw(configs())
    beats = burst(kw["tick_us"])
    groups = draw(st.lists(st.one_of(EVENT.map(lambda e: [e]), beats, beats), max_size=10))
    return kw, [e for g in groups for e in g]


@st.composite
def configs(draw):
    slew = draw(st.integers(1, ps.MAX_SLEW_MHZ))
    gate = draw(st.integers(656, 32768))
    kw = {
        "tick_us": draw(st.sampled_from((1000, 5000, 10_000, 20_000))),
        "ratio": draw(st.integers(1, 8)),
        "max_slew_mhz": slew,
        "coupling_mhz": draw(st.integers(0, slew)),
        "alpha_q15": draw(st.integers(0, 32768)),
        "beta_q15": draw(st.integers(0, 32768)),
        "gate_q16": gate,
        "gate_k_q4": draw(st.integers(0, 255)),
        "lock_err_q16": draw(st.integers(1, 32768)),
        "slew_tau_ms": draw(st.integers(10, 5000)),
        "lock_n": draw(st.integers(1, 5)),
        "unlock_n": draw(st.integers(1, 5)),
        "predict": draw(st.integers(0, 1)),
        "predict_order": draw(st.integers(1, ps.ORDER_MAX)),
        "predict_mu_q8": draw(st.integers(0, 255)),
        "predict_reg_ms": draw(st.integers(1, 1000)),
        "predict_mean_sh": draw(st.integers(1, 8)),
        "predict_w0_q12": draw(st.integers(0, 4096)),
    }
    return kw


def check_invariants(sync):
    c, s = sync.cfg, sync.st
    assert c[ps.C_FMIN] <= s[ps.S_FREQ] <= c[ps.C_FMAX]
    assert 0 <= s[ps.S_MAXSTEP] <= c[ps.C_MAXSTEP]
    assert abs(s[ps.S_CORR]) < 2**30
    assert s[ps.S_LOCK] in (ps.FREE, ps.ACQUIRE, ps.LOCKED, ps.HOLDOVER)
    # The predictor's state stays inside the bounds its products rely on (phasesync._learn).
    assert 0 <= s[ps.S_HN] <= 255
    for j in range(ps.ORDER_MAX):
        assert abs(s[ps.S_W + j]) <= 4 << 16
        assert 0 <= s[ps.S_HIST + j] < 1 << 16
    assert 0 <= s[ps.S_MEAN] < 1 << 20
    if s[ps.S_HN]:
        sh = c[ps.C_PSH]
        assert c[ps.C_IVMIN] >> sh <= s[ps.S_PRED] <= c[ps.C_IVMAX] >> sh
        assert c[ps.C_IVMAX] >> sh < 1 << 15


@settings(max_examples=150, deadline=None)
@given(config_and_events())
def test_band_step_limit_and_no_exceptions(kw_events):
    kw, events = kw_events
    sync = ps.PhaseSync(**kw)
    hi = sync.cfg[ps.C_FMAX] + sync.cfg[ps.C_MAXSTEP]
    for ev in events:
        if ev[0] == "adv":
            for _ in range(min(ev[1], 300)):  # tick by tick, to see every step ...
                before = sync.st[ps.S_PHASE] & 0xFFFFFFFF
                sync.advance(1)
                moved = (sync.st[ps.S_PHASE] - before) & 0xFFFFFFFF
                assert moved <= hi  # never faster than the band plus the step limit
                assert abs(sync.st[ps.S_STEP]) <= sync.cfg[ps.C_MAXSTEP]
            sync.advance(max(0, ev[1] - 300))  # ... the rest: S_MAXSTEP keeps the largest
        else:
            verdict = pc.apply(sync, ev)
            assert verdict in (None, ps.IGNORED, ps.ACCEPTED, ps.REJECTED)
        check_invariants(sync)
    assert 0 <= sync.phase_q16() < 65536 and 0 <= sync.shaped_q16() < 65536


@settings(max_examples=150, deadline=None)
@given(config_and_events())
def test_fast_path_equals_reference_on_any_sequence(kw_events):
    kw, events = kw_events
    sync = ps.PhaseSync(**kw)
    modes = ps.PhaseSync(**kw)
    ref = RefPhaseSync(sync.cfg)
    for ev in events:
        assert pc.apply(sync, ev) == pc.apply_ref(ref, modes, ev)
        assert list(sync.st) == ref.state
        assert list(sync.peers) == ref.peers


@st.composite
def beats_for_the_predictor(draw):
    """Default loop settings, any predictor settings, bursts of beats with now and then an
    arbitrary event in between: the loop locks and predicts in most examples."""
    kw = {
        "tick_us": draw(st.sampled_from((5000, 10_000, 20_000))),
        "ratio": draw(st.integers(1, 8)),
        "gate_k_q4": draw(st.integers(0, 255)),
        "predict_order": draw(st.integers(1, ps.ORDER_MAX)),
        "predict_mu_q8": draw(st.integers(0, 255)),
        "predict_reg_ms": draw(st.integers(1, 1000)),
        "predict_mean_sh": draw(st.integers(1, 8)),
        "predict_w0_q12": draw(st.integers(0, 4096)),
    }
    beats = burst(kw["tick_us"])
    groups = draw(
        st.lists(st.one_of(beats, beats, beats, EVENT.map(lambda e: [e])), min_size=1, max_size=6)
    )
    return kw, [e for g in groups for e in g]


@settings(max_examples=100, deadline=None)
@given(beats_for_the_predictor())
def test_predicting_loop_equals_reference_and_keeps_its_bounds(kw_events):
    kw, events = kw_events
    sync = ps.PhaseSync(**kw)
    modes = ps.PhaseSync(**kw)
    ref = RefPhaseSync(sync.cfg)
    for ev in events:
        assert pc.apply(sync, ev) == pc.apply_ref(ref, modes, ev)
        assert list(sync.st) == ref.state
        check_invariants(sync)


@settings(max_examples=100, deadline=None)
@given(configs(), st.lists(EVENT, max_size=40))
def test_k_zero_behaves_exactly_as_without_peers(kw, events):
    kw = dict(kw, coupling_mhz=0)
    alone, crowd = ps.PhaseSync(**kw), ps.PhaseSync(**kw)
    for ev in events:
        pc.apply(crowd, ev)
        if ev[0] not in ("peer", "drop"):
            pc.apply(alone, ev)
        assert list(alone.st)[: ps.S_LIVE] == list(crowd.st)[: ps.S_LIVE]


def test_golden_file_is_current():
    # phasesync_golden.py must be what the float model produces now (regenerate: see its header).
    rows = pf.run_float(pc.golden_scenario(), {})
    assert [tuple(r) for r in rows] == [tuple(r) for r in golden.ROWS]
