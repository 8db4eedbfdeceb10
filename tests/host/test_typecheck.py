"""firmware/ type-checks against the MicroPython ESP32 stubs (the recipe lives in typecheck.py)."""

from __future__ import annotations

import pytest
from cocoon_host import typecheck


def test_firmware_type_checks_against_the_esp32_stubs():
    if not (typecheck.STUBS / "stdlib" / "builtins.pyi").exists():
        pytest.fail("the ESP32 stubs are missing: run `make setup`", pytrace=False)
    code, report = typecheck.run_mypy()
    assert code == 0, report


def test_the_type_check_can_fail(tmp_path, monkeypatch):
    # The same recipe on a file with a type error against the stubs must report it.
    bad = tmp_path / "bad.py"
    bad.write_text("import machine\nmachine.Pin('x').value('not an int', 3, 4)\nx: int = 'a'\n")
    monkeypatch.setattr(typecheck, "groups", lambda: [([bad], [tmp_path])])
    monkeypatch.setattr(typecheck, "ROOT", tmp_path)
    code, report = typecheck.run_mypy()
    assert code != 0 and "bad.py:3" in report
