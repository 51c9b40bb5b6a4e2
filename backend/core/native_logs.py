"""Filter the C++ log lines MediaPipe/TFLite write straight to file descriptor 2.

They come from the graph's own threads, at start-up and at odd moments later, and bury the tool's own
progress and error messages. While the context is active, fd 2 is a pipe; a thread forwards every line to
the real stderr except those that look like native library logs.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

# A whole native log line, wherever it starts (it can land right after a tqdm redraw that has no newline).
NATIVE_LOG = re.compile(
    rb"(?:[IWE]\d{4} [\d:. ]+\d+ \S+:\d+\]|INFO: Created TensorFlow|WARNING: All log messages before absl)"
    rb"[^\n]*\n?")


@contextlib.contextmanager
def filtered_native_stderr() -> Iterator[None]:
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to filter
        yield
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def forward() -> None:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(4096):
                pending += chunk
                # tqdm redraws with '\r' and no newline: forward those pieces at once
                *lines, pending = re.split(rb"(?<=[\n\r])", pending)
                for line in lines:
                    if kept := NATIVE_LOG.sub(b"", line):
                        os.write(saved, kept)
            if kept := NATIVE_LOG.sub(b"", pending):
                os.write(saved, kept)

    thread = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end, so the reader sees EOF
        thread.join(timeout=5)
        os.close(saved)
