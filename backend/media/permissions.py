"""File permissions for finished outputs: temp files from `mkstemp` are owner-only (0600), but a video or
wav the user asked for should get the usual permissions that the umask allows (typically 0644)."""

from __future__ import annotations

import os
from pathlib import Path


def make_readable(path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
