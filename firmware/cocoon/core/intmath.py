"""Integer helpers shared by the core (no floats on the device's hot paths).

from cocoon.core.intmath import isqrt
rms = isqrt(sum_sq // n)
"""


def isqrt(n):
    """floor(sqrt(n)) for 0 <= n < 2^30, by Newton's method on small ints (no allocation)."""
    if n <= 0:
        return 0
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x
