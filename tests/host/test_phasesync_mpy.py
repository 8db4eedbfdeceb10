"""The phase-sync modules compile for the ESP32 (mpy-cross -march=xtensawin) with native code in.

Viper on the ESP32 treats integer literals >= 2**30 as objects (long ints) and refuses arithmetic
mixing them with machine ints; the unix port (63-bit small ints) would never notice. mpy-cross
for xtensawin does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MPY_CROSS = Path(sys.executable).parent / "mpy-cross"
XTENSAWIN = 10  # py/persistentcode.h: MP_NATIVE_ARCH_XTENSAWIN


def compile_for_esp32(src: Path, out: Path) -> bytes:
    proc = subprocess.run(
        [str(MPY_CROSS), "-march=xtensawin", "-O1", "-o", str(out), str(src)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def test_viper_modules_compile_for_xtensawin_with_native_code(tmp_path):
    for name in ("phasesync", "trig"):
        mpy = compile_for_esp32(ROOT / f"firmware/cocoon/core/{name}.py", tmp_path / "x.mpy")
        assert mpy[0:2] == b"M\x06"
        assert mpy[2] >> 2 == XTENSAWIN, name  # the header names the native architecture
        assert mpy[3] == 31  # small ints of 31 bits, as on the ESP32


def test_plain_modules_compile_for_xtensawin(tmp_path):
    for rel in ("firmware/cocoon/core/phasesync_ref.py", "firmware/cocoon/syncpkt.py"):
        mpy = compile_for_esp32(ROOT / rel, tmp_path / "y.mpy")
        assert mpy[0:1] == b"M"


def test_a_big_literal_in_viper_is_caught(tmp_path):
    # The check above can fail: the mistake it guards against does not compile for the ESP32.
    src = tmp_path / "bad.py"
    src.write_text(
        "import micropython\n"
        "@micropython.viper\n"
        "def f(a: int) -> int:\n"
        "    x = 0x7FFFFFFF\n"
        "    return a & x\n"
    )
    proc = subprocess.run(
        [str(MPY_CROSS), "-march=xtensawin", "-o", str(tmp_path / "bad.mpy"), str(src)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "ViperTypeError" in proc.stderr + proc.stdout
