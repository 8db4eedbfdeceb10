# The fixed-point sleep-stage classifier (cocoon.core.stager) with the shipped model, on CPython
# and on the MicroPython unix port. The host tests check it against its float twin on real data.
import math

import micropython
from cocoon.core import stage_model
from cocoon.core.stager import (
    DEEP,
    LIGHT,
    N_FEATURES,
    N_STAGES,
    REM,
    UNKNOWN,
    WAKE,
    Stager,
    cosine_q10,
    exp_q15,
    hours_q10,
    ln_q10,
    lse_q10,
)
from mpt import is_micropython, raises


def test_ln_matches_math_within_two_steps_of_q10():
    for x, q in ((1, 0), (2, 0), (3, 0), (256, 8), (257, 8), (82, 12), (4096, 12), (1 << 29, 8)):
        want = math.log(x / (1 << q)) * 1024
        assert abs(ln_q10(x, q) - want) <= 2, (x, q, ln_q10(x, q), want)
    for x in range(1, 5000, 37):
        assert abs(ln_q10(x, 8) - math.log(x / 256) * 1024) <= 2


def test_log_sum_exp_matches_math():
    for a in (-30000, -5000, -1, 0, 700, 9000):
        for d in (0, 1, 63, 64, 500, 1024, 4000, 8191, 8192, 20000):
            b = a - d
            want = math.log(math.exp(a / 1024) + math.exp(b / 1024)) * 1024
            got = lse_q10(a, b)
            assert abs(got - want) <= 2, (a, b, got, want)
            assert lse_q10(b, a) == got  # symmetric


def test_exp_matches_math_and_ends_at_zero():
    for d in (0, -1, -100, -1024, -3000, -8000, -16000):
        want = math.exp(d / 1024) * 32768
        assert abs(exp_q15(d) - want) <= max(2, want * 0.003), (d, exp_q15(d), want)
    assert exp_q15(-16384) == 0
    assert exp_q15(-(10**6)) == 0
    assert exp_q15(5) == 32768  # positive input is clamped: probabilities never exceed 1


def test_time_features_follow_walch():
    assert hours_q10(0) == 0
    assert hours_q10(120) == 1024  # 120 epochs = 1 h
    for n in (0, 1, 45, 300, 600, 1199, 2000, 2880):
        h = n / 120
        want = -math.cos(2 * math.pi * (h - 5) / 24) * 1024
        assert abs(cosine_q10(n) - want) <= 2, (n, cosine_q10(n), want)
    assert cosine_q10(10**6) == cosine_q10(2880)  # saturates after a day


def test_model_file_fits_the_classifier():
    st = Stager(stage_model)
    assert len(stage_model.W_Q10) == N_STAGES * N_FEATURES
    assert st.model_id == stage_model.MODEL_ID
    assert st.stage == UNKNOWN


def _night(st, n, count_q8, hr_q12):
    out = []
    for i in range(n):
        out.append(st.update(count_q8, hr_q12, i))
    return out


def test_a_restless_night_is_wake_and_a_still_one_is_sleep():
    st = Stager(stage_model)
    moving = _night(st, 40, 40 * 256, int(1.2 * 4096))  # 40 counts, very variable heart rate
    assert moving[-1] == WAKE
    assert st.wake_lo_q10 > 0
    st.reset()
    still = _night(st, 240, 0, int(0.15 * 4096))  # no movement, steady heart rate
    # The model expects the first minutes after lights-out to be awake (sleep latency).
    assert WAKE not in still[60:]
    assert still[-1] in (LIGHT, DEEP)


def test_probabilities_sum_to_one_and_follow_the_stage():
    st = Stager(stage_model)
    for i in range(300):
        count = (i * 37) % 900 if i % 50 < 5 else 0
        hr = 600 + (i * 91) % 3000
        stage = st.update(count, hr, i)
        total = sum(st.prob_q15)
        assert abs(total - 32768) <= 328, total  # within 1%: the exp table is for display
        if stage != WAKE:
            best = max(range(1, N_STAGES), key=lambda k: st.log_q10[k])
            assert stage == best
        assert max(st.log_q10) == 0


def test_rem_is_reachable():
    # Still, late in the night, with a wandering heart rate: the model's REM pattern.
    st = Stager(stage_model)
    seen = set()
    for i in range(0, 900):
        seen.add(st.update(0, int(0.9 * 4096), 300 + i))
    assert REM in seen


def test_an_epoch_without_heart_rate_only_predicts():
    st = Stager(stage_model)
    _night(st, 100, 0, int(0.2 * 4096))
    before = list(st.log_q10)
    st.update(50 * 256, 5 * 4096, 100, False)  # evidence of wake, but marked invalid
    assert st.valid is False
    assert st.wake_lo_q10 == 0
    assert st.stage != WAKE
    # Only the transition prior moved the filter: it stays close to where it was.
    assert max(abs(st.log_q10[k] - before[k]) for k in range(N_STAGES)) < 2048


def test_inputs_out_of_range_are_clamped_not_fatal():
    st = Stager(stage_model)
    for count, hr, n in ((-5, -5, -5), (10**9, 10**9, 10**9), (0, 0, 0), (1 << 29, 0, 99999)):
        stage = st.update(count, hr, n)
        assert stage in (WAKE, LIGHT, DEEP, REM)
        for v in st.x_q10:
            assert -(1 << 20) < v < (1 << 23)


class _Model:
    pass


def _copy_model():
    m = _Model()
    for name in dir(stage_model):
        if name.isupper():
            setattr(m, name, getattr(stage_model, name))
    return m


def test_a_bad_model_is_refused_with_a_reason():
    m = _copy_model()
    m.W_Q10 = m.W_Q10[:-1]
    e = raises(ValueError, Stager, m)
    assert "W_Q10" in str(e)
    m = _copy_model()
    m.B_Q10 = (0, 0, 0, 1 << 20)
    assert "B_Q10" in str(raises(ValueError, Stager, m))
    m = _copy_model()
    m.FORMAT = 99
    assert "format" in str(raises(ValueError, Stager, m))
    m = _copy_model()
    m.ISD_Q10 = (0,) * N_FEATURES
    assert "ISD" in str(raises(ValueError, Stager, m))


def test_update_allocates_nothing():
    st = Stager(stage_model)
    st.update(0, 1000, 0)
    count = 0
    hr = 500
    n = 1
    if is_micropython():
        micropython.heap_lock()
    try:
        for i in range(200):
            count = (count * 7 + 13) & 0x3FFF
            hr = 100 + (hr * 5 + 3) % 9000
            st.update(count, hr, n + i, i % 17 != 0)
            stage = st.stage
    finally:
        if is_micropython():
            micropython.heap_unlock()
    assert stage in (WAKE, LIGHT, DEEP, REM)
