"""The flash checker itself: it must fail known flashing and pass known-safe sequences."""

from __future__ import annotations

import json

import pytest
from cocoon_host import cli
from cocoon_host.flashcheck import FlashAnalyzer, analyze, read_csv

N = 8


def grey(level: int, n: int = N) -> list[int]:
    return [level] * (3 * n)


def square(hz: float, on: list[int], off: list[int], seconds: float = 3, fps: int = 50):
    frames = []
    for f in range(int(seconds * fps)):
        t = f * 1000 // fps
        frames.append((t, on if int(t * hz * 2 / 1000) % 2 == 0 else off))
    return frames


def transitions_at(times_ms: list[int], hi: list[int], lo: list[int], end_ms: int = 3000):
    # A luminance that toggles at exactly the given times, sampled every 10 ms.
    frames, state = [], False
    for t in range(0, end_ms, 10):
        while times_ms and times_ms[0] <= t:
            times_ms = times_ms[1:]
            state = not state
        frames.append((t, hi if state else lo))
    return frames


def test_a_4hz_white_square_wave_fails():
    res = analyze(square(4, grey(255), grey(0)), N)
    assert not res.ok
    assert res.max_flashes >= 4.0
    assert all(not r.ok for r in res.regions)  # every quarter flashes too


def test_a_2hz_square_wave_passes():
    res = analyze(square(2, grey(255), grey(0)), N)
    assert res.ok and res.max_flashes == 2.5  # 5 transitions fit in a closed 1-s window


def test_seven_transitions_in_a_second_fail_and_six_pass():
    # Trace Center's rule: 7 or more alternating transitions in one second = more than 3 flashes.
    six = analyze(transitions_at([100, 250, 400, 550, 700, 850], grey(255), grey(0)), N)
    seven = analyze(transitions_at([100, 250, 400, 550, 700, 850, 1000], grey(255), grey(0)), N)
    assert six.ok and six.max_flashes == 3.0
    assert not seven.ok and seven.max_flashes == 3.5
    # Seven spread over more than a second pass.
    slow = analyze(transitions_at([100, 300, 500, 700, 900, 1100, 1300], grey(255), grey(0)), N)
    assert slow.ok


def test_changes_below_10_percent_never_count():
    # 0.2126 + 0.7152 + 0.0722 = 1: grey 20 is 7.8% of full luminance.
    res = analyze(square(10, grey(20), grey(0)), N)
    assert res.ok and res.max_flashes == 0
    res = analyze(square(10, grey(27), grey(0)), N)  # 10.6%: counts
    assert not res.ok


def test_flicker_above_080_is_not_a_flash_but_dipping_below_is():
    bright_hi, bright_lo = grey(250), grey(212)  # 0.98 and 0.83: darker state above 0.80
    assert analyze(square(8, bright_hi, bright_lo), N).ok
    assert not analyze(square(8, bright_hi, grey(195)), N).ok  # 0.76: below 0.80


def test_saturated_red_counts_as_red_flash_and_amber_does_not():
    red = [255, 0, 0] * N
    amber = [255, 120, 0] * N  # R/(R+G+B) = 0.68
    res = analyze(square(4, red, grey(0)), N)
    assert not res.ok and res.max_red_flashes >= 4 and res.regions[0].red_transitions > 0
    res = analyze(square(4, amber, grey(0)), N)
    assert not res.ok and res.max_red_flashes == 0
    res = analyze(square(1, red, grey(0)), N)
    assert res.ok and 0 < res.max_red_flashes <= 3


def test_a_quarter_flashing_alone_is_caught():
    on = grey(0)
    on = on[:6] + [77] * 6 + on[12:]  # LEDs 2 and 3 = quarter 2 of 8 LEDs: 0.30
    res = analyze(square(5, on, grey(0)), N)
    by_name = {r.name: r for r in res.regions}
    assert by_name["strip"].ok  # whole strip: only 0.075 change
    assert not by_name["quarter 2"].ok
    assert by_name["quarter 1"].ok and by_name["quarter 3"].ok
    assert not res.ok


def test_a_dithered_ramp_is_one_transition_and_multi_step_changes_add_up():
    # Up in 1-LSB wiggles (dithering): a detector that restarts at every reversal would miss it.
    frames, t = [], 0
    for v in range(0, 200, 4):
        for w in (v, v + 3, v + 1):
            frames.append((t, grey(w)))
            t += 5
    res = analyze(frames, N)
    assert res.regions[0].transitions == 1
    # Steps of 6% each: two up then two down, four times in a second = 8 transitions.
    steps = [0, 15, 30, 15] * 8
    frames = [(i * 31, grey(v)) for i, v in enumerate(steps)]
    res = analyze(frames, N)
    assert not res.ok and res.regions[0].max_in_window >= 7


def test_uneven_strip_lengths_have_sensible_quarters():
    res = analyze([(0, grey(0, 5)), (10, grey(255, 5))], 5)
    assert [(r.first, r.stop) for r in res.regions] == [(0, 5), (0, 1), (1, 2), (2, 3), (3, 5)]
    res = analyze([(0, grey(0, 2))], 2)
    assert [r.name for r in res.regions] == ["strip", "quarter 2", "quarter 4"]


def test_bad_frames_are_refused():
    a = FlashAnalyzer(2)
    with pytest.raises(ValueError):
        a.feed(0, [0] * 5)
    a.feed(10, [0] * 6)
    with pytest.raises(ValueError):
        a.feed(5, [0] * 6)


def write_csv(path, frames, n=N):
    cols = ",".join(f"r{i},g{i},b{i}" for i in range(n))
    lines = [f"t_ms,{cols}"] + [f"{t}," + ",".join(map(str, rgb)) for t, rgb in frames]
    path.write_text("\n".join(lines) + "\n")


def test_check_leds_command_passes_fails_and_explains(tmp_path, capsys):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    write_csv(good, square(1, grey(255), grey(0)))
    write_csv(bad, square(6, [255, 0, 0] * N, grey(0)))
    assert cli.main(["check-leds", str(good)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "quarter 4" in out
    assert cli.main(["check-leds", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "TOO MANY" in out
    assert cli.main(["check-leds", "--json", str(bad)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["max_red_flashes_per_s"] > 3
    assert data["leds"] == N and len(data["regions"]) == 5
    assert read_csv(good).frames == 150


@pytest.mark.parametrize(
    "content, words",
    [
        (None, "no such file"),
        ("", "empty"),
        ("time,a,b,c\n0,1,2,3\n", "header"),
        ("t_ms,r0,g0,b0\n0,1,2\n", "line 2"),
        ("t_ms,r0,g0,b0\n0,1,2,300\n", "outside 0..255"),
        ("t_ms,r0,g0,b0\n0,1,2,x\n", "line 2"),
        ("t_ms,r0,g0,b0\n10,1,2,3\n5,1,2,3\n", "backwards"),
        ("t_ms,r0,g0,b0\n", "no frames"),
        (b"\xff\xfe\x00garbage", "line"),
    ],
)
def test_bad_csv_gives_one_line_and_exit_2(tmp_path, capsys, content, words):
    path = tmp_path / "leds.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert cli.main(["check-leds", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert words in err and "check-leds: error:" in err
