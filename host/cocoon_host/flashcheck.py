"""`cocoon check-leds FILE.csv`: count WCAG 2.x flashes in a recording of a strip's frames.

    cocoon sim --scenario synthetic:bpm=200 --speed max --until 60 --record-leds leds.csv
    cocoon check-leds leds.csv            # exit 0: compliant, 1: too many flashes, 2: bad file

An independent checker of the firmware's flash-safety limiter (cocoon/core/limiter.py): floating
point, written from the definitions, sharing no code with the firmware. Tests use it through
`FlashAnalyzer` (feed frames, read the result); the CLI reads the CSV the virtual board records
(header `t_ms,r0,g0,b0,r1,...`, then one line per frame).

Definitions (WCAG 2.2, "general flash and red flash thresholds", success criterion 2.3.1):
- A general flash is a pair of opposing changes in relative luminance of 10% or more of the
  maximum relative luminance where the relative luminance of the darker image is below 0.80.
- A red flash is a pair of opposing transitions involving a saturated red: one of the two states of
  a transition has R/(R+G+B) >= 0.8 (the working definition in WCAG 2.2's note). Here, both
  states must also differ by 10% in luminance as above (the project's definition, domain notes);
  WCAG 2.2's chromaticity-only red transitions (a change of more than 0.2 in CIE 1976 u'v') are not
  counted.
- More than 3 flashes in any one-second period fails: that is 7 or more alternating transitions
  (Trace Center's photosensitive-epilepsy test media: "flash count threshold of >3 flashes per
  second (i.e., 7 or more alternating transitions)").
- Strip values are linear light (they come after the firmware's gamma), so the relative luminance
  of an LED is (0.2126 R + 0.7152 G + 0.0722 B) / 255. A region's luminance is the mean over its
  LEDs; saturation is computed on the region's summed R, G, B.
- A cocoon fills the field of view: the small-area exemption never applies. Every frame is checked
  over the whole strip and over each quarter (quarter q: LEDs n*q//4 .. n*(q+1)//4 - 1).

How transitions are found: a hysteresis tracker per region follows the extreme since the last
reversal and records a transition at the frame where the luminance has come back from it by 0.10
or more. This counts a ramp with small wiggles (dithering) as one transition, where a detector
that restarts at every small reversal would miss it. A transition's two states are the extreme it
left and the extreme it reaches; the darker state and the red test use those two, and it counts at
the time it was recorded. The frame stream is taken as shown: each frame stays lit until the next.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CocoonError

DELTA = 0.10  # a transition: relative luminance changes by 10% of the maximum or more
DARK = 0.80  # ... and the darker of its two states is below 0.80
RED_RATIO = 0.8  # saturated red: R / (R + G + B) >= 0.8
WINDOW_MS = 1000  # any one-second period
MAX_TRANSITIONS = 6  # 3 flashes = 6 alternating transitions; a 7th in a second fails
W_R, W_G, W_B = 0.2126, 0.7152, 0.0722  # relative luminance of linear R, G, B (sRGB primaries)

REGION_NAMES = ("strip", "quarter 1", "quarter 2", "quarter 3", "quarter 4")


@dataclass
class Transition:
    t_ms: int  # when the change reached 10%
    rising: bool
    darker: float  # luminance of the darker of the two states
    red: bool  # one of the two states is saturated red


@dataclass
class RegionResult:
    name: str
    first: int  # LED index range [first, stop)
    stop: int
    transitions: int = 0  # counted general transitions in the whole recording
    red_transitions: int = 0
    max_in_window: int = 0  # most general transitions in any one-second period
    max_red_in_window: int = 0
    worst_t_ms: int | None = None  # start of that period
    worst_red_t_ms: int | None = None
    min_luminance: float = 1.0
    max_luminance: float = 0.0

    @property
    def max_flashes(self) -> float:
        return self.max_in_window / 2

    @property
    def max_red_flashes(self) -> float:
        return self.max_red_in_window / 2

    @property
    def ok(self) -> bool:
        return self.max_in_window <= MAX_TRANSITIONS and self.max_red_in_window <= MAX_TRANSITIONS


@dataclass
class Result:
    n_leds: int
    frames: int
    first_ms: int | None
    last_ms: int | None
    regions: list[RegionResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.regions)

    @property
    def max_flashes(self) -> float:
        return max((r.max_flashes for r in self.regions), default=0.0)

    @property
    def max_red_flashes(self) -> float:
        return max((r.max_red_flashes for r in self.regions), default=0.0)

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "leds": self.n_leds,
            "frames": self.frames,
            "duration_ms": (self.last_ms - self.first_ms) if self.frames else 0,
            "max_flashes_per_s": self.max_flashes,
            "max_red_flashes_per_s": self.max_red_flashes,
            "regions": [
                {
                    "name": r.name,
                    "leds": [r.first, r.stop],
                    "ok": r.ok,
                    "transitions": r.transitions,
                    "red_transitions": r.red_transitions,
                    "max_flashes_per_s": r.max_flashes,
                    "max_red_flashes_per_s": r.max_red_flashes,
                    "worst_t_ms": r.worst_t_ms,
                    "worst_red_t_ms": r.worst_red_t_ms,
                    "luminance": [round(r.min_luminance, 4), round(r.max_luminance, 4)],
                }
                for r in self.regions
            ],
        }


class _Window:
    """Most events in any closed window [t, t + WINDOW_MS] of a time-ordered event stream."""

    def __init__(self) -> None:
        self.times: deque[int] = deque()
        self.most = 0
        self.worst_t: int | None = None

    def add(self, t_ms: int) -> None:
        self.times.append(t_ms)
        while t_ms - self.times[0] > WINDOW_MS:
            self.times.popleft()
        if len(self.times) > self.most:
            self.most = len(self.times)
            self.worst_t = self.times[0]


class _Tracker:
    """Hysteresis transition finder for one region's luminance (see the module docstring)."""

    def __init__(self, result: RegionResult) -> None:
        self.result = result
        self.direction = 0  # 0: none yet, +1: rising (tracking a maximum), -1: falling
        # Extremes: (luminance, saturated red) of the highest and lowest state since the last
        # transition (before the first one, both are tracked).
        self.hi: tuple[float, bool] | None = None
        self.lo: tuple[float, bool] | None = None
        self.pending: tuple[int, bool, tuple[float, bool]] | None = None  # t, rising, from-state
        self.general = _Window()
        self.red = _Window()

    def feed(self, t_ms: int, lum: float, sat: bool) -> None:
        res = self.result
        res.min_luminance = min(res.min_luminance, lum)
        res.max_luminance = max(res.max_luminance, lum)
        state = (lum, sat)
        if self.hi is None or self.lo is None:
            self.hi = self.lo = state
            return
        if self.direction >= 0 and self.hi[0] - lum >= DELTA:
            self._reverse(t_ms, rising=False, left=self.hi, state=state)
        elif self.direction <= 0 and lum - self.lo[0] >= DELTA:
            self._reverse(t_ms, rising=True, left=self.lo, state=state)
        else:
            if lum > self.hi[0] or (lum == self.hi[0] and sat):
                self.hi = state
            if lum < self.lo[0] or (lum == self.lo[0] and sat):
                self.lo = state

    def _reverse(self, t_ms, rising, left, state) -> None:
        # The previous transition now knows the extreme it reached: `left`.
        self._close(left)
        self.pending = (t_ms, rising, left)
        self.direction = 1 if rising else -1
        self.hi = self.lo = state

    def _close(self, reached: tuple[float, bool]) -> None:
        if self.pending is None:
            return
        t_ms, rising, left = self.pending
        self.pending = None
        darker = min(left[0], reached[0])
        if darker >= DARK:
            return
        red = left[1] or reached[1]
        res = self.result
        res.transitions += 1
        self.general.add(t_ms)
        if red:
            res.red_transitions += 1
            self.red.add(t_ms)

    def finish(self) -> None:
        if self.pending is not None:
            rising = self.pending[1]
            reached = self.hi if rising else self.lo
            assert reached is not None
            self._close(reached)
        res = self.result
        res.max_in_window, res.worst_t_ms = self.general.most, self.general.worst_t
        res.max_red_in_window, res.worst_red_t_ms = self.red.most, self.red.worst_t


