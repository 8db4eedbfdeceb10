"""Properties of the limiters against the independent flash checker (CPython only, hypothesis).

Whatever frames come in, at whatever times, what leaves the flash-safety limiter passes WCAG 2.3.1
as counted by cocoon_host.flashcheck, and a stream within the current budget stays within it.
"""

from cocoon.core.limiter import CurrentLimiter, FlashLimiter
from cocoon_host.flashcheck import FlashAnalyzer, analyze
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Frame makers: whole random frames, one colour everywhere, one quarter lit, saturated red.
_level = st.sampled_from([0, 1, 30, 60, 128, 200, 255])


@st.composite
def frame_stream(draw, max_frames=150):
    n = draw(st.sampled_from([1, 2, 3, 5, 8, 13, 24, 60]))
    t = draw(st.integers(0, (1 << 30) - 1))
    frames = []
    kind = draw(st.integers(0, 4))
    for _ in range(draw(st.integers(2, max_frames))):
        t += draw(st.sampled_from([0, 1, 7, 16, 20, 20, 20, 40, 125, 400]))
        if kind == 0:
            rgb = bytes(draw(st.binary(min_size=3 * n, max_size=3 * n)))
        elif kind == 1:
            rgb = bytes([draw(_level), draw(_level), draw(_level)] * n)
        elif kind == 2:
            q = draw(st.integers(0, 3))
            v = draw(_level)
            rgb = bytearray(3 * n)
            for i in range(n * q // 4, n * (q + 1) // 4):
                rgb[3 * i : 3 * i + 3] = bytes([v, v, v])
            rgb = bytes(rgb)
        elif kind == 3:
            v = draw(_level)
            rgb = bytes([v, v // 10, 0] * n)  # saturated red: R/(R+G+B) >= 0.8
        else:
            # Alternating extremes, the worst case for any flash limiter.
            v = 255 if len(frames) % 2 else 0
            rgb = bytes([v, v, draw(st.sampled_from([0, v]))] * n)
        frames.append((t, rgb))
    return n, frames


def _limited(n, frames):
    fl = FlashLimiter(n)
    out = []
    for t, rgb in frames:
        buf = bytearray(rgb)
        fl.limit(buf, t & 0x3FFFFFFF)
        out.append((t, bytes(buf)))
    return out, fl


@SETTINGS
@given(frame_stream())
def test_any_stream_leaves_the_limiter_wcag_compliant(stream):
    n, frames = stream
    out, _ = _limited(n, frames)
    res = analyze(out, n)
    assert res.ok, res.to_json()


@SETTINGS
@given(frame_stream())
def test_the_limiter_only_ever_moves_between_previous_and_new(stream):
    n, frames = stream
    out, _ = _limited(n, frames)
    prev = bytes(3 * n)
    for (_, want), (_, got) in zip(frames, out, strict=True):
        for p, w, g in zip(prev, want, got, strict=True):
            assert min(p, w) <= g <= max(p, w)
        prev = got


@SETTINGS
@given(
    st.sampled_from([1, 4, 9, 30]),
    st.lists(st.tuples(st.integers(1, 60), st.integers(0, 20)), min_size=2, max_size=120),
)
def test_a_stream_without_big_swings_passes_untouched(n, steps):
    # Luminance kept inside an 8% band: nothing a flash could be made of, so nothing to change.
    fl = FlashLimiter(n)
    t = 0
    for dt, v in steps:
        t += dt
        rgb = bytearray([v, v, v] * n)  # v <= 20: luminance <= 0.079
        before = bytes(rgb)
        assert fl.limit(rgb, t) is False
        assert bytes(rgb) == before


@SETTINGS
@given(
    frame_stream(max_frames=80),
    st.integers(200, 3000),
    st.sampled_from([20, 35, 55, 60]),
)
def test_current_stays_within_budget_through_both_limiters(stream, budget_ma, ma_per_led):
    n, frames = stream
    if budget_ma < 120 + n:
        budget_ma = 120 + n
    cur = CurrentLimiter(n, budget_ma=budget_ma, ma_per_led=ma_per_led)
    fl = FlashLimiter(n)
    checker = FlashAnalyzer(n)
    for t, rgb in frames:
        buf = bytearray(rgb)
        cur.limit(buf)
        fl.limit(buf, t & 0x3FFFFFFF)
        estimate_ma = 120 + n + sum(buf) * ma_per_led / 765.0
        assert estimate_ma <= budget_ma + 1e-9
        assert cur.estimate_ua(buf) <= budget_ma * 1000
        checker.feed(t, buf)
    assert checker.result().ok
