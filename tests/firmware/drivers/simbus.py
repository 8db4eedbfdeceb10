"""The virtual board's sensor bus for driver tests, on CPython and on the MicroPython unix port.

clock, sc, bus = simbus.make("synthetic:bpm=60,motion=0")
ppg = MAX30102(bus); ppg.init(); clock.advance_us(100000); n = ppg.read(red, ir)
"""

import os
import sys


def _add_sim_path():
    # firmware/ports/sim holds the simulated chips; the harness puts firmware/ on sys.path.
    for p in list(sys.path):
        sim = p + "/ports/sim"
        try:
            os.stat(sim + "/i2c.py")
        except OSError:
            continue
        if sim not in sys.path:
            sys.path.append(sim)
        return
    raise ImportError("firmware/ is not on sys.path")


_add_sim_path()

import i2c  # noqa: E402
import scenario  # noqa: E402


def make(spec="synthetic:bpm=60,motion=0"):
    clock = i2c.StepClock()
    sc = scenario.build(spec, clock)
    return clock, sc, i2c.SimI2C(clock, sc)
