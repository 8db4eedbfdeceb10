"""Errors the user can act on. The CLI prints them as one line, never as a traceback."""

from __future__ import annotations


class CocoonError(Exception):
    """Something went wrong that the user can fix: `what` happened, `hint` says what to do."""

    def __init__(self, what: str, hint: str = "", exit_code: int = 1):
        super().__init__(what)
        self.what = what
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.what}: {self.hint}" if self.hint else self.what
