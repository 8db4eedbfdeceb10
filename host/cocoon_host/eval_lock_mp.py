# Runs INSIDE the MicroPython unix port (MICROPYPATH=firmware): feeds recorded beats through the
# firmware's phase-sync loop and answers one JSON line per request line on stdin. Valid CPython too
# (cocoon_host.eval_lock imports simulate() for tuning on synthetic series). No host imports here.
#
#   request:  {"id": "subject_01", "rr_ms": [...], "settings": {...}, "start_freq_q32": null,
#              "block_ticks": 2, "latency_ms": 100}
#   answer:   {"id": ..., "beats": [[verdict, light_err_q16, lock_after, freq_q32], ...],
#              "max_step_q32": n, "tick_us": n, "ratio": n}   or {"id": ..., "error": "..."}
import json
import sys

from cocoon.core import phasesync as ps


def simulate(rr_ms, settings, start_freq_q32=None, block_ticks=2, latency_ms=100):
    """Beat 0 happens 1 s in, beat i at sum(rr_ms[:i]) ms after it. The loop runs in blocks of
    block_ticks; each beat is reported at the first block boundary latency_ms after it happened.
    The light's error at a beat is measured from outside, like a photodiode would: the pulse phase
    at the beat's instant (read at the first boundary after it, backed off by freq * the fraction),
    times the ratio, in Q16 beat turns. Returns (beats, sync), beats[i] = [verdict, light_err_q16,
    lock state after the report, freq_q32 before the report]."""
    sync = ps.PhaseSync(**settings)
    if start_freq_q32 is not None:
        f = int(start_freq_q32)
        sync.st[ps.S_FREQ] = min(max(f, sync.cfg[ps.C_FMIN]), sync.cfg[ps.C_FMAX])
    tick_us = sync.tick_us
    ratio = sync.ratio
    times = []
    t_us = 1_000_000
    times.append(t_us)
    for rr in rr_ms:
        t_us += int(rr * 1000)
        times.append(t_us)
    n = len(times)
    light_err = [0] * n
    out = []
    loop_us = 0
    measured = 0
    while len(out) < n:
        sync.advance(block_ticks)
        loop_us += block_ticks * tick_us
        while measured < n and times[measured] <= loop_us:
            age_q8 = ((loop_us - times[measured]) << 8) // tick_us
            freq = sync.st[ps.S_FREQ]
            pb = sync.st[ps.S_PHASE] - ((freq * age_q8) >> 8)
            light_err[measured] = _s32(-ratio * pb) >> 16
            measured += 1
        while len(out) < measured and times[len(out)] + latency_ms * 1000 <= loop_us:
            k = len(out)
            freq = sync.st[ps.S_FREQ]
            verdict = sync.beat(((loop_us - times[k]) << 8) // tick_us)
            out.append([verdict, light_err[k], sync.st[ps.S_LOCK], freq])
    return out, sync


def _s32(x):
    x &= 0xFFFFFFFF
    return x - 0x100000000 if x & 0x80000000 else x


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        try:
            beats, sync = simulate(
                req["rr_ms"],
                req.get("settings") or {},
                req.get("start_freq_q32"),
                req.get("block_ticks", 2),
                req.get("latency_ms", 100),
            )
            ans = {
                "id": req.get("id"),
                "beats": beats,
                "max_step_q32": sync.max_step_q32(),
                "tick_us": sync.tick_us,
                "ratio": sync.ratio,
            }
        except Exception as e:  # report and go on with the next recording
            ans = {"id": req.get("id"), "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(ans) + "\n")
        try:
            sys.stdout.flush()
        except AttributeError:
            pass


if __name__ == "__main__":
    main()
