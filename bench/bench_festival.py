"""Festival sync: how fast a group of cocoons locks, with and without packet loss, and what the
radio costs the loop.

    make bench festival      # or: .venv/bin/python -m bench festival

Not virtual boards (ten `cocoon sim` processes would measure the machine's scheduler): N cocoons
in one MicroPython unix-port process (bench/festival_mp.py), each its own PhaseSync and Festival,
the firmware's code, exchanging real encoded and HMAC-checked packets through a simulated
broadcast channel that loses each packet at each receiver with the given probability. Loops of
20 ms in lockstep, configured tempos drawn from 8-12 per minute, random starting phases; seeds
1..SEEDS. Lock time: virtual seconds until the Kuramoto order parameter r of the true phases
exceeds 0.95 and stays above it to the end of the 120-s run. Baseline, same run and seeds: K = 0
(every cocoon uncoupled: tempos and phases of its own), where r should stay low.
tests/host/test_festival_sim.py shows the same on four virtual boards over the virtual radio.
Nothing was tuned on these runs: K is phasesync's default (0.1 turn/s), the packet period (0.7 s)
and the peer timeout (4 periods) were set beforehand from ESP-NOW's airtime and the loss rate.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
SCRIPT = Path(__file__).resolve().parent / "festival_mp.py"
SEEDS = 7
SIZES = (2, 5, 10, 20)  # 20: more senders than phasesync has peer slots (8)
LOSSES = (0, 20)


def _mp(*args: str) -> dict:
    exe = Path(sys.executable).parent / "micropython"
    env = dict(os.environ, MICROPYPATH=str(FIRMWARE))
    out = subprocess.run(
        [str(exe), str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"festival_mp.py {' '.join(args)}: exit {out.returncode}: "
            f"{(out.stdout + out.stderr).strip()[-500:]}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt_lock(runs: list[dict]) -> str:
    times = [r["lock_s"] for r in runs if r["lock_s"] is not None]
    never = len(runs) - len(times)
    if not times:
        return f"never locked in {len(runs)} runs"
    text = f"median {statistics.median(times):5.1f} s, max {max(times):5.1f} s"
    return text + (f", {never} of {len(runs)} never" if never else f" ({len(runs)} runs)")


def run() -> list[str]:
    lines = ["lock time (virtual s to r > 0.95, held), N cocoons, K = 100 mHz:"]
    for n in SIZES:
        cells = []
        for loss in LOSSES:
            runs = [_mp("lock", str(n), str(loss), "100", str(s)) for s in range(1, SEEDS + 1)]
            cells.append(f"loss {loss:2d}%: {_fmt_lock(runs)}")
            if loss == LOSSES[-1]:
                tail = statistics.mean(r["r_tail_mean"] for r in runs)
        tail_text = f"  (r, last 60 s at {LOSSES[-1]}% loss: {tail:.3f})"
        lines.append(f"  N={n:2d}  " + "  |  ".join(cells) + tail_text)
    lines.append("baseline K = 0 (uncoupled), loss 0%, same seeds: r over the last 60 s")
    for n in SIZES:
        runs = [_mp("lock", str(n), "0", "0", str(s)) for s in range(1, SEEDS + 1)]
        mean = statistics.mean(r["r_tail_mean"] for r in runs)
        above = statistics.mean(r["r_tail_above"] for r in runs)
        lines.append(
            f"  N={n:2d}  mean r {mean:.3f}, time with r > 0.95 {100 * above:4.1f}%, "
            f"{_fmt_lock(runs)}"
        )
    c = _mp("cost")
    lines.append(
        "radio cost on the unix port (best of 5): idle festival.step "
        f"{c['idle_us']:.2f} us = {c['idle_us'] / c['advance_us']:.1f}x phasesync.advance(2); "
        f"a received packet {c['rx_us'] / c['idle_us']:.0f}x an idle step, "
        f"a sent one {c['tx_us'] / c['idle_us']:.0f}x"
    )
    lines.append(
        f"allocation (unix port, 64-bit objects): idle step {c['idle_bytes']} B per 1000, "
        f"received packet {c['rx_bytes']} B, sent packet {c['tx_bytes']} B"
    )
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
