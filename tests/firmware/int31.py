"""CPython only: run firmware integer code with every value checked against the ESP32's small ints.

MicroPython on the ESP32 keeps -2^30 <= x < 2^30 in a small int; beyond, a value silently becomes a
heap-allocated long int (an allocation in a loop that must not allocate, and a GC pause). The unix
port on a 64-bit host has 63-bit small ints, so a test there cannot see it. Here every integer that
flows through the code under test is an I31, whose arithmetic raises OverflowError as soon as a
result leaves that range.

    with checked(stager_module):        # arrays, bytearrays and tables become checked
        st = stager_module.Stager(model) ...
"""

from __future__ import annotations

import contextlib

LO = -(1 << 30)
HI = 1 << 30


class I31(int):
    def __new__(cls, v):
        v = int(v)
        if not LO <= v < HI:
            raise OverflowError(f"{v} does not fit a MicroPython small int on the ESP32")
        return int.__new__(cls, v)


def _wrap(name):
    op = getattr(int, name)

    def f(self, *args):
        r = op(self, *args)
        if r is NotImplemented or isinstance(r, bool) or not isinstance(r, int):
            return r
        return I31(r)

    f.__name__ = name
    return f


for _name in (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __floordiv__ __rfloordiv__ __mod__ "
    "__rmod__ __lshift__ __rlshift__ __rshift__ __rrshift__ __neg__ __pos__ __abs__ __and__ "
    "__rand__ __or__ __ror__ __xor__ __rxor__ __invert__"
).split():
    setattr(I31, _name, _wrap(_name))


def wrap(values):
    return tuple(I31(v) for v in values)


class CheckedArray(list):
    """Stands in for array('i'/'h'/...) and bytearray: every stored value is an I31."""

    def __init__(self, typecode_or_n, init=None):
        if init is None:
            init = [0] * typecode_or_n if isinstance(typecode_or_n, int) else []
        super().__init__(I31(v) for v in init)

    def __setitem__(self, i, v):
        super().__setitem__(i, I31(v))


def _bytearray(n=0):
    return CheckedArray(n)


@contextlib.contextmanager
def checked(module):
    """Patch a firmware module so that its arrays and integer tables hold I31 values."""
    saved = {}
    for name in dir(module):
        value = getattr(module, name)
        if isinstance(value, tuple) and value and all(type(v) is int for v in value):
            saved[name] = value
            setattr(module, name, wrap(value))
    extra = {"array": CheckedArray, "bytearray": _bytearray}
    for name, value in extra.items():
        saved[name] = getattr(module, name, None)
        setattr(module, name, value)
    try:
        yield module
    finally:
        for name, value in saved.items():
            if value is None:
                delattr(module, name)
            else:
                setattr(module, name, value)
