"""`cocoon eval lock DIR`: how fast and how well the firmware's phase-sync loop locks to beats.

    cocoon eval lock ../shared/data/welltory-ppg
    cocoon eval lock ../shared/data/welltory-ppg --json --offset 20 --subjects even

Every recording under DIR (DIR itself or its sub-folders) with an RR.txt (RR intervals in ms,
space separated: the welltory-ppg format) is fed beat by beat through cocoon.core.phasesync on the
MicroPython unix port (one subprocess, JSON lines), as the board runs it: blocks of ticks, beats
reported late (detector latency) with sub-tick timestamps. Per recording:

    lock_beats       beats fed until the loop first declared LOCKED, from the default resting rate
                     (or --offset PCT: from the recording's first-beats rate off by PCT percent)
    rms_error_ms     RMS of the beat-phase error at every beat after the lock (rejected beats
                     included), converted to ms with the loop's own beat period
    rmssd_ms         RMSSD of the recording: the RMS error of "the next beat comes one previous
                     interval after the last one", the baseline the loop should beat
    max_step_turns   the largest phase correction applied in one tick, in pulse turns
    rejected         beats after the lock that the loop refused (ectopic, extra)

Summary: median_lock_beats, rms_error_ms and rmssd_ms pooled over all beats of all recordings,
max_step_turns. --subjects odd|even|all|GLOB picks recordings: the loop's settings were chosen
(bench/tune_sync.py) on synthetic series (synthetic_rr() below) and on the odd-numbered welltory
subjects only; the even-numbered ones are the held-out set.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

from .errors import CocoonError

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
DRIVER = Path(__file__).resolve().parent / "eval_lock_mp.py"
LOCKED = 2  # cocoon.core.phasesync.LOCKED
REJECTED = 2  # cocoon.core.phasesync.REJECTED
TIMEOUT_S = 300.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="folder of recordings (each with an RR.txt)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--offset",
        type=float,
        default=None,
        metavar="PCT",
        help="start PCT%% off the recording's first-beats rate instead of the resting rate",
    )
    p.add_argument(
        "--latency-ms",
        type=int,
        default=100,
        help="delay between a beat and its report to the loop (beat detector latency; 100)",
    )
    p.add_argument(
        "--ratio", type=int, default=None, help="beats per light pulse (default: firmware's)"
    )
    p.add_argument(
        "--subjects",
        default="all",
        metavar="odd|even|all|GLOB",
        help="which recordings: by the number in the name (odd: the tuning set, even: held out) "
        "or a glob on the name (default: all)",
    )


# --- reading recordings ----------------------------------------------------------------------


def read_rr(path: Path) -> list[float]:
    """RR intervals in ms from an RR.txt; CocoonError naming the file if it is not one."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CocoonError(f"cannot read {path}: {e}", "check the file") from None
    values = []
    for i, word in enumerate(text.split()):
        try:
            v = float(word)
        except ValueError:
            raise CocoonError(
                f"{path}: item {i + 1} ({word[:20]!r}) is not a number",
                "RR.txt holds RR intervals in ms, separated by spaces",
            ) from None
        if not math.isfinite(v) or v <= 0 or v > 10_000:
            raise CocoonError(
                f"{path}: item {i + 1} ({word[:20]}) is not an RR interval in ms",
                "expected values between 0 and 10000",
            )
        values.append(v)
    if len(values) < 3:
        raise CocoonError(f"{path} has fewer than 3 RR intervals", "nothing to evaluate")
    return values


def find_recordings(root: Path) -> list[tuple[str, Path]]:
    if not root.exists():
        raise CocoonError(
            f"{root} does not exist", "give a folder of recordings with RR.txt files"
        )
    if not root.is_dir():
        raise CocoonError(
            f"{root} is not a folder", "give a folder of recordings with RR.txt files"
        )
    found = []
    if (root / "RR.txt").is_file():
        found.append((root.name, root / "RR.txt"))
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if (sub / "RR.txt").is_file():
            found.append((sub.name, sub / "RR.txt"))
    if not found:
        raise CocoonError(
            f"no RR.txt in {root} or its sub-folders",
            "point at a folder like ../shared/data/welltory-ppg",
        )
    return found


