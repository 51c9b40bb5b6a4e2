"""Per-stage meter for benchmarks: wall time, this process's CPU time (all threads) and peak resident memory
under the current stage label. A background thread samples RSS; RSS includes what earlier stages still hold,
so each stage also records the RSS it started from. CPU time is reported beside wall time because on a
shared machine the wall time of a multi-threaded stage can be several times its CPU time."""

from __future__ import annotations

import os
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
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class StageMeter:
    """`with StageMeter() as m: m.label('decode'); ...` -> m.stats {label: {wall_s, cpu_s, start_rss_mb,
    peak_rss_mb}}; time spent under a label is summed if the label comes back."""

    def __init__(self) -> None:
        self.stats: dict[str, dict[str, float]] = {}
        self._label: str | None = None
        self._since = (time.perf_counter(), time.process_time())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def label(self, name: str | None) -> None:
        now, wall, cpu = rss_mb(), time.perf_counter(), time.process_time()
        with self._lock:
            if self._label is not None:
                s = self.stats[self._label]
                s["wall_s"] += wall - self._since[0]
                s["cpu_s"] += cpu - self._since[1]
                s["peak_rss_mb"] = max(s["peak_rss_mb"], now)
            self._label, self._since = name, (wall, cpu)
            if name is not None:
                s = self.stats.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0, "start_rss_mb": now, "peak_rss_mb": now})
                s["peak_rss_mb"] = max(s["peak_rss_mb"], now)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = rss_mb()
            with self._lock:
                if self._label is not None:
                    s = self.stats[self._label]
                    s["peak_rss_mb"] = max(s["peak_rss_mb"], now)
            time.sleep(SAMPLE_S)

    def __enter__(self) -> StageMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.label(None)
        self._stop.set()
        self._thread.join()
