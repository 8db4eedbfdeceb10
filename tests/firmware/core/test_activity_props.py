# Properties of the activity counter (CPython only: hypothesis): 31-bit state whatever comes in,
# and the integer band-pass agrees with a float twin of the same filter.
import math
from array import array

from cocoon.core.activity import ActivityCounter
from hypothesis import given, settings
from hypothesis import strategies as st

SMALL = 1 << 30
# the same Butterworth sections, unquantised (scipy.signal.butter, see activity.py)
SOS = (
    (0.60894463, -1.21788927, 0.60894463, -1.38761971, 0.49242289),
    (1.0, -2.0, 1.0, -1.62993553, 0.75304017),
    (0.06290426, 0.12580852, 0.06290426, -0.19647249, 0.04848431),
    (1.0, 2.0, 1.0, -0.27237739, 0.45358689),
)


def float_bins(ax, ay, az, lsb=16384):
    zs = [[0.0] * 4 for _ in range(12)]
    bins = []
    for k in range(len(ax)):
        m = 0.0
        for axis, x in enumerate((ax[k], ay[k], az[k])):
            v = float(x)
            for s, (b0, b1, b2, a1, a2) in enumerate(SOS):
                z = zs[4 * axis + s]
                y = b0 * v + b1 * z[0] + b2 * z[1] - a1 * z[2] - a2 * z[3]
                z[1], z[0], z[3], z[2] = z[0], v, z[2], y
                v = y
            m = max(m, abs(v))
        bins.append(0 if k < 50 else min(128, int(m / lsb * 128 / 5) + 1))
    return bins


def motion(max_g):
    return st.lists(
        st.tuples(
            st.floats(0.5, 15.0), st.floats(0.0, max_g), st.integers(0, 2), st.integers(10, 200)
        ),
        min_size=1,
        max_size=12,
    )


def build(parts):
    ax, ay, az = [], [], []
    for f_hz, amp_g, axis, n in parts:
        for i in range(n):
            v = [0.0, 0.0, 1.0]
            v[axis] += amp_g * math.sin(2 * math.pi * f_hz * i / 50)
            ax.append(max(-32768, min(32767, int(v[0] * 16384))))
            ay.append(max(-32768, min(32767, int(v[1] * 16384))))
            az.append(max(-32768, min(32767, int(v[2] * 16384))))
    return array("i", ax), array("i", ay), array("i", az)


@settings(max_examples=40, deadline=None)
@given(motion(1.99))
def test_state_stays_small_and_counts_in_range(parts):
    act = ActivityCounter()
    ax, ay, az = build(parts)
    act.feed(ax, ay, az, len(ax))
    for v in act._z:
        assert -SMALL <= v < SMALL
    for name, v in vars(act).items():
        if isinstance(v, int) and not isinstance(v, bool):
            assert -SMALL <= v < SMALL, name
    assert act.count == -1 or 15 <= act.count <= 1920


@settings(max_examples=30, deadline=None)
@given(motion(0.9))  # beyond, the integer filter clamps at 2 g where the float one does not
def test_integer_band_pass_matches_its_float_twin(parts):
    ax, ay, az = build(parts)
    act = ActivityCounter()
    want = float_bins(ax, ay, az)
    got = []
    for k in range(len(ax)):
        act._sec_max = 0
        act._n_in_s = 0
        act.feed(ax[k : k + 1], ay[k : k + 1], az[k : k + 1], 1)
        got.append(act._sec_max if k >= 50 else 0)
    close = sum(1 for g, w in zip(got, want, strict=True) if abs(g - w) <= 1)
    assert close >= 0.99 * len(got)
