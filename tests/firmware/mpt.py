"""Tiny test helpers that work on CPython and on MicroPython (no pytest on the board's VM)."""


def raises(exc_type, fn, *args, **kwargs):
    """Assert that fn(*args) raises exc_type; return the exception."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("expected %s" % exc_type.__name__)


def is_micropython():
    import sys

    return sys.implementation.name == "micropython"
