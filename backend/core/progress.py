"""Progress reporting for long work: a tqdm bar for people, JSON lines for programs (the add-on, the service).

Stages call `progress.stage(name, total)` and then `.update(n)`; the reporter decides how to show it.
A cancel check is folded in: `Progress.check_cancel()` raises `Cancelled` when the owner asked to stop.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside a stage when the job's owner asked to stop."""


@dataclass
class Progress:
    """Reports (stage, done, total) to a sink. `mode` is 'bar', 'json' or 'quiet'."""

    mode: str = "bar"
    callback: Callable[[dict], None] | None = None
    cancel_requested: Callable[[], bool] = lambda: False
    _bar: tqdm | None = field(default=None, repr=False)
    _stage: str = ""
    _total: float = 0
    _done: float = 0
    _t0: float = 0.0
    _last_emit: float = 0.0

    def stage(self, name: str, total: float = 0) -> Progress:
        self.close()
        self._stage, self._total, self._done, self._t0 = name, float(total), 0.0, time.monotonic()
        if self.mode == "bar":
            self._bar = tqdm(total=total or None, desc=name, unit="it", leave=False, file=sys.stderr,
                             dynamic_ncols=True)
        self._emit(force=True)
        return self

    def update(self, n: float = 1) -> None:
        self.check_cancel()
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        self._emit()

    def iterate(self, items: Iterable[T], name: str, total: float = 0) -> Iterator[T]:
        self.stage(name, total)
        for item in items:
            yield item
            self.update(1)

    def message(self, text: str) -> None:
        if self.mode == "bar":
            tqdm.write(text, file=sys.stderr)
        elif self.mode == "json":
            print(json.dumps({"event": "message", "text": text}), flush=True)
        if self.callback:
            self.callback({"event": "message", "text": text})

    def check_cancel(self) -> None:
        if self.cancel_requested():
            raise Cancelled(f"cancelled during '{self._stage}'")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_emit < 0.25 and self._done < self._total:
            return
        self._last_emit = now
        frac = self._done / self._total if self._total else 0.0
        elapsed = now - self._t0
        eta = elapsed * (1 - frac) / frac if frac > 0 else None
        event = {"event": "progress", "stage": self._stage, "done": self._done, "total": self._total,
                 "fraction": round(frac, 4), "eta_s": None if eta is None else round(eta, 1)}
        if self.mode == "json":
            print(json.dumps(event), flush=True)
        if self.callback:
            self.callback(event)


QUIET = Progress(mode="quiet")
