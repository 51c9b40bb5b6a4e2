"""Atomic outputs: write into a temporary sibling, then rename, so nothing is ever half-written."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from backend.core.errors import UserError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temp file path beside `target`; rename it onto `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp directory beside `target`; it replaces `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial.", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if target.exists():
            old = target.with_name(f".{target.name}.old.{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            remove_tree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_tree(path: Path) -> None:
    """rmtree that also removes read-only folders we own (a profile the user made read-only): their
    entries cannot be deleted until the folder is writable again."""
    def writable_then_retry(func, name, _exc) -> None:  # noqa: ANN001 - shutil's onerror signature
        parent = os.path.dirname(name)
        with contextlib.suppress(OSError):
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
            if func is not os.rmdir and os.path.isdir(name) and not os.path.islink(name):
                os.chmod(name, os.stat(name).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
                shutil.rmtree(name, ignore_errors=True)
                return
            func(name)

    shutil.rmtree(path, onerror=writable_then_retry)


@contextlib.contextmanager
def exclusive_output(target: str | os.PathLike[str], what: str = "output",
                     on_busy: Callable[[], None] | None = None) -> Iterator[None]:
    """Refuse a second writer of `target` while this block runs (another process analysing into the same
    profile), instead of letting the last one silently win. An flock on a hidden sibling, removed after.

    With `on_busy` (a caller that only needs the finished output, e.g. a shared cache), a held lock is not an
    error: `on_busy` is called once and the block waits until the other writer is done."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.with_name(f".{target.name}.lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_busy is None:
                os.close(fd)
                raise UserError(f"another process is writing the {what} {target} right now",
                                hint="wait for it to finish, or choose another output") from None
            on_busy()
            on_busy = _nothing
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks until the other writer is done
        # the holder before us may have unlinked the file we opened: the lock must be on the live one
        if os.path.exists(lock) and os.stat(lock).st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _nothing() -> None:
    pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_torch(path: str | os.PathLike[str], obj: Any) -> Path:
    """torch.save, atomically, and with the same bytes for the same object: torch names an archive's records
    after the file it writes to, and the temp file's name is random, so the object is serialised into a
    buffer first (a rebuilt model can then be checked against its sha256)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)
