"""Long operations as a pipeline of steps: backend commands (child processes or service jobs, see client.py)
and main-thread callbacks (e.g. importing the result into the scene).

In the UI a `bpy.app.timers` callback advances the one active pipeline, so Blender stays responsive and the
panel shows a progress bar and Cancel. In background mode timers never fire, so operators call
`run_blocking`. Tests drive `timer_tick` directly. The timer is always unregistered on finish and in
`shutdown()` (bpy 4.5 hangs at exit while a timer is registered).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import bpy

from ..clients.client import Backend, Job
from ..data.progress_lines import LinePacer, overall_eta, progress_line
from ..errors import AddonError

POLL_INTERVAL_S = 0.2
SHUTDOWN_WAIT_S = 5.0


@dataclass
class Step:
    label: str
    args: Sequence[str] | None = None  # a backend command ...
    call: Callable[[], str | None] | None = None  # ... or a main-thread function (returns a result note)


@dataclass
class Pipeline:
    title: str
    backend: Backend | None
    steps: list[Step]
    scene_name: str
    index: int = 0
    job: Job | None = None
    stage: str = ""
    fraction: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    result: str = ""
    finished: bool = False
    messages: list[str] = field(default_factory=list)

    @property
    def overall(self) -> float:
        return min(1.0, (self.index + self.fraction) / max(1, len(self.steps)))

    def tick(self) -> bool:
        """Advance as far as possible without blocking; False once finished (done, failed or cancelled)."""
        while not self.finished:
            if self.index >= len(self.steps):
                self.finished = True
                break
            step = self.steps[self.index]
            if step.call is not None:
                self.stage = step.label
                try:
                    note = step.call()
                except AddonError as exc:
                    return self._fail(str(exc))
                except Exception as exc:  # a bug: keep Blender alive and say what happened
                    return self._fail(f"{step.label} failed: {type(exc).__name__}: {exc}")
                if note:
                    self.result = note
                self._next()
                continue
            if self.job is None:
                if self.backend is None:
                    return self._fail("no backend configured")
                self.stage, self.fraction = step.label, 0.0
                try:
                    self.job = self.backend.start(list(step.args or ()))
                except AddonError as exc:
                    return self._fail(str(exc))
            for event in self.job.poll():
                kind = event.get("event")
                if kind == "progress":
                    self.stage = _stage_text(step.label, str(event.get("stage", "")))
                    self.fraction = float(event.get("fraction") or 0.0)
                    self.eta_s = event.get("eta_s")
                elif kind == "message":
                    self.messages.append(str(event.get("text", "")))
                elif kind == "failed":
                    return self._fail(f"{step.label}: {event.get('message')}")
                elif kind == "done":
                    self.job = None
                    self._next()
                    break
            else:
                return True  # still running
        return False

    def _next(self) -> None:
        self.index += 1
        self.fraction = 0.0
        if self.index >= len(self.steps):
            self.finished = True
            self.stage = "done"

    def _fail(self, message: str) -> bool:
        self.error, self.finished = message, True
        return False

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
        if not self.finished:
            self.error, self.finished = "cancelled", True


def _stage_text(label: str, stage: str) -> str:
    """"Analyze: fit face model", also when the service already names its step ("analyze: fit face model")."""
    if stage.lower().startswith(label.lower() + ":"):
        stage = stage[len(label) + 1:].strip()
    return f"{label}: {stage}".rstrip(": ")


_active: Pipeline | None = None


def active() -> Pipeline | None:
    return _active


def _sync_props(p: Pipeline) -> None:
    scene = bpy.data.scenes.get(p.scene_name)
    if scene is None:
        return
    props: Any = scene.talking_head  # type: ignore[attr-defined]
    props.running = not p.finished
    props.progress = p.overall
    props.stage = p.stage if not p.finished else (p.error or "done")
    if p.finished:
        props.error = p.error or ""
        if p.result:
            props.result = p.result
    _redraw()


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def start(pipeline: Pipeline, *, blocking: bool) -> Pipeline:
    """Run now (blocking) or hand to the timer. One pipeline at a time."""
    global _active
    if _active is not None and not _active.finished:
        raise AddonError(f"'{_active.title}' is still running. Wait for it or press Cancel.")
    _active = pipeline
    if blocking:
        run_blocking(pipeline)
    else:
        _sync_props(pipeline)
        if not bpy.app.timers.is_registered(timer_tick):
            bpy.app.timers.register(timer_tick, first_interval=POLL_INTERVAL_S)
    return pipeline


def run_blocking(pipeline: Pipeline) -> None:
    """Run to the end; in background mode print progress lines (percent, stage, ETA) to stdout."""
    lines = bool(bpy.app.background)
    pacer, t0 = LinePacer(), time.monotonic()
    while True:
        running = pipeline.tick()
        if lines:
            now = time.monotonic()
            if pacer.due(pipeline.stage, pipeline.overall, now) or not running:
                last = pipeline.index >= len(pipeline.steps) - 1
                eta = 0.0 if not running else overall_eta(pipeline.overall, now - t0, pipeline.eta_s, last)
                stage = (pipeline.error or "done") if not running else pipeline.stage
                print(progress_line(pipeline.title, 1.0 if not running and not pipeline.error
                                    else pipeline.overall, stage, eta), flush=True)
        if not running:
            break
        time.sleep(0.05)
    _sync_props(pipeline)


def timer_tick() -> float | None:
    """The bpy.app.timers callback: returns the next interval, or None to unregister itself."""
    p = _active
    if p is None:
        return None
    p.tick()
    _sync_props(p)
    return None if p.finished else POLL_INTERVAL_S


def cancel() -> bool:
    p = _active
    if p is None or p.finished:
        return False
    p.cancel()
    _sync_props(p)
    return True


def shutdown() -> None:
    """On unregister: stop any child process or server job and remove the timer."""
    global _active
    if _active is not None:
        job = _active.job
        _active.cancel()
        _active = None
        wait = getattr(job, "wait", None)  # a service job: let its cancel reach the server (before a local
        if callable(wait):  # backend is stopped too, which would only requeue it)
            wait(SHUTDOWN_WAIT_S)
    if bpy.app.timers.is_registered(timer_tick):
        bpy.app.timers.unregister(timer_tick)
