"""The one exception type for problems the user can fix: bad inputs, missing models, wrong options."""

from __future__ import annotations


class UserError(Exception):
    """An error whose message tells the user what was wrong and what to do. The CLI exits 2 on it."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n  hint: {self.hint}" if self.hint else base


class Note(UserWarning):
    """Something the user should know that does not stop the work (a cut-short audio file). Raised with
    `warnings.warn(Note(...))` by any stage; the CLI shows it as a progress message ('note: ...')."""
