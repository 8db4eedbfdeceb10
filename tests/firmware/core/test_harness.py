# The harness itself: these run on both interpreters and check each is the one it claims.
import sys

from mpt import is_micropython, raises


def test_interpreter_arithmetic_differs_only_where_expected():
    # Both interpreters agree on Python integer semantics (arbitrary precision).
    assert (1 << 40) + 1 == 1099511627777
    assert -7 // 2 == -4


def test_raises_helper():
    e = raises(ValueError, int, "x")
    assert isinstance(e, ValueError)


def test_runs_on_the_named_interpreter():
    name = sys.implementation.name
    assert name in ("cpython", "micropython")
    assert is_micropython() == (name == "micropython")
