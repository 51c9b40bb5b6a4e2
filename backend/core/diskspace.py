"""Checks before long writes: the output folder is writable and its disk has room, so a long job fails at
its start with the reason instead of at its end (or, for memory-mapped files, with a SIGBUS)."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from backend.core.errors import UserError
from backend.core.oserrors import user_error_from_os

MB = 1 << 20


def writable_dir(directory: str | os.PathLike[str], what: str = "output") -> Path:
    """Prove a file can be written in `directory` (or, when it does not exist yet, that its nearest existing
    parent can take it); UserError naming why not. Creates nothing that outlives the check."""
    d = Path(directory)
    probe = d
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        if not probe.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(probe))
        with tempfile.NamedTemporaryFile(prefix=".th-write-test-", dir=probe):
            pass
    except OSError as exc:
        error = user_error_from_os(exc, probe)
        if error is None:
            raise
        raise UserError(f"cannot write the {what} in {d}: {error.args[0]}", hint=error.hint) from None
    return d


def require_free_space(directory: str | os.PathLike[str], needed: int, what: str) -> None:
    """UserError (as for ENOSPC) when the disk holding `directory` has less than `needed` bytes free."""
    d = Path(directory)
    while not d.exists() and d != d.parent:
        d = d.parent
    try:
        free = shutil.disk_usage(d).free
    except OSError:
        return  # unknown: the write itself will say
    if free < needed:
        error = UserError(f"not enough disk space in {directory} for the {what}: about {needed / MB:.1f} MB "
                          f"needed, {free / MB:.1f} MB free",
                          hint="free some space there or write to another disk")
        error.errno = errno.ENOSPC  # type: ignore[attr-defined]
        raise error
