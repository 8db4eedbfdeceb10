"""Type-check firmware/ with mypy against the MicroPython ESP32 stubs (`make typecheck`).

    python -m cocoon_host.typecheck          # exit 0 when clean, else mypy's report
    problems = typecheck.run_mypy()          # (exit code, output) for tests

The stubs (micropython-esp32-stubs, installed by `make setup` into .stubs so they never shadow
CPython's standard library) replace typeshed. Two adjustments, both outside the repository's files:
- the stubs' own errors are not ours: ignore_errors for the stub modules that have them;
- viper's ptr8/ptr16/ptr32 and uint are built-ins inside @micropython.viper functions, which the
  stubs leave out (they declare MicroPython extras in __builtins__.pyi, read by pyright only), so a
  copy of the stubs' stdlib in build/typeshed gets them appended to builtins.pyi.
Each port is checked in its own run, because both define a top-level module named `board`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
STUBS = ROOT / ".stubs"
BUILD = ROOT / "build"

STUB_MODULES_WITH_ERRORS = [
    "machine",
    "esp32",
    "neopixel",
    "espnow",
    "network",
    "micropython",
    "vfs",
    "os",
    "math",
    "_mpy_shed.*",
    "builtins",
]

CONFIG = """\
[mypy]
python_version = 3.11
no_site_packages = True
explicit_package_bases = True
check_untyped_defs = False

[mypy-{modules}]
ignore_errors = True
"""

VIPER_BUILTINS = """

# --- MicroPython viper built-ins (valid inside @micropython.viper functions), added by
# cocoon_host.typecheck: typed as plain buffers of integers.
class ptr8:
    def __init__(self, buf: Any, /) -> None: ...
    def __getitem__(self, i: int, /) -> int: ...
    def __setitem__(self, i: int, v: int, /) -> None: ...

class ptr16(ptr8): ...
class ptr32(ptr8): ...

def uint(x: Any, /) -> int: ...
"""


def prepare() -> tuple[Path, Path]:
    """Write build/typeshed (stubs' stdlib + viper names) and the mypy config; return both."""
    if not (STUBS / "stdlib" / "builtins.pyi").exists():
        raise SystemExit("the ESP32 stubs are missing: run `make setup`")
    typeshed = BUILD / "typeshed"
    stdlib = typeshed / "stdlib"
    builtins = (STUBS / "stdlib" / "builtins.pyi").read_text() + VIPER_BUILTINS
    if not (stdlib / "builtins.pyi").exists() or (stdlib / "builtins.pyi").read_text() != builtins:
        shutil.rmtree(typeshed, ignore_errors=True)
        shutil.copytree(STUBS / "stdlib", stdlib)
        if (STUBS / "stubs").is_dir():  # mypy_extensions lives there
            shutil.copytree(STUBS / "stubs", typeshed / "stubs")
        (stdlib / "builtins.pyi").write_text(builtins)
    config = BUILD / "mypy-firmware.ini"
    config.write_text(CONFIG.format(modules=",".join(STUB_MODULES_WITH_ERRORS)))
    return typeshed, config


def groups() -> list[tuple[list[Path], list[Path]]]:
    """(files to check, extra search path) per run: the firmware with each port's `board`."""
    out = []
    common = [FIRMWARE / "cocoon", FIRMWARE / "boot.py", FIRMWARE / "main.py"]
    for port in sorted((FIRMWARE / "ports").iterdir()):
        files = sorted(port.rglob("*.py"))
        if files:
            out.append((common + [port], [FIRMWARE, port]))
            common = []  # check the shared code once
    if common:
        out.append((common, [FIRMWARE]))
    return out


def run_mypy() -> tuple[int, str]:
    typeshed, config = prepare()
    mypy = Path(sys.executable).parent / "mypy"
    worst, report = 0, []
    for files, path in groups():
        env = dict(os.environ)
        env["MYPYPATH"] = os.pathsep.join(str(p) for p in [STUBS, *path])
        cmd = [
            str(mypy),
            "--custom-typeshed-dir",
            str(typeshed),
            "--config-file",
            str(config),
            "--cache-dir",
            str(BUILD / "mypy-cache"),
            "--no-error-summary",
            *[str(f.relative_to(ROOT)) for f in files],
        ]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        worst = max(worst, proc.returncode)
        report.append(proc.stdout + proc.stderr)
    return worst, "".join(report)


def main() -> int:
    code, report = run_mypy()
    sys.stdout.write(report)
    print("firmware type-checks clean" if code == 0 else "firmware has type errors (see above)")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
