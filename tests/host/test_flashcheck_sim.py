"""End to end: the firmware on a virtual board, its LED frames recorded, checked for flashes.

`cocoon sim --scenario synthetic:bpm=200 --speed max --until 60 --record-leds FILE` runs 60 s of
pulse mode on a sleeper whose heart beats at 200 bpm; the recording must pass WCAG 2.3.1 by the
independent checker. The board is configured bright (white, full brightness and depth, no
crossfade, a supply that limits nothing) so that the pulse really could flash.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cocoon_host.build import install_into_folder
from cocoon_host.flashcheck import read_csv

BRIGHT = {"bri": 255, "color": "ffffff", "depth": 255, "fade_ms": 0, "budget_ma": 5000}


def run_sim(fs: Path, csv_path: Path, scenario: str, until_s: int) -> str:
    cmd = [
        sys.executable, "-m", "cocoon_host.cli", "sim", "--listen", "0", "--fs", str(fs),
        "--scenario", scenario, "--speed", "max", "--until", str(until_s),
        "--record-leds", str(csv_path),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its MicroPython child
        proc.communicate()
        pytest.fail("cocoon sim did not stop by itself at --until")
    assert proc.returncode == 0, out
    return out


@pytest.fixture
def bright_board(tmp_path: Path) -> Path:
    fs = tmp_path / "fs"
    install_into_folder(fs)
    (fs / ".nvs").mkdir()
    (fs / ".nvs" / "cocoon.bin").write_text(json.dumps(BRIGHT))
    return fs


def test_60_s_of_pulse_mode_at_200_bpm_is_flash_safe(bright_board: Path, tmp_path: Path):
    leds = tmp_path / "leds.csv"
    run_sim(bright_board, leds, "synthetic:bpm=200", 60)
    res = read_csv(leds)
    assert res.frames > 2000 and res.n_leds == 60
    assert (res.last_ms or 0) - (res.first_ms or 0) >= 59000
    assert res.ok, res.to_json()
    strip = res.regions[0]
    # Not vacuous: the light pulses hard, from near dark to bright.
    assert strip.max_luminance > 0.4 and strip.min_luminance < 0.05
    assert strip.transitions >= 20
