"""`cocoon night`: a whole night on a virtual board, at full speed, recorded and scored.

    cocoon night --out night.jsonl                          # 8 h of the synthetic sleeper
    cocoon night --hours 8 --alarm 7.5 --scenario synthetic:profile=hypnogram,seed=4 --out n.jsonl

Starts `cocoon sim --speed max --until HOURS*3600 --scenario S` on a fresh filesystem with this
repository's firmware and a stored config that sets the light's frame rate (--fps: the app's loop
runs at that rate from boot, 5x fewer iterations at 10 fps than at the firmware's 50), connects at
once and records every telemetry frame as JSON lines (the
format of `cocoon telemetry --record`, flushed line by line: an interrupted night keeps what it
recorded). With --alarm, the smart wake is set that many hours after lights-out (board start).
At the end, if the scenario follows a known hypnogram (`profile=hypnogram`, firmware/ports/sim/
hypnogram.py), the EPOCH frames' stages are scored against it: Cohen's kappa for 4 classes and
for sleep/wake, with the confusion matrix. The last ~7 min of the night are never staged: their
features need samples from after the end (core/epoch.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from cocoon import proto

from . import build, telemetry
from . import model as M
from .errors import CocoonError
from .eval_stages import _finite
from .sim import SimProcess
from .sim_runner import SIM_PORT_DIR

DEFAULT_SCENARIO = "synthetic:profile=hypnogram,seed=1"
EPOCH_S = 30
# Where the virtual board keeps its config (firmware/ports/sim/board.py STORE_PATH, the ESP32's NVS
# blob): one JSON object, overlaid on the defaults by cocoon/config.py.
STORE = Path(".nvs") / "cocoon.bin"
# The board's heap: an ESP32's (~110-200 kB without SPIRAM) doubled for 64-bit objects, plus the
# sim's own parts; a night uses ~290 kB before its per-second collection. The sim's default (2 MB)
# costs time: the STATE frame's gc.mem_free()/mem_alloc() and gc.collect() walk the whole heap
# every second (~0.25 ms at 2 MB, ~0.1 ms at 768 kB: ~4 s of an 8-h night).
HEAP_KB = 768


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="JSON-lines file to record into")
    p.add_argument("--hours", type=float, default=8.0, help="length of the night (default 8)")
    p.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        help=f"what the sensors feel (cocoon sim --scenario; default {DEFAULT_SCENARIO})",
    )
    p.add_argument("--alarm", type=float, metavar="H", help="smart-wake alarm H hours in")
    p.add_argument("--window", type=float, default=30, metavar="MIN", help="wake window (30)")
    p.add_argument(
        "--fps",
        type=int,
        default=10,
        help="the light's frame rate during the night (default 10, the lowest the config allows:"
        " 5x fewer frames to render; the stages do not depend on it; 50 is the firmware's own)",
    )
    p.add_argument(
        "--state-s",
        type=int,
        default=10,
        metavar="S",
        help="a STATE frame every S virtual seconds (default 10; EPOCH and EVENT frames are all"
        " kept; 1 is the firmware's own, and costs ~0.6 ms of the board's time per second)",
    )
    p.add_argument(
        "--heap-kb",
        type=int,
        default=HEAP_KB,
        metavar="KB",
        help=f"the virtual board's heap (default {HEAP_KB}; more for a long replay recording)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument(
        "--timeout", type=float, default=900.0, help="give up after this many seconds of wall time"
    )


def hypnogram(spec: str):
    """The scenario's hypnogram profile (built exactly as the virtual board builds it), or None."""
    if str(SIM_PORT_DIR) not in sys.path:
        sys.path.insert(0, str(SIM_PORT_DIR))
    import scenario as sim_scenario  # firmware/ports/sim/scenario.py: plain Python

    try:
        sc = sim_scenario.build(spec)
    except ValueError as e:
        raise CocoonError(f"--scenario {spec}: {e}", "see cocoon sim --help") from None
    profile = getattr(sc, "profile", None)
    return profile if hasattr(profile, "stage") else None


def _connect(url: str) -> socket.socket:
    """The virtual board's link, read in large blocks (the board waits for us: backpressure)."""
    host, _, port = url.removeprefix("socket://").rpartition(":")
    try:
        conn = socket.create_connection((host, int(port)), timeout=10)
    except (OSError, ValueError) as e:
        raise CocoonError(f"cannot connect to the virtual board at {url}: {e}", "") from None
    conn.settimeout(0.5)
    return conn


