"""Peak resident memory per benchmark stage: a background thread samples this process's RSS and keeps the
maximum seen under the current stage label. RSS includes what earlier stages still hold, so each stage also
records the RSS it started from."""

from __future__ import annotations

import threading
import time

SAMPLE_S = 0.02


def rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class StageMemory:
    """`with StageMemory() as mem: mem.label('decode'); ...; mem.peaks` -> {label: (start MiB, peak MiB)}."""

    def __init__(self) -> None:
        self.peaks: dict[str, list[float]] = {}
        self._label: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def label(self, name: str | None) -> None:
        now = rss_mb()
        with self._lock:
            self._label = name
            if name is not None:
                entry = self.peaks.setdefault(name, [now, now])
                entry[1] = max(entry[1], now)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = rss_mb()
            with self._lock:
                if self._label is not None:
                    entry = self.peaks[self._label]
                    entry[1] = max(entry[1], now)
            time.sleep(SAMPLE_S)

    def __enter__(self) -> StageMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.label(None)
        self._stop.set()
        self._thread.join()