def select_subjects(found: list[tuple[str, Path]], which: str) -> list[tuple[str, Path]]:
    """Keep the recordings that `which` names: "all", "odd" or "even" (by the last number in the
    name: subject_03 is odd) or a glob on the name. The odd/even split is how the loop is tuned
    (odd) and reported (even held out): see bench/tune_sync.py."""
    if which == "all":
        return found
    if which in ("odd", "even"):
        kept = []
        for name, path in found:
            digits = re.findall(r"\d+", name)
            if not digits:
                raise CocoonError(
                    f"--subjects {which}: recording {name!r} has no number in its name",
                    "use --subjects all or a glob",
                )
            if int(digits[-1]) % 2 == (which == "odd"):
                kept.append((name, path))
    else:
        kept = [(name, path) for name, path in found if fnmatch.fnmatchcase(name, which)]
    if not kept:
        raise CocoonError(
            f"--subjects {which} matches none of the {len(found)} recordings",
            "use odd, even, all or a glob such as 'subject_0*'",
        )
    return kept


# --- running the firmware on the unix port ---------------------------------------------------


def micropython_exe() -> str:
    exe = Path(sys.executable).parent / "micropython"
    if not exe.exists():
        raise CocoonError("the MicroPython unix port is not installed", "run `make setup`")
    return str(exe)


def run_on_micropython(requests: list[dict]) -> list[dict]:
    """Send every request to one MicroPython process; return its answers in order."""
    env = dict(os.environ)
    env["MICROPYPATH"] = f"{FIRMWARE}:.frozen"
    payload = "".join(json.dumps(r) + "\n" for r in requests)
    try:
        proc = subprocess.run(
            [micropython_exe(), "-X", "heapsize=64M", str(DRIVER)],
            input=payload,
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise CocoonError(
            f"the firmware loop did not finish within {TIMEOUT_S:.0f} s", "try fewer recordings"
        ) from None
    answers = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or len(answers) != len(requests):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CocoonError(f"the firmware loop failed on the unix port: {last}", "see the firmware")
    return answers


# --- metrics -------------------------------------------------------------------------------------


def rmssd(rr: list[float]) -> float:
    d = [(b - a) ** 2 for a, b in zip(rr, rr[1:], strict=False)]
    return math.sqrt(sum(d) / len(d))


def first_rate_start_freq(rr: list[float], offset_pct: float, tick_us: int, ratio: int) -> int:
    """freq_q32 of a pulse at the mean rate of the first 5 beats, off by offset_pct percent."""
    head = rr[:5]
    beat_hz = 1000.0 / (sum(head) / len(head)) * (1 + offset_pct / 100)
    return int(beat_hz / ratio * tick_us * 1e-6 * 2**32)


def metrics(name: str, rr: list[float], answer: dict) -> dict:
    if "error" in answer:
        raise CocoonError(
            f"{name}: the firmware loop failed: {answer['error']}", "see the firmware"
        )
    beats = answer["beats"]
    tick_us, ratio = answer["tick_us"], answer["ratio"]
    lock_at = next((i for i, b in enumerate(beats) if b[2] == LOCKED), None)
    errors_ms = []
    rejected = 0
    if lock_at is not None:
        for verdict, err_q16, _, freq in beats[lock_at + 1 :]:
            period_ms = tick_us * 2**32 / (1000 * ratio * freq)
            errors_ms.append(err_q16 / 65536 * period_ms)
            rejected += verdict == REJECTED
    return {
        "name": name,
        "beats": len(beats),
        "lock_beats": None if lock_at is None else lock_at + 1,
        "rms_error_ms": _rms(errors_ms),
        "rmssd_ms": round(rmssd(rr), 2),
        "max_step_turns": answer["max_step_q32"] / 2**32,
        "rejected": rejected,
        "_sq_errors": sum(e * e for e in errors_ms),
        "_n_errors": len(errors_ms),
    }


def _rms(values: list[float]) -> float | None:
    return round(math.sqrt(sum(v * v for v in values) / len(values)), 2) if values else None


def summarize(rows: list[dict], rr_by_name: dict[str, list[float]]) -> dict:
    locks = sorted(r["lock_beats"] for r in rows if r["lock_beats"] is not None)
    n_err = sum(r["_n_errors"] for r in rows)
    sq_diff = [
        sum((b - a) ** 2 for a, b in zip(rr, rr[1:], strict=False)) for rr in rr_by_name.values()
    ]
    n_diff = sum(len(rr) - 1 for rr in rr_by_name.values())
    return {
        "recordings_locked": len(locks),
        "median_lock_beats": _median(locks),
        "rms_error_ms": round(math.sqrt(sum(r["_sq_errors"] for r in rows) / n_err), 2)
        if n_err
        else None,
        "rmssd_ms": round(math.sqrt(sum(sq_diff) / n_diff), 2),
        "max_step_turns": max(r["max_step_turns"] for r in rows),
    }


def _median(values: list) -> float | None:
    if not values:
        return None
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def evaluate(
    recordings: list[tuple[str, list[float]]],
    settings: dict | None = None,
    offset_pct: float | None = None,
    latency_ms: int = 100,
    runner=run_on_micropython,
) -> dict:
    """Feed each (name, rr_ms) through the loop; return {"recordings": [...], summary keys}."""
    settings = dict(settings or {})
    tick_us = settings.get("tick_us", 10_000)
    ratio = settings.get("ratio", 4)
    requests = []
    for name, rr in recordings:
        start = None
        if offset_pct is not None:
            start = first_rate_start_freq(rr, offset_pct, tick_us, ratio)
        requests.append(
            {
                "id": name,
                "rr_ms": rr,
                "settings": settings,
                "start_freq_q32": start,
                "block_ticks": 2,
                "latency_ms": latency_ms,
            }
        )
    answers = runner(requests)
    rows = [metrics(name, rr, a) for (name, rr), a in zip(recordings, answers, strict=True)]
    out = {"recordings": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]}
    out.update(summarize(rows, dict(recordings)))
    return out


