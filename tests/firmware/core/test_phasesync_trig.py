# The integer sine table (cocoon/core/trig.py) the phase-sync loop and the light engine share.
import math

from cocoon.core import trig


def test_table_is_rounded_sine_in_q15():
    assert len(trig.SIN_Q15) == 257
    for i in range(257):
        assert trig.SIN_Q15[i] == round(32767 * math.sin(2 * math.pi * i / 256)), i


def test_interpolated_sine_and_cosine_are_within_2e4():
    worst = 0.0
    for p in range(0, 65536, 37):
        a = 2 * math.pi * p / 65536
        worst = max(worst, abs(trig.sin_q15(p) / 32767 - math.sin(a)))
        worst = max(worst, abs(trig.cos_q15(p) / 32767 - math.cos(a)))
    assert worst < 2e-4, worst


def test_phase_wraps_modulo_one_turn():
    for p in (0, 1, 12345, 65535):
        assert trig.sin_q15(p) == trig.sin_q15(p + 65536) == trig.sin_q15(p - 65536)
    assert trig.sin_q15(16384) == 32767
    assert trig.sin_q15(49152) == -32767
    assert trig.cos_q15(0) == 32767
