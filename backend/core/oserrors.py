"""The one place that turns an operating-system error into a user error: what happened, to which path, and
what to do. A full disk, a read-only or unwritable folder, a missing directory are the user's environment,
not bugs: the CLI reports them with exit code 2 (never 'internal error'), the service with 507 or 4xx JSON."""

from __future__ import annotations

import errno
import os

from backend.core.errors import UserError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# errno -> (what happened, what to do); {path} is the file or folder concerned.
_KNOWN: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the disk holding {path}",
                   "free some space there or write to another disk (a different -o / --data-dir)"),
    errno.EDQUOT: ("disk quota exceeded while writing {path}", "free some space or write somewhere else"),
    errno.EFBIG: ("file too large for this file system or for the process's file size limit: {path}",
                  "write to another file system, or raise the limit (ulimit -f)"),
    errno.EACCES: ("permission denied: {path}", "choose a location you can write to, or fix its permissions"),
    errno.EPERM: ("operation not permitted: {path}", "choose a location you can write to, or fix its permissions"),
    errno.EROFS: ("read-only file system: {path}", "write to a writable location"),
    errno.ENOENT: ("no such file or directory: {path}", "check the path"),
    errno.ENOTDIR: ("a part of the path is not a directory: {path}", "check the path"),
    errno.EISDIR: ("is a directory, not a file: {path}", "name a file, not a directory"),
    errno.ENAMETOOLONG: ("file name too long: {path}", "use a shorter path"),
    errno.EEXIST: ("already exists: {path}", "remove it or choose another name"),
    errno.ENOTEMPTY: ("directory not empty: {path}", "another process may be writing there; try again"),
    errno.EMFILE: ("too many open files (while opening {path})", "raise the limit (ulimit -n) or close programs"),
    errno.EIO: ("input/output error on {path}", "the disk or network share may be failing; check it"),
    errno.ENOMEM: ("out of memory (while handling {path})", "close other programs or use a shorter input"),
}


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


def user_error_from_os(exc: OSError, path: str | os.PathLike[str] | None = None) -> UserError | None:
    """A UserError for `exc` (naming its own file name, else `path`), or None for an errno not known here."""
    known = _KNOWN.get(exc.errno or -1)
    if known is None:
        return None
    where = exc.filename or path
    what, hint = known
    text = what.format(path=where if where is not None else "the output")
    if exc.filename2:
        text += f" (-> {exc.filename2})"
    error = UserError(text, hint=hint)
    error.errno = exc.errno  # type: ignore[attr-defined]
    return error
