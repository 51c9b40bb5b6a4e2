"""A backend job run end to end in a background thread, seen through the same surface as client.ProcessJob:
`poll()` returns new events ({"event": "progress" | "message" | "result" | "done" | "failed", ...}),
`cancel()` never blocks, `wait()` joins, `finished` / `error` tell how it ended.

Subclasses set their own fields, then call `super().__init__(name)` last (it starts the thread), and
implement `_run_steps()`, which raises AddonError (JobCancelled when cancelled) to fail.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from ..errors import AddonError, JobCancelled


class ThreadedJob:
    def __init__(self, thread_name: str) -> None:
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cancel = threading.Event()
        self._error: str | None = None
        self._finished = False
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    def poll(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        if any(e["event"] in ("done", "failed") for e in events):
            self._finished = True
        return events

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> list[dict[str, Any]]:
        self._thread.join(timeout)
        return self.poll()

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def error(self) -> str | None:
        return self._error

    def _emit(self, event: str, **data: Any) -> None:
        self._events.put({"event": event, **data})

    def _run_steps(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self._run_steps()
            self._emit("done")
        except AddonError as exc:
            self._error = "cancelled" if self._cancel.is_set() and isinstance(exc, JobCancelled) else str(exc)
            self._emit("failed", message=self._error)
        except Exception as exc:  # never let the thread die silently: the UI would wait forever
            self._error = f"{type(exc).__name__}: {exc}"
            self._emit("failed", message=self._error)