def run_in_process(requests: list[dict]) -> list[dict]:
    """The same driver on CPython (for tuning on synthetic data: faster, same integers)."""
    _cpython_micropython_module()
    from . import eval_lock_mp

    answers = []
    for req in requests:
        beats, sync = eval_lock_mp.simulate(
            req["rr_ms"],
            req["settings"],
            req["start_freq_q32"],
            req["block_ticks"],
            req["latency_ms"],
        )
        answers.append(
            {
                "id": req["id"],
                "beats": beats,
                "max_step_q32": sync.max_step_q32(),
                "tick_us": sync.tick_us,
                "ratio": sync.ratio,
            }
        )
    return answers


def _cpython_micropython_module() -> None:
    # The firmware imports `micropython` (const, viper); CPython has none. Identity stand-ins run
    # the viper source as plain Python (tests/firmware/core/test_phasesync_exact.py: exact).
    if "micropython" in sys.modules:
        return
    import types

    mod = types.ModuleType("micropython")
    mod.const = lambda x: x  # type: ignore[attr-defined]
    mod.viper = mod.native = lambda f: f  # type: ignore[attr-defined]
    sys.modules["micropython"] = mod


# --- synthetic beats, for tuning -----------------------------------------------------------------


def synthetic_rr(seed: int, n: int = 100) -> list[float]:
    """A plausible resting RR series: mean rate, respiratory sinus arrhythmia, a Mayer wave near
    0.1 Hz, a slow wander, beat-to-beat noise, the odd premature beat with its compensatory
    pause, and the beat detector's timing jitter. Ranges from the literature, not fitted to any
    recording: short-term RMSSD around 20-50 ms at rest (Task Force 1996; Nunan et al. 2010),
    and RSA from a few ms in shallow breathing up to ~150 ms with slow deep breathing (5-6/min:
    Lehrer & Gevirtz 2014), which people often do while they measure or fall asleep. Jitter:
    PPG beat times from a 30 fps phone camera are quantised to 33 ms, and a poor contact moves
    the detected peak by tens of ms (Schäfer & Vagedes 2013): 2-60 ms RMS on each beat time,
    so successive intervals share it with opposite signs."""
    rnd = random.Random(seed)
    mean = rnd.uniform(600, 1150)
    rsa = math.exp(rnd.uniform(math.log(5), math.log(150)))
    breath_hz = rnd.uniform(5, 18) / 60
    mayer = rnd.uniform(0, 40)
    noise = rnd.uniform(2, 15)
    jitter = math.exp(rnd.uniform(math.log(2), math.log(60)))
    ph1, ph2 = rnd.uniform(0, 2 * math.pi), rnd.uniform(0, 2 * math.pi)
    wander, t, out = 0.0, 0.0, []
    while len(out) < n:
        wander = 0.97 * wander + rnd.gauss(0, 5)
        rr = (
            mean
            + rsa * math.sin(2 * math.pi * breath_hz * t / 1000 + ph1)
            + mayer * math.sin(2 * math.pi * 0.1 * t / 1000 + ph2)
            + wander
            + rnd.gauss(0, noise)
        )
        rr = max(300.0, rr)
        if rnd.random() < 0.003 and len(out) < n - 1:  # premature beat + compensatory pause
            out += [0.7 * rr, 1.3 * rr]
            t += 2 * rr
            continue
        out.append(rr)
        t += rr
    # Jitter on the beat times, not on the intervals: interval i gains j_i - j_(i-1).
    j = [rnd.gauss(0, jitter) for _ in range(n + 1)]
    return [round(max(250.0, x + j[i + 1] - j[i])) for i, x in enumerate(out[:n])]


