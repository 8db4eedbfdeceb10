"""The borders of docs/design.md, checked on the source so that they cannot erode quietly."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
HARDWARE_MODULES = {"machine", "time", "utime", "neopixel", "espnow", "esp32", "network"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_and_drivers_build_no_hardware_and_read_no_clock():
    offenders = {}
    for part in ("core", "drivers"):
        for path in sorted((FIRMWARE / "cocoon" / part).rglob("*.py")):
            bad = imported_modules(path) & HARDWARE_MODULES
            if bad:
                offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"core/ and drivers/ must get hardware and time handed in: {offenders}"


def test_the_forbidden_import_check_can_fail(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import time\nfrom machine import Pin\n")
    assert imported_modules(sample) & HARDWARE_MODULES == {"time", "machine"}


def test_sim_hardware_never_imports_the_flashed_firmware():
    # The virtual board's "hardware" must not shadow the firmware copied onto its filesystem.
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted((FIRMWARE / "ports" / "sim").rglob("*.py"))
        if "cocoon" in imported_modules(p)
    ]
    assert not offenders, offenders


def test_firmware_never_imports_host_code():
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted(FIRMWARE.rglob("*.py"))
        if "cocoon_host" in imported_modules(p)
    ]
    assert not offenders, offenders


def test_no_paths_of_a_particular_machine_in_tracked_files():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    needles = ("/work/", "/tmp/cocoon", "/root/", "/home/")
    hits = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".mpy", ".bin"}:
            continue
        text = path.read_text(errors="replace")
        for needle in needles:
            if needle in text and name != "tests/host/test_architecture.py":
                hits.append(f"{name}: {needle}")
    assert not hits, hits


def test_ruff_is_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--quiet", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
