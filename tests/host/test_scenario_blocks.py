"""The synthetic sleeper in blocks (firmware/ports/sim/scenario.py over kernels.py).

The chips ask for samples in blocks and the integer viper loops make them. These tests check that
those loops follow the float model they replace, that viper on the unix port and plain Python on
CPython give the same integers, that the block size does not matter, and that a simulated night
no longer allocates for every sample.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "firmware" / "ports" / "sim"
sys.path.insert(0, str(SIM))

import scenario  # noqa: E402

MICROPYTHON = Path(sys.executable).parent / "micropython"
Q12 = 4096

# Everything at once: breathing, HRV, RSA, noise, movements, a turn-over, and each finger fault.
BUSY = (
    "synthetic:bpm=72,seed=5,motion=900,motion_at=3,loose_at=8,loose_for=3,off_at=12,off_for=2,"
    "saturate_at=15,saturate_for=1"
)


def blocks(spec: str, seconds: float, ppg_n: int = 10, acc_n: int = 5):
    """PPG (100/s) and accelerometer (50/s) samples as the chips ask for them every 0.1 s."""
    sc = scenario.build(spec)
    ir, red, xyz = array("i", [0] * ppg_n), array("i", [0] * ppg_n), array("i", [0] * 3 * acc_n)
    out_ir, out_red, out_xyz = [], [], []
    for k in range(int(seconds * 100 / ppg_n)):
        sc.ppg_block(5000 + k * ppg_n * 10000, 10000, ppg_n, ir, red)
        out_ir += list(ir)
        out_red += list(red)
    for k in range(int(seconds * 50 / acc_n)):
        sc.accel_block(k * acc_n * 20000, 20000, acc_n, xyz)
        out_xyz += list(xyz)
    return sc, out_ir, out_red, out_xyz


def test_viper_on_the_unix_port_gives_the_same_integers_as_cpython():
    script = (
        f"import sys\nsys.path.insert(0, {str(SIM)!r})\nimport scenario\nfrom array import array\n"
        f"sc = scenario.build({BUSY!r})\n"
        "ir, red, xyz = array('i', [0] * 10), array('i', [0] * 10), array('i', [0] * 15)\n"
        "a, b, c = [], [], []\n"
        "for k in range(200):\n"
        "    sc.ppg_block(5000 + k * 100000, 10000, 10, ir, red)\n"
        "    a += list(ir); b += list(red)\n"
        "for k in range(200):\n"
        "    sc.accel_block(k * 100000, 20000, 5, xyz)\n"
        "    c += list(xyz)\n"
        "import json\nprint(json.dumps([a, b, c]))\n"
    )
    mp = subprocess.run([str(MICROPYTHON), "-c", script], capture_output=True, text=True)
    assert mp.returncode == 0, mp.stderr
    _, ir, red, xyz = blocks(BUSY, 20)
    assert json.loads(mp.stdout) == [ir, red, xyz]


def pulse(phase: float) -> float:
    """The beat's shape as the float model defines it (kernels._pulse_table), peak 1."""
    w = 0.055 if phase < 0.2 else 0.16
    s = math.exp(-(((phase - 0.2) / w) ** 2) / 2)
    d = 0.35 * math.exp(-(((phase - 0.48) / 0.07) ** 2) / 2)
    return s + d


PEAK = max(pulse(i / 10000) for i in range(10000))


def test_the_integer_ppg_follows_the_float_model():
    dc, perf, resp = 250.0, 0.02, 14.0
    sc, ir, red, _ = blocks(f"synthetic:bpm=66,noise=0,motion=0,hrv=0,rsa=0,resp={resp:g}", 30)
    beats = [0, *sc.beats_us]
    worst = 0.0
    for k in range(len(ir)):
        t_us = 5000 + k * 10000
        j = max(i for i in range(len(beats)) if beats[i] <= t_us)
        if j + 1 >= len(beats):
            break
        phase = (t_us - beats[j]) / (beats[j + 1] - beats[j])
        rp = 2 * math.pi * resp / 60 * t_us / 1e6
        base = 1 + 0.003 * math.cos(rp)
        amp = perf * (1 + 0.15 * math.sin(rp))
        v = pulse(phase) / PEAK
        want_ir = dc * (base - amp * v)
        want_red = dc * 0.8 * (base - 0.5 * amp * v)
        worst = max(worst, abs(ir[k] / Q12 - want_ir), abs(red[k] / Q12 - want_red))
    assert k > 2500  # most of the 30 s were compared
    assert worst < 0.01 * dc * perf, worst  # within 1 % of the pulse's amplitude