# --- the command ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    found = select_subjects(find_recordings(root), args.subjects)
    recordings = [(name, read_rr(path)) for name, path in found]
    settings = {}
    if args.ratio is not None:
        if not 1 <= args.ratio <= 8:
            raise CocoonError(f"--ratio {args.ratio} is out of range", "use 1..8 beats per pulse")
        settings["ratio"] = args.ratio
    if args.latency_ms < 0 or args.latency_ms > 1500:
        raise CocoonError(f"--latency-ms {args.latency_ms} is out of range", "use 0..1500")
    result = evaluate(recordings, settings, args.offset, args.latency_ms)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(format_table(result, args.offset, args.subjects))
    return 0


def format_table(result: dict, offset_pct: float | None, subjects: str = "all") -> str:
    start = "resting rate" if offset_pct is None else f"first-beats rate {offset_pct:+g}%"
    lines = [
        f"phase-sync lock on recorded beats (start: {start}; subjects: {subjects}; "
        "firmware on the unix port)",
        f"{'recording':<16}{'beats':>6}{'lock':>6}{'rms err ms':>12}{'RMSSD ms':>10}"
        f"{'max step':>10}{'rejected':>9}",
    ]
    for r in result["recordings"]:
        lock = "-" if r["lock_beats"] is None else str(r["lock_beats"])
        err = "-" if r["rms_error_ms"] is None else f"{r['rms_error_ms']:.1f}"
        lines.append(
            f"{r['name']:<16}{r['beats']:>6}{lock:>6}{err:>12}{r['rmssd_ms']:>10.1f}"
            f"{r['max_step_turns']:>10.5f}{r['rejected']:>9}"
        )
    med = result["median_lock_beats"]
    err = result["rms_error_ms"]
    lines.append(
        f"{'all':<16}{'':>6}{'-' if med is None else med:>6}"
        f"{'-' if err is None else f'{err:.1f}':>12}{result['rmssd_ms']:>10.1f}"
        f"{result['max_step_turns']:>10.5f}"
    )
    lines.append(
        f"locked {result['recordings_locked']} of {len(result['recordings'])}; median lock_beats, "
        "pooled RMS; max step in pulse turns per tick"
    )
    return "\n".join(lines)
