"""Properties of the fixed-point stage classifier (CPython only: hypothesis, and the 31-bit check).

Every integer inside the classifier is checked against the ESP32's small-int range (int31.py),
for any input and for any model the classifier accepts.
"""

from __future__ import annotations

import types

import pytest
from cocoon.core import stage_model, stager
from hypothesis import given, settings
from hypothesis import strategies as st
from int31 import I31, checked

ANY_INT = st.integers(min_value=-(1 << 40), max_value=1 << 40)
EPOCHS = st.lists(st.tuples(ANY_INT, ANY_INT, ANY_INT, st.booleans()), min_size=1, max_size=60)


def shipped_model():
    return types.SimpleNamespace(
        **{k: getattr(stage_model, k) for k in dir(stage_model) if k.isupper()}
    )


def model_strategy():
    f, k = stager.N_FEATURES, stager.N_STAGES

    def ints(n, lo, hi):
        return st.lists(st.integers(lo, hi), min_size=n, max_size=n).map(tuple)

    return st.builds(
        types.SimpleNamespace,
        FORMAT=st.just(stager.MODEL_FORMAT),
        MODEL_ID=st.just("random"),
        MU_Q10=ints(f, -32768, 32768),
        ISD_Q10=ints(f, 1, 8192),
        W_Q10=ints(k * f, -8192, 8192),
        B_Q10=ints(k, -32768, 32768),
        LOG_PRIOR_Q10=ints(k, -30720, 0),
        LOG_TRANS_Q10=ints(k * k, -20480, 0),
        WAKE_W_Q10=ints(f, -8192, 8192),
        WAKE_B_Q10=st.integers(-32768, 32768),
        GAMMA_Q10=st.integers(0, 4096),
        WAKE_TH_Q10=st.integers(-32768, 32768),
    )


def run_checked(model, epochs):
    with checked(stager):
        m = types.SimpleNamespace(
            **{
                name: (
                    tuple(I31(x) for x in v)
                    if isinstance(v, tuple) and name != "FEATURES"
                    else (I31(v) if type(v) is int else v)
                )
                for name, v in vars(model).items()
            }
        )
        s = stager.Stager(m)
        out = []
        for count, hr, n, valid in epochs:
            out.append(
                s.update(
                    I31(max(min(count, 2**30 - 1), -(2**30))),
                    I31(max(min(hr, 2**30 - 1), -(2**30))),
                    I31(max(min(n, 2**30 - 1), -(2**30))),
                    valid,
                )
            )
            assert -(1 << 30) < s.wake_lo_q10 < (1 << 30)
            assert all(-30720 <= v <= 0 for v in s.log_q10)
            assert all(0 <= p <= 32768 for p in s.prob_q15)
            # The instrumentation is live: the classifier's state really is made of I31s.
            assert type(s.log_q10[0]) is I31 and type(s.prob_q15[0]) is I31
        return out


@settings(max_examples=60, deadline=None)
@given(EPOCHS)
def test_shipped_model_stays_in_31_bits_for_any_input(epochs):
    out = run_checked(shipped_model(), epochs)
    assert all(s in (0, 1, 2, 3) for s in out)


@settings(max_examples=60, deadline=None)
@given(model_strategy(), EPOCHS)
def test_any_accepted_model_stays_in_31_bits(model, epochs):
    out = run_checked(model, epochs)
    assert all(s in (0, 1, 2, 3) for s in out)


def test_the_31_bit_check_can_fail():
    with pytest.raises(OverflowError):
        I31(1 << 29) * 4
    with pytest.raises(OverflowError):
        I31(3) << 30
    with pytest.raises(OverflowError):
        I31(-(1 << 30)) - 1
    assert I31((1 << 29) - 1) * 2 + 1 == (1 << 30) - 1


def test_models_outside_the_limits_are_refused():
    m = shipped_model()
    m.W_Q10 = (9000,) + tuple(m.W_Q10[1:])
    with pytest.raises(ValueError, match="W_Q10"):
        stager.Stager(m)
    m = shipped_model()
    m.GAMMA_Q10 = 5000
    with pytest.raises(ValueError, match="GAMMA"):
        stager.Stager(m)
    m = shipped_model()
    m.LOG_PRIOR_Q10 = (10, -10, -10, -10)
    with pytest.raises(ValueError, match="LOG_PRIOR"):
        stager.Stager(m)
