"""Compile the firmware into the set of files that goes onto a board.

    files = build_firmware(target="sim", march="x64")   # [(board_path, bytes), ...]
    python -m cocoon_host.build --march xtensawin --out build/mpy

Package modules (``cocoon/**``) are compiled with mpy-cross for the board's architecture: .mpy
files load faster and use less RAM on the ESP32. ``boot.py`` and ``main.py`` stay source, as
MicroPython runs only those names at start-up. For the ESP32 the port's ``board.py`` and the pin
map ship too; on the virtual board the "hardware" (``ports/sim``) is provided by the simulator,
not flashed. install_into_folder() lays a virtual board's filesystem out as a flash would.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import CocoonError

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
HARDWARE = ROOT / "hardware"

# sys.implementation._mpy >> 10 is the MicroPython VM's native architecture (persistentcode.h).
MPY_ARCH_NAMES = {
    0: None,  # bytecode only
    1: "x86",
    2: "x64",
    3: "armv6",
    4: "armv6m",
    5: "armv7m",
    6: "armv7em",
    7: "armv7emsp",
    8: "armv7emdp",
    9: "xtensa",
    10: "xtensawin",
    11: "rv32imc",
    12: "rv64imc",
}


def mpy_cross_exe() -> str:
    exe = Path(sys.executable).parent / "mpy-cross"
    if not exe.exists():
        raise CocoonError("mpy-cross is not installed", "run `make setup`")
    return str(exe)


CACHE = ROOT / "build" / "mpy-cache"  # compiled files by content: a rebuild costs nothing


def _mpy_cross_version() -> str:
    try:
        return importlib.metadata.version("mpy-cross")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def compile_file(src: Path, march: str | None, board_name: str) -> bytes:
    """Compile one source file; raise CocoonError with the compiler's message on failure.

    A successful result is kept in build/mpy-cache under the hash of everything it depends on
    (mpy-cross's version, the options, the source), so unchanged files are not compiled again.
    """
    source = src.read_bytes()
    key = hashlib.sha256(
        repr((_mpy_cross_version(), "-O1", board_name, march)).encode() + b"\0" + source
    ).hexdigest()
    cached = CACHE / f"{key}.mpy"
    if cached.is_file():
        return cached.read_bytes()
    data = _compile_file(src, march, board_name)
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, cached)  # atomic: another build reading it sees all or nothing
    except OSError:
        pass  # a read-only checkout still builds, only slower
    return data


def _compile_file(src: Path, march: str | None, board_name: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        cmd = [mpy_cross_exe(), "-O1", "-s", board_name, "-o", str(out)]
        if march:
            cmd.append(f"-march={march}")
        cmd.append(str(src))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CocoonError(
                f"mpy-cross could not compile {src.relative_to(ROOT)}: {proc.stderr.strip()}",
                "fix the firmware source",
            )
        return out.read_bytes()


def package_sources() -> list[Path]:
    """Firmware modules that go onto a board. `*_ref.py` are plain-Python reference models that
    define exact semantics for the tests; the board never imports them, so they are not flashed."""
    return sorted(
        p
        for p in (FIRMWARE / "cocoon").rglob("*.py")
        if "__pycache__" not in p.parts and not p.stem.endswith("_ref")
    )


def build_firmware(
    target: str = "esp32", march: str | None = "xtensawin"
) -> list[tuple[str, bytes]]:
    """(path on the board, content) for every file of the firmware, paths relative to a slot.

    target: "esp32" (ships ports/esp32/board.py and hardware/pinmap.json) or "sim".
    """
    files: list[tuple[str, bytes]] = []
    for src in package_sources():
        rel = src.relative_to(FIRMWARE).with_suffix(".mpy").as_posix()
        files.append((rel, compile_file(src, march, src.relative_to(FIRMWARE).as_posix())))
    if target == "esp32":
        port = FIRMWARE / "ports" / "esp32"
        for src in sorted(port.glob("*.py")):
            files.append((src.with_suffix(".mpy").name, compile_file(src, march, src.name)))
        pinmap = HARDWARE / "pinmap.json"
        if pinmap.exists():
            files.append(("pinmap.json", pinmap.read_bytes()))
    return files


def root_files() -> list[tuple[str, bytes]]:
    """boot.py and main.py: source, at the root of the board's filesystem."""
    return [
        (name, (FIRMWARE / name).read_bytes())
        for name in ("boot.py", "main.py")
        if (FIRMWARE / name).exists()
    ]


def build_id(files: list[tuple[str, bytes]]) -> str:
    """A short content hash: identical firmware gives an identical id."""
    h = hashlib.sha256()
    for name, data in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:12]


BUILD_FILE = "build.txt"  # cocoon/version.py reads it: the build id a board reports in HELLO


def slot_files(target: str = "esp32", march: str | None = "xtensawin") -> list[tuple[str, bytes]]:
    """Everything that goes into a firmware slot: the compiled files plus build.txt (its id)."""
    files = build_firmware(target, march)
    return files + [(BUILD_FILE, (build_id(files) + "\n").encode())]


def unix_port_march() -> str:
    """The native architecture of the installed MicroPython unix port (x64 on a PC)."""
    exe = Path(sys.executable).parent / "micropython"
    try:
        out = subprocess.run(
            [str(exe), "-c", "import sys; print(sys.implementation._mpy >> 10)"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        return MPY_ARCH_NAMES.get(int(out.strip()) & 0x3F) or "x64"
    except (OSError, ValueError, subprocess.SubprocessError):
        return "x64"


def install_into_folder(folder: Path, target: str = "sim", march: str | None = "x64") -> str:
    """Lay the firmware out in a board's filesystem folder as `cocoon flash` does; its build id.

    /boot.py and /main.py at the root (source), the compiled package in slot /fw/a, and /fw/active
    naming `a` (docs/design.md, Flashing). The virtual board (`cocoon sim`) starts from this.
    """
    folder = Path(folder)
    files = slot_files(target, march)
    slot = folder / "fw" / "a"
    if slot.exists():
        shutil.rmtree(slot)
    for name, data in files:
        dest = slot / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    for name, data in root_files():
        (folder / name).write_bytes(data)
    (folder / "fw" / "active").write_text("a")
    return build_id([f for f in files if f[0] != BUILD_FILE])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cocoon_host.build", description=__doc__)
    ap.add_argument("--march", default="xtensawin")
    ap.add_argument("--target", default="esp32", choices=["esp32", "sim"])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "mpy")
    args = ap.parse_args(argv)
    try:
        files = build_firmware(args.target, args.march)
    except CocoonError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    total = 0
    for name, data in files + root_files():
        dest = args.out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        total += len(data)
    print(
        f"{len(files)} modules compiled for {args.march} into {args.out} "
        f"({total} bytes, build {build_id(files)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
