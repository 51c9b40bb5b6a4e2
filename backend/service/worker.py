"""One worker thread per device, fed by the job store's queue.

Each step runs as `python -m backend.commands._child ... --progress json <command> ...` in its own process
group, never inside the server process. That costs a second or two of imports per step and buys:
- a crash, an out-of-memory kill or a hung native library in a stage never takes the server down;
- cancel is immediate and complete (terminate the process group), even inside a long native call;
- the server's event loop never competes with the stage for the GIL, so status calls stay fast;
- the child runs at a lower CPU priority (nice), so on a small machine the API still answers promptly.
The child asks the kernel to kill it when its worker thread dies (PR_SET_PDEATHSIG), so a kill -9 of
the server leaves no orphan writing into a job folder while the restarted server resumes the job.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import backend
from backend.service import jobs
from backend.service.jobstore import CANCELLED, FAILED, SUCCEEDED, Job, JobStore

TERMINATE_GRACE_S = 3.0
CHILD_NICENESS = 10
# How much of what is left of a step a new sub-stage is assumed to take when no history exists yet:
# it keeps the job's progress monotonic without knowing how many sub-stages a step has.
NEW_SUBSTAGE_SHARE = 0.5


def detect_devices() -> list[str]:
    """'cuda:N' for each visible GPU, else ['cpu']. Imports torch once, at server start."""
    try:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [f"cuda:{i}" for i in range(count)] or ["cpu"]
    except Exception:  # no usable torch: the stages will say why; the service can still queue
        return ["cpu"]


def device_name(device: str) -> str:
    if device.startswith("cuda:"):
        try:
            import torch

            return f"{device} ({torch.cuda.get_device_name(int(device[5:]))})"
        except Exception:
            return device
    return "cpu"


class _StepFailed(Exception):
    pass


class Worker(threading.Thread):
    def __init__(self, store: JobStore, device: str) -> None:
        super().__init__(name=f"worker-{device}", daemon=True)
        self.store, self.device = store, device
        self._stop_event = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._job: Job | None = None
        self._proc_lock = threading.Lock()

    # ---- control (called from the API thread) ----

    def cancel(self, job_id: str) -> None:
        """Kill the running step of `job_id` if this worker runs it (the store already flagged the job)."""
        with self._proc_lock:
            if self._job is not None and self._job.id == job_id and self._proc is not None:
                _terminate(self._proc)

    def stop(self) -> None:
        """Server shutdown: kill the running step; the job goes back to the queue and resumes next start."""
        self._stop_event.set()
        with self._proc_lock:
            if self._proc is not None:
                _terminate(self._proc)
        with self.store.changed:
            self.store.changed.notify_all()

    # ---- the loop ----

    def run(self) -> None:
        while not self._stop_event.is_set():
            job = self.store.claim_next(self.device, timeout=1.0)
            if job is None:
                continue
            if self._stop_event.is_set():
                self.store.requeue(job.id, "server stopping before the job started", count_attempt=False)
                break
            self._job = job
            try:
                self._run_job(job)
            except Exception as exc:  # a bug in the service itself: fail this job, keep serving others
                self.store.finish(job.id, FAILED, f"internal service error: {type(exc).__name__}: {exc}")
            finally:
                self._job = None

    def _run_job(self, job: Job) -> None:
        steps = jobs.KIND_STEPS[job.kind]
        store = self.store
        if job.done_steps:
            store.log(job.id, f"resuming after finished steps: {', '.join(job.done_steps)}")
        for index, step in enumerate(steps):
            if step in job.done_steps:
                continue
            if job.cancel_requested:
                break
            plan = jobs.plan_step(store, job, step)
            base, span = index / len(steps), 1 / len(steps)
            if plan.cached is not None:
                store.log(job.id, f"{step}: reusing cached result {plan.cached}")
                store.finish_step(job.id, step, plan.cached)
                store.set_progress(job.id, f"{step}: cached", base + span, None)
                continue
            work = store.job_dir(job.id) / "work"
            shutil.rmtree(work, ignore_errors=True)  # leftovers of an interrupted attempt
            work.mkdir()
            t0 = time.monotonic()
            try:
                self._run_step(job, step, plan.argv or [], base, span, steps[index + 1:])
            except _StepFailed as exc:
                if self._stop_event.is_set() and not job.cancel_requested:
                    store.requeue(job.id, f"server stopped during '{step}'; it resumes at the next start",
                                  count_attempt=False)
                    return
                if job.cancel_requested:
                    break
                store.finish(job.id, FAILED, str(exc))
                return
            result = plan.complete()
            store.record_step_time(step, time.monotonic() - t0)
            store.finish_step(job.id, step, result)
            store.set_progress(job.id, f"{step}: done", base + span, None)
        if job.cancel_requested:
            store.finish(job.id, CANCELLED, "cancelled by request")
        else:
            store.finish(job.id, SUCCEEDED)

    def _run_step(self, job: Job, step: str, argv: list[str], base: float, span: float,
                  later_steps: list[str]) -> None:
        store = self.store
        command = [sys.executable, "-m", "backend.commands._child", str(CHILD_NICENESS), "--progress", "json", *argv]
        store.log(job.id, f"{step}: starting on {self.device}")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(backend.__file__).resolve().parents[1]),
                                                          env.get("PYTHONPATH")]))
        env["CUDA_VISIBLE_DEVICES"] = self.device[5:] if self.device.startswith("cuda:") else ""
        env.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "talking-head" / "numba"))
        env["PYTHONUNBUFFERED"] = "1"
        env["TALKING_HEAD_SERVER_PID"] = str(os.getpid())
        with self._proc_lock:
            if job.cancel_requested or self._stop_event.is_set():
                raise _StepFailed("cancelled")
            self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
                                          cwd=store.job_dir(job.id), env=env, start_new_session=True)
        proc = self._proc
        tracker = _ProgressTracker(store, job.id, step, base, span, later_steps)
        error: str | None = None
        assert proc.stdout is not None
        for line in proc.stdout:
            event = _parse_event(line)
            if event is None:
                store.log(job.id, f"{step}: {line.rstrip()}")
            elif event.get("event") == "progress":
                tracker.update(event)
            elif event.get("event") == "error":
                error = str(event.get("message", "")).removeprefix("error: ")
            elif event.get("event") == "message":
                store.log(job.id, f"{step}: {event.get('text', '')}")
            else:
                store.log(job.id, f"{step}: {json.dumps(event)}")
        code = proc.wait()
        with self._proc_lock:
            self._proc = None
        if code == 0:
            return
        if job.cancel_requested or self._stop_event.is_set():
            raise _StepFailed("cancelled")
        if code < 0:
            reason = f"the {step} stage was killed by signal {-code} ({_signal_name(-code)})"
            if -code == signal.SIGKILL:
                reason += "; the machine may have run out of memory"
            raise _StepFailed(reason)
        if error:
            raise _StepFailed(f"{step}: {error}")
        tail = list(job.log_tail)[-3:]
        raise _StepFailed(f"the {step} stage failed (exit code {code}); last log lines: {' | '.join(tail)}")


class _ProgressTracker:
    """Turns a stage's sub-stage events into one monotonic job progress and an ETA.

    A stage reports (sub-stage, fraction) without saying how many sub-stages follow, so each new sub-stage
    is assumed to take half of what is left of the step: progress never goes backwards and never reaches
    the end before the step does. The ETA is the current sub-stage's own estimate plus the mean duration of
    the job's later steps on this server (from earlier jobs); None while unknown.
    """

    def __init__(self, store: JobStore, job_id: str, step: str, base: float, span: float,
                 later_steps: list[str]) -> None:
        self.store, self.job_id, self.step, self.base, self.span = store, job_id, step, base, span
        self.substage = ""
        self.step_done = 0.0  # fraction of this step credited to sub-stages already finished
        self.share = NEW_SUBSTAGE_SHARE
        self.later_s = sum(store.step_mean_s(s) or 0.0 for s in later_steps)

    def update(self, event: dict[str, Any]) -> None:
        name = str(event.get("stage") or "")
        fraction = max(0.0, min(float(event.get("fraction") or 0.0), 1.0))
        if name != self.substage:
            if self.substage:
                self.step_done += self.share
            self.substage = name
            self.share = NEW_SUBSTAGE_SHARE * (1 - self.step_done)
        sub_eta = event.get("eta_s")
        eta = None if sub_eta is None else round(float(sub_eta) + self.later_s, 1)
        self.store.set_progress(self.job_id, f"{self.step}: {name}",
                                self.base + self.span * (self.step_done + self.share * fraction), eta)


def _parse_event(line: str) -> dict[str, Any] | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the step's process group, SIGKILL it if it lingers (in a thread: never block the caller)."""
    def kill() -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:
                proc.wait(TERMINATE_GRACE_S)
                return
            except subprocess.TimeoutExpired:
                continue

    threading.Thread(target=kill, name="terminate-step", daemon=True).start()


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return "unknown"