def prepare_board(folder: Path, fps: int, state_s: int = 1) -> None:
    """The board's filesystem: this repository's firmware, and a stored config with the night's
    frame rate and STATE period, so that the app runs at them from the first iteration."""
    build.install_into_folder(folder, target="sim", march=build.unix_port_march())
    (folder / STORE).parent.mkdir(parents=True, exist_ok=True)
    (folder / STORE).write_text(json.dumps({"fps": fps, "state_ms": state_s * 1000}))


def record_night(args: argparse.Namespace, rec: telemetry.Recorder) -> dict:
    """Run the virtual board and record its frames; returns what the summary needs."""
    until_s = args.hours * 3600.0
    t0 = time.monotonic()  # the wall time counts the board's preparation too
    folder = Path(tempfile.mkdtemp(prefix="cocoon-night-"))
    try:
        prepare_board(folder, args.fps, args.state_s)
        return _record(args, rec, folder, until_s, t0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _record(
    args: argparse.Namespace, rec: telemetry.Recorder, fs: Path, until_s: float, t0: float
) -> dict:
    sim = SimProcess(
        ["--fs", str(fs), "--speed", "max", "--until", f"{until_s:g}",
         "--scenario", args.scenario, "--heap-kb", str(args.heap_kb)]
    )  # fmt: skip
    parser = proto.Parser()
    epochs: list[dict] = []
    events: list[dict] = []
    last_up_ms = 0
    sim.start()
    conn = _connect(sim.url)
    try:
        if args.alarm is not None:
            cmd = proto.command(2, "alarm", in_min=args.alarm * 60, window_min=args.window)
            conn.sendall(cmd)
        while True:
            if time.monotonic() - t0 > args.timeout:
                raise CocoonError(
                    f"the night did not finish in {args.timeout:g} s of wall time",
                    "try fewer --hours or a larger --timeout",
                )
            try:
                data = conn.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                break  # the board reached --until: the virtual board closed the link
            t = time.time()
            for frame in parser.feed(data):
                rec.write(telemetry.frame_record(frame, t))
                last_up_ms = max(last_up_ms, frame.uptime_ms)
                if frame.type == proto.EPOCH:
                    epochs.append(dict(frame.payload, uptime_ms=frame.uptime_ms))
                elif frame.type == proto.EVENT:
                    events.append(dict(frame.payload, uptime_ms=frame.uptime_ms))
    finally:
        conn.close()
        err = sim.stop()
    wall_s = time.monotonic() - t0
    if parser.frames == 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise CocoonError(f"the virtual board sent no telemetry ({last})", "try `cocoon sim`")
    return {
        "wall_s": wall_s,
        "virtual_s": until_s,
        "frames": parser.frames,
        "damaged": parser.damaged,
        "last_uptime_s": last_up_ms / 1000,
        "epochs": epochs,
        "events": events,
    }


def score(epochs: list[dict], profile) -> dict | None:
    """The published stages against the scenario's hypnogram (at each epoch's middle)."""
    if profile is None or not epochs:
        return None
    names = {n: i for i, n in enumerate(M.STAGES)}
    y, p = [], []
    for e in epochs:
        # Lights-out is the app's first second; the scenario's clock starts with the board.
        lights_out_s = e["uptime_ms"] / 1000 - e["t_s"] - EPOCH_S - e["delay_s"]
        y.append(profile.stage(lights_out_s + e["t_s"] + EPOCH_S / 2))
        p.append(names[e["stage"]])
    sc = M.scores(np.array(y), np.array(p))
    return {
        "epochs": sc["epochs"],
        "four_class": {k: sc["four_class"][k] for k in ("accuracy", "kappa", "confusion")},
        "sleep_wake": {k: sc["sleep_wake"][k] for k in ("accuracy", "kappa")},
        "three_class": {k: sc["three_class"][k] for k in ("accuracy", "kappa")},
        "truth_share": [round(float(np.mean(np.array(y) == k)), 3) for k in range(4)],
    }


def wake_summary(events: list[dict], profile, alarm_h: float | None) -> dict | None:
    if alarm_h is None:
        return None
    out: dict = {"alarm_h": alarm_h}
    for ev in events:
        if ev.get("ev") == "wake":
            out.update(
                reason=ev.get("reason"),
                decided_h=ev["uptime_ms"] / 3.6e6,
                epoch_h=ev.get("epoch_t_s", 0) / 3600,
                full_h=(ev["uptime_ms"] / 1000 + ev.get("full_in_s", 0)) / 3600,
                stage=ev.get("stage"),
            )
            if profile is not None and ev.get("epoch_t_s") is not None:
                truth = profile.stage(ev["epoch_t_s"] + EPOCH_S / 2)
                out["true_stage"] = M.STAGES[truth]
        elif ev.get("ev") == "ack" and ev.get("ok") is False:
            out["error"] = ev.get("error")
    return out


def render(s: dict) -> str:
    lines = [
        f"night: {s['hours']:g} h of {s['scenario']} in {s['wall_s']:.1f} s of wall time "
        f"({s['speedup']:.0f}x real time, light at {s['fps']} fps); {s['frames']} frames "
        f"recorded in {s['out']}",
        f"stages: {s['epochs']} EPOCH frames (each published ~7 min after its epoch: the "
        "features look ahead)",
    ]
    sc = s.get("score")
    if sc is None:
        lines.append("not scored: the scenario has no hypnogram (use profile=hypnogram)")
    else:
        f4 = sc["four_class"]
        lines.append(
            f"against the scenario's hypnogram ({sc['epochs']} epochs): 4-class kappa "
            f"{f4['kappa']:.3f} (accuracy {f4['accuracy']:.3f}), 3-class kappa "
            f"{sc['three_class']['kappa']:.3f}, sleep/wake kappa {sc['sleep_wake']['kappa']:.3f}"
            " (0 = chance)"
        )
        lines.append("confusion (rows: hypnogram, columns: firmware)")
        lines.append(" " * 8 + "".join(f"{n:>7}" for n in M.STAGES))
        for name, row in zip(M.STAGES, f4["confusion"], strict=True):
            lines.append(f"{name:8}" + "".join(f"{v:7d}" for v in row))
    w = s.get("wake")
    if w is not None:
        if "reason" in w:
            lines.append(
                f"smart wake: alarm at {w['alarm_h']:g} h; woken ({w['reason']}) on the epoch at "
                f"{w['epoch_h']:.2f} h (hypnogram: {w.get('true_stage', '?')}), decided at "
                f"{w['decided_h']:.2f} h, full light at {w['full_h']:.2f} h"
            )
        else:
            why = w.get("error", "alarm after the end?")
            lines.append(f"smart wake: no decision seen ({why})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.hours <= 24:
        raise CocoonError(f"--hours {args.hours:g} is out of range", "use 0 < hours <= 24")
    if args.alarm is not None and not 0 < args.alarm <= args.hours:
        raise CocoonError(f"--alarm {args.alarm:g} is outside the night", "use 0 < H <= --hours")
    if not 10 <= args.fps <= 100:
        raise CocoonError(f"--fps {args.fps} is out of range", "use 10..100 (config fps)")
    if not 1 <= args.state_s <= 60:
        raise CocoonError(f"--state-s {args.state_s} is out of range", "use 1..60 seconds")
    if not 256 <= args.heap_kb <= 1 << 20:
        raise CocoonError(f"--heap-kb {args.heap_kb} is out of range", "use 256..1048576")
    if not 0 <= args.window <= 120:
        raise CocoonError(f"--window {args.window:g} is out of range", "use 0..120 minutes")
    profile = hypnogram(args.scenario)
    rec = telemetry.Recorder(args.out)
    try:
        r = record_night(args, rec)
    finally:
        rec.close()
    summary = {
        "hours": args.hours,
        "scenario": args.scenario,
        "fps": args.fps,
        "out": str(args.out),
        "wall_s": r["wall_s"],
        "speedup": r["virtual_s"] / r["wall_s"],
        "frames": r["frames"],
        "damaged": r["damaged"],
        "epochs": len(r["epochs"]),
        "score": score(r["epochs"], profile),
        "wake": wake_summary(r["events"], profile, args.alarm),
    }
    print(json.dumps(_finite(summary)) if args.json else render(summary))
    if not r["epochs"]:
        raise CocoonError(
            "the board published no EPOCH frames", "is the firmware's stage model in place?"
        )
    return 0
