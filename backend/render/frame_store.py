"""A disk-backed store of decoded clip frames, visited out of order by background matching.

Plain positioned reads and writes on a temporary file, not a memory map: writing through a memory map
onto a full disk is reported by the kernel as SIGBUS, which kills the process with no message and leaves
the temporary file behind. Here the whole store is reserved first (posix_fallocate), so a full disk is an
ordinary ENOSPC OSError at the start of the render, which the CLI reports with the path and what to do.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np


class FrameStore:
    """[count, height, width, 3] uint8 frames in a file; `store[i] = rgb`, `store[i]` -> a copy."""

    def __init__(self, path: Path, count: int, height: int, width: int) -> None:
        self.path = path
        self.shape = (count, height, width, 3)
        self._frame_bytes = height * width * 3
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.posix_fallocate(self._fd, 0, max(1, count * self._frame_bytes))
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # no fallocate: writes still report ENOSPC
                self.close()
                raise OSError(exc.errno, os.strerror(exc.errno or 0), str(path)) from None

    def __setitem__(self, index: int, rgb: np.ndarray) -> None:
        data = memoryview(np.ascontiguousarray(rgb, dtype=np.uint8)).cast("B")
        if data.nbytes != self._frame_bytes:
            raise ValueError(f"frame of {data.nbytes} bytes, the store holds {self._frame_bytes}")
        offset, done = int(index) * self._frame_bytes, 0
        while done < data.nbytes:
            done += os.pwrite(self._fd, data[done:], offset + done)

    def __getitem__(self, index: int) -> np.ndarray:
        buf = os.pread(self._fd, self._frame_bytes, int(index) * self._frame_bytes)
        if len(buf) != self._frame_bytes:
            raise OSError(errno.EIO, "frame store read short", str(self.path))
        return np.frombuffer(bytearray(buf), dtype=np.uint8).reshape(self.shape[1:])  # writable, like a map

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    __del__ = close

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