def regions_of(n_leds: int) -> list[tuple[str, int, int]]:
    """(name, first, stop) of the whole strip and of each non-empty quarter."""
    out = [(REGION_NAMES[0], 0, n_leds)]
    for q in range(4):
        first, stop = n_leds * q // 4, n_leds * (q + 1) // 4
        if stop > first:
            out.append((REGION_NAMES[q + 1], first, stop))
    return out


class FlashAnalyzer:
    """Feed frames in time order; result() counts the flashes.

    a = FlashAnalyzer(60); a.feed(0, rgb0); a.feed(20, rgb1); ...; a.result().ok
    """

    def __init__(self, n_leds: int) -> None:
        if n_leds < 1:
            raise ValueError("a strip has at least one LED")
        self.n_leds = n_leds
        self.frames = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self._regions = [RegionResult(name, a, b) for name, a, b in regions_of(n_leds)]
        self._trackers = [_Tracker(r) for r in self._regions]
        self._done = False

    def feed(self, t_ms: int, rgb: Sequence[int]) -> None:
        if self._done:
            raise RuntimeError("result() was already taken")
        if len(rgb) != 3 * self.n_leds:
            raise ValueError(f"a frame has {3 * self.n_leds} values, got {len(rgb)}")
        if self.last_ms is not None and t_ms < self.last_ms:
            raise ValueError(f"time went backwards: {t_ms} ms after {self.last_ms} ms")
        if self.first_ms is None:
            self.first_ms = t_ms
        self.last_ms = t_ms
        self.frames += 1
        for reg, tracker in zip(self._regions, self._trackers, strict=True):
            r = sum(rgb[3 * reg.first : 3 * reg.stop : 3])
            g = sum(rgb[3 * reg.first + 1 : 3 * reg.stop : 3])
            b = sum(rgb[3 * reg.first + 2 : 3 * reg.stop : 3])
            count = reg.stop - reg.first
            lum = (W_R * r + W_G * g + W_B * b) / (255.0 * count)
            total = r + g + b
            sat = total > 0 and r / total >= RED_RATIO
            tracker.feed(t_ms, lum, sat)

    def result(self) -> Result:
        if not self._done:
            for tracker in self._trackers:
                tracker.finish()
            self._done = True
        return Result(self.n_leds, self.frames, self.first_ms, self.last_ms, self._regions)


