# Runs on the MicroPython unix port, not CPython: each recording through the simulated MAX30102,
# the firmware's driver and the firmware's beat detector, as the board would run them.
#   MICROPYPATH=firmware:firmware/ports/sim micropython hr_runner_mp.py [--beats] [--opt=K=V] DIR
# Prints one JSON line per recording (or {"name", "error"}), then {"done": true}. --beats adds the
# beat times, --samples the IR samples the driver read; --opt=K=V passes an integer option to
# BeatDetector (for experiments). chain_us / detector_us: time spent in the simulated chain (chip,
# bus, driver, detector) and in the detector alone (for the speed benchmark).
import json
import sys
import time
from array import array

import i2c
import scenario
from cocoon.core.beats import BeatDetector
from cocoon.drivers.max30102 import MAX30102

POLL_US = 100000  # the app reads the FIFO about every 100 ms (well inside its 320 ms depth)


def run_one(path, want_beats, want_samples):
    clock = i2c.StepClock()
    sc = scenario.Replay({"path": path, "loop": "0"})
    bus = i2c.SimI2C(clock, sc)
    ppg = MAX30102(bus)
    ppg.init()
    det = BeatDetector(ppg.period_us, **OPTS)
    t0 = time.ticks_us()  # the chain from here: chip, bus, driver, detector (not the CSV parsing)
    red = array("i", [0] * 32)
    ir = array("i", [0] * 32)
    end_us = int(sc.duration_ms * 1000)
    t_us = 0
    beats = []
    raw = []
    samples = 0
    det_us = 0
    while t_us + POLL_US <= end_us:  # not past the recording's end ("no finger" after it)
        clock.advance_us(POLL_US)
        t_us += POLL_US
        n = ppg.read(red, ir)
        if ppg.lost:
            det.gap(ppg.lost)
        t1 = time.ticks_us()
        det.feed(ir, n)
        det_us += time.ticks_diff(time.ticks_us(), t1)
        samples += n
        if want_samples:
            raw.extend(ir[:n])
        while True:
            b = det.take_beat()
            if b < 0:
                break
            if want_beats:
                beats.append(b)
    ibi_sum_ms = det.epoch_ibi_ms  # the whole recording is one epoch
    n_beats, mean_ibi_ms, rmssd_ms, reading_pct = det.take_epoch()
    if not mean_ibi_ms:
        ibi_sum_ms = 0  # the firmware says "no reading" for this recording
    out = {
        "path": path,
        "name": path.rstrip("/").split("/")[-1],
        "channel": sc.channel,
        "inverted": sc.inverted,
        "samples": samples,
        "duration_s": sc.duration_ms / 1000,
        "beats": n_beats,
        "ibi_sum_ms": ibi_sum_ms,
        "mean_ibi_ms": mean_ibi_ms,
        "rmssd_ms": rmssd_ms,
        "reading_pct": reading_pct,
        "detections": det.beats_total,
        "accepted": det.accepted_total,
        "chain_us": time.ticks_diff(time.ticks_us(), t0),
        "detector_us": det_us,
        "period_us": ppg.period_us,
    }
    if want_beats:
        out["beat_us"] = beats
    if want_samples:
        out["ir"] = raw
    return out


OPTS = {}


def main(argv):
    want_beats = "--beats" in argv
    want_samples = "--samples" in argv
    for a in argv:
        if a.startswith("--opt="):
            k, v = a[6:].split("=")
            OPTS[k] = int(v)
    for path in argv:
        if path.startswith("--"):
            continue
        try:
            out = run_one(path, want_beats, want_samples)
        except (scenario.ScenarioError, OSError) as e:
            out = {"path": path, "name": path.rstrip("/").split("/")[-1], "error": str(e)}
        print(json.dumps(out))
    print(json.dumps({"done": True}))


main(sys.argv[1:])