def test_block_size_does_not_matter():
    _, ir10, red10, xyz5 = blocks(BUSY, 12, ppg_n=10, acc_n=5)
    _, ir1, red1, xyz1 = blocks(BUSY, 12, ppg_n=1, acc_n=1)
    _, ir32, red32, xyz30 = blocks(BUSY, 12, ppg_n=32, acc_n=30)
    n = min(len(ir10), len(ir1), len(ir32))
    # The noise draws are the same; only phases re-anchored at block starts round differently.
    tol_q12 = int(0.002 * 250 * Q12)
    for a, b in ((ir10, ir1), (ir10, ir32), (red10, red1), (red10, red32)):
        assert max(abs(a[i] - b[i]) for i in range(n)) <= tol_q12
    m = min(len(xyz5), len(xyz1), len(xyz30))
    for a, b in ((xyz5, xyz1), (xyz5, xyz30)):
        assert max(abs(a[i] - b[i]) for i in range(m)) <= 2000  # 0.002 g


def test_the_accelerometer_feels_gravity_noise_and_movements():
    _, _, _, still = blocks("synthetic:motion=0", 20)
    z = still[2::3]
    x = still[0::3]
    assert abs(sum(z) / len(z) - 1e6) < 300 and abs(sum(x) / len(x)) < 300
    sd = math.sqrt(sum((v - sum(x) / len(x)) ** 2 for v in x) / len(x))
    assert 1500 < sd < 2500  # MPU-6050 noise: ~0.002 g (uniform)
    sc, _, _, moved = blocks("synthetic:motion=0,motion_at=5", 20)
    start, end, amp_ug = sc._moves[0][:3]
    assert start == 5_000_000 and 2_000_000 <= end - start <= 8_000_000
    during = [moved[3 * k + 2] for k in range(len(moved) // 3) if start <= k * 20000 < end]
    spread = max(during) - min(during)
    assert 0.5 * amp_ug < spread < 3 * amp_ug  # a shake of about its amplitude (0.05-0.4 g)
    before = moved[: 3 * 240]
    assert max(before[2::3]) - min(before[2::3]) < 10000  # still before it: noise only


def test_a_night_no_longer_allocates_per_sample():
    # Bytes the chain (scenario, chips, bus, drivers) allocates per virtual second, measured on the
    # unix port with the collector off: every float used to be a heap object (~120 kB/s).
    script = (
        f"import sys, gc\nsys.path.insert(0, {str(SIM)!r}); sys.path.insert(0, "
        f"{str(ROOT / 'firmware')!r})\n"
        "import i2c, scenario\nfrom array import array\n"
        "from cocoon.drivers.max30102 import MAX30102\n"
        "from cocoon.drivers.mpu6050 import MPU6050\n"
        "clock = i2c.StepClock()\n"
        "bus = i2c.SimI2C(clock, scenario.build(sys.argv[-1], clock))\n"
        "ppg = MAX30102(bus); ppg.init(); imu = MPU6050(bus); imu.init()\n"
        "b = [array('i', [0] * 32) for _ in range(5)]\n"
        "def poll():\n"
        "    clock.advance_us(100000); ppg.read(b[0], b[1]); imu.read_fifo(b[2], b[3], b[4])\n"
        "for _ in range(50): poll()\n"
        "gc.collect(); gc.disable(); a0 = gc.mem_alloc()\n"
        "for _ in range(600): poll()\n"
        "print((gc.mem_alloc() - a0) // 60)\n"
    )
    for spec in ("synthetic:bpm=60", "synthetic:profile=hypnogram,seed=1"):
        mp = subprocess.run(
            [str(MICROPYTHON), "-X", "heapsize=16M", "-c", script, spec],
            capture_output=True,
            text=True,
        )
        assert mp.returncode == 0, mp.stderr
        per_s = int(mp.stdout)
        assert 0 < per_s < 8000, (spec, per_s)  # beats and movements still use floats
