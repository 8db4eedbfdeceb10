"""Running the `cocoon` command as a user would, and checking its one-line errors (host tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cocoon(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`cocoon ARGS` in a subprocess from the repository's root; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "cocoon_host.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def one_clear_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    """The command failed with exactly one line on stderr, no traceback, naming every word."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]
