"""Render cost per frame on the MicroPython unix port, viper against plain bytecode.

    make bench render          # or: .venv/bin/python -m bench render

One MicroPython process renders frames of the light engine (cocoon/core/light.py: palette, pulse
shape, gamma, dithering, current limiter, flash-safety limiter) for 60 and 300 LEDs, in the steady
pulse mode and in festival mode (colours repainted every frame), once with the @micropython.viper
kernels and once with their plain twins (the same code as bytecode). Figures are the fastest of
15 runs of 100 frames (the machine is shared and noisy: the minimum is the cost, the rest is other
work), as a share of the 20 ms frame period at 50 fps, and the speed-up of viper over bytecode
measured in the same process. A 1-LED strip shows the fixed cost per frame (mode logic, fades,
the limiters' per-region bookkeeping in plain Python), the rest grows with the LEDs. This is a
PC: an ESP32 at 240 MHz is many times slower, so the shares here are a floor, not a promise; the
ratio is what carries over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAME_MS = 20  # 50 fps, the app's default frame rate

_SCRIPT = r"""
import time, json
from cocoon.core.light import Light, DEFAULTS
out = {}
for n in (1, 60, 300):
    for mode in ("pulse", "festival"):
        for viper in (True, False):
            cfg = dict(DEFAULTS)
            cfg["bri"] = 200
            cfg["mode"] = mode
            cfg["fade_ms"] = 0
            lt = Light(n, cfg, viper=viper)
            f = bytearray(3 * n)
            t = 0
            for k in range(50):  # warm up: fades done, limiters settled
                t += 20
                lt.set_phase(t * 65 & 0xFFFF, t * 7 & 0xFFFF)
                lt.render(t, 20, f)
            runs = []
            for r in range(%(repeats)d):
                t0 = time.ticks_us()
                for k in range(%(frames)d):
                    t += 20
                    lt.set_phase(t * 65 & 0xFFFF, t * 7 & 0xFFFF)
                    lt.render(t, 20, f)
                runs.append(time.ticks_diff(time.ticks_us(), t0) / %(frames)d)
            key = "%%d/%%s/%%s" %% (n, mode, "viper" if viper else "bytecode")
            out[key] = min(runs)
print(json.dumps(out))
"""


def measure(frames: int = 100, repeats: int = 15) -> dict[str, float]:
    exe = Path(sys.executable).parent / "micropython"
    env = dict(os.environ, MICROPYPATH=str(ROOT / "firmware"))
    proc = subprocess.run(
        [str(exe), "-c", _SCRIPT % {"frames": frames, "repeats": repeats}],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError("render benchmark failed on the unix port:\n" + proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run() -> list[str]:
    us = measure()
    lines = [f"{'LEDs':>4} {'mode':<9} {'viper':>9} {'bytecode':>9} {'speed-up':>8}   "
             f"(us per frame; share of the {FRAME_MS} ms frame)"]  # fmt: skip
    for n in (1, 60, 300):
        for mode in ("pulse", "festival"):
            v = us[f"{n}/{mode}/viper"]
            b = us[f"{n}/{mode}/bytecode"]
            lines.append(
                f"{n:>4} {mode:<9} {v:>6.0f} us {b:>6.0f} us {b / v:>7.1f}x   "
                f"viper {100 * v / (FRAME_MS * 1000):.2f}%, bytecode "
                f"{100 * b / (FRAME_MS * 1000):.2f}% of the frame"
            )
    lines.append("unix port on this PC; an ESP32 (240 MHz Xtensa) is several times slower")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