def analyze(frames: Iterable[tuple[int, Sequence[int]]], n_leds: int) -> Result:
    """Check a whole stream of (t_ms, rgb) frames."""
    a = FlashAnalyzer(n_leds)
    for t_ms, rgb in frames:
        a.feed(t_ms, rgb)
    return a.result()


def read_csv(path: Path) -> Result:
    """Check a --record-leds CSV; a file that is not one raises CocoonError naming the line."""
    hint = "expected the CSV written by `cocoon sim --record-leds` (header t_ms,r0,g0,b0,...)"
    try:
        f = path.open(newline="")
    except FileNotFoundError:
        raise CocoonError(f"{path}: no such file", "check the path") from None
    except OSError as e:
        raise CocoonError(f"{path}: cannot read it ({e.strerror})", "check the path") from None
    with f:
        rows = csv.reader(f)
        try:
            header = next(rows, None)
        except (csv.Error, UnicodeDecodeError) as e:
            raise CocoonError(f"{path}: not a CSV file ({e})", hint) from None
        if not header:
            raise CocoonError(f"{path}: the file is empty", hint)
        header = [h.strip() for h in header]
        n_values = len(header) - 1
        if header[0] != "t_ms" or n_values < 3 or n_values % 3:
            raise CocoonError(f"{path}: line 1 is not a t_ms,r0,g0,b0,... header", hint)
        a = FlashAnalyzer(n_values // 3)
        line = 1
        try:
            for row in rows:
                line = rows.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != len(header):
                    raise ValueError(f"{len(row)} columns where the header has {len(header)}")
                values = [int(v) for v in row]
                if any(v < 0 or v > 255 for v in values[1:]):
                    raise ValueError("a colour value is outside 0..255")
                a.feed(values[0], values[1:])
        except (ValueError, csv.Error, UnicodeDecodeError) as e:
            raise CocoonError(f"{path}: line {line}: {e}", hint) from None
    if a.frames == 0:
        raise CocoonError(f"{path}: no frames after the header", hint)
    return a.result()


def format_report(res: Result, path: str = "") -> str:
    seconds = ((res.last_ms or 0) - (res.first_ms or 0)) / 1000
    fps = (res.frames - 1) / seconds if seconds > 0 else 0.0
    lines = [
        f"{path or 'frames'}: {res.frames} frames of {res.n_leds} LEDs over {seconds:.1f} s "
        f"({fps:.0f} fps)",
        f"{'region':<10} {'LEDs':>9} {'luminance':>13} {'flashes/s':>9} {'red/s':>6}  worst at",
    ]
    for r in res.regions:
        worst = r.worst_t_ms if r.max_in_window >= r.max_red_in_window else r.worst_red_t_ms
        where = f"{worst} ms" if worst is not None and (r.max_in_window or 0) else "-"
        mark = "" if r.ok else "  TOO MANY"
        lines.append(
            f"{r.name:<10} {r.first:>4}-{r.stop - 1:<4} "
            f"{r.min_luminance:>6.3f}-{r.max_luminance:<6.3f} "
            f"{r.max_flashes:>9.1f} {r.max_red_flashes:>6.1f}  {where}{mark}"
        )
    verdict = (
        "PASS: at most 3 general and 3 red flashes in any second (WCAG 2.3.1)"
        if res.ok
        else "FAIL: more than 3 flashes in one second (WCAG 2.3.1)"
    )
    lines.append(verdict)
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="CSV written by `cocoon sim --record-leds`")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def run(args: argparse.Namespace) -> int:
    try:
        res = read_csv(args.file)
    except CocoonError as e:
        e.exit_code = 2
        raise
    if args.json:
        print(json.dumps(res.to_json()))
    else:
        print(format_report(res, str(args.file)))
    return 0 if res.ok else 1


if __name__ == "__main__":  # pragma: no cover
    ns = argparse.ArgumentParser(prog="flashcheck")
    add_arguments(ns)
    sys.exit(run(ns.parse_args()))
