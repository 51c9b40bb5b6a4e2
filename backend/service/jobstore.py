"""The persistent job store: an SQLite index (jobs, uploads, cached profiles, stage timings) plus a folder
per job and per upload under the data directory.

Every state change is written through to SQLite before it is visible to clients, so a kill -9 never loses
a job or an acknowledged upload. Progress (stage, fraction, ETA) changes many times a second; it lives in
memory and reaches SQLite at most once a second, which is all a restart needs. Reads (the status calls the
add-on polls) are served from memory under a lock and never touch the disk.

Layout of the data directory:
  index.sqlite3            the index
  uploads/<id>             one acknowledged upload (bytes only; its name and kind are in the index)
  uploads/.partial/        uploads being streamed; swept at start (never acknowledged, so never promised)
  jobs/<id>/inputs/<role>  hard links to the job's uploads (roles: clip, audio, tracks...)
  jobs/<id>/work/          stage scratch space;  jobs/<id>/out/  results;  jobs/<id>/log.txt
  profiles/<profile_id>/   analyzed profiles, shared by every job (docs/formats.md)
  clips/<profile_id>       the clip each profile was analysed from (hard link), for render's backgrounds
"""

from __future__ import annotations

import collections
import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)
LOG_TAIL_LINES = 40
PROGRESS_FLUSH_S = 1.0
# A job whose stage was interrupted by a server crash this many times is failed instead of retried:
# a stage that reliably takes the server down must not loop forever.
MAX_ATTEMPTS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, kind TEXT NOT NULL,
    params TEXT NOT NULL, inputs TEXT NOT NULL, state TEXT NOT NULL, stage TEXT NOT NULL DEFAULT '',
    progress REAL NOT NULL DEFAULT 0, eta_s REAL, error TEXT, done_steps TEXT NOT NULL DEFAULT '[]',
    result TEXT NOT NULL DEFAULT '{}', attempts INTEGER NOT NULL DEFAULT 0, device TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, started REAL, finished REAL);
CREATE TABLE IF NOT EXISTS profiles (
    input_key TEXT PRIMARY KEY, profile_id TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS step_stats (
    step TEXT PRIMARY KEY, mean_s REAL NOT NULL, n INTEGER NOT NULL);
"""

_JOB_COLUMNS = ("seq", "id", "kind", "params", "inputs", "state", "stage", "progress", "eta_s", "error",
                "done_steps", "result", "attempts", "device", "cancel_requested", "created", "started",
                "finished")


def new_id() -> str:
    """An unguessable identifier (128 random bits), safe as a file name and in a URL."""
    return secrets.token_urlsafe(16)


@dataclass
class Upload:
    id: str
    name: str
    kind: str
    size: int
    sha256: str
    created: float

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind, "size": self.size, "sha256": self.sha256,
                "created": self.created}


@dataclass
class Job:
    seq: int
    id: str
    kind: str
    params: dict[str, Any]
    inputs: dict[str, str]  # role -> upload id (the files themselves are linked into the job folder)
    state: str
    stage: str = ""
    progress: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    done_steps: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    device: str | None = None
    cancel_requested: bool = False
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    log_tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=LOG_TAIL_LINES))

    def public(self, queue_position: int | None) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "stage": self.stage,
                "progress": round(self.progress, 4), "eta_s": self.eta_s, "queue_position": queue_position,
                "error": self.error, "log_tail": list(self.log_tail), "done_steps": list(self.done_steps),
                "result": dict(self.result), "params": dict(self.params), "attempts": self.attempts,
                "device": self.device, "created": self.created, "started": self.started,
                "finished": self.finished}


class JobStore:
    """Thread-safe; the API's event loop and the device workers share one instance."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir).resolve()
        self.uploads_dir = self.root / "uploads"
        self.partial_dir = self.uploads_dir / ".partial"
        self.jobs_dir = self.root / "jobs"
        self.profiles_dir = self.root / "profiles"
        for d in (self.partial_dir, self.jobs_dir, self.profiles_dir, self.root / "clips"):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)  # notified when a job is queued or cancelled
        self._db = sqlite3.connect(self.root / "index.sqlite3", check_same_thread=False, isolation_level=None)
        # WAL + NORMAL survives a killed process (not a power cut); plenty for a job queue and cheaper than FULL.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._jobs: dict[str, Job] = {}
        self._last_flush: dict[str, float] = {}
        for row in self._db.execute(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs ORDER BY seq"):
            job = self._job_from_row(row)
            job.log_tail.extend(_read_tail(self.job_dir(job.id) / "log.txt", LOG_TAIL_LINES))
            self._jobs[job.id] = job
        # Never-acknowledged partial uploads from a previous run.
        for leftover in self.partial_dir.iterdir():
            leftover.unlink(missing_ok=True)

    # ---- paths (all server-generated; client strings never become paths) ----

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def upload_path(self, upload_id: str) -> Path:
        return self.uploads_dir / upload_id

    def profile_dir(self, profile_id: str) -> Path:
        return self.profiles_dir / profile_id

    def profile_clip(self, profile_id: str) -> Path:
        """The clip a profile was analysed from (render matches backgrounds in it); kept beside, not inside,
        the profile directory, whose contents docs/formats.md defines."""
        return self.root / "clips" / profile_id

    # ---- uploads ----

    def add_upload(self, partial: Path, name: str, kind: str, size: int, sha256: str) -> Upload:
        upload = Upload(id=new_id(), name=name, kind=kind, size=size, sha256=sha256, created=time.time())
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, self.upload_path(upload.id))
        try:
            with self._lock:
                self._db.execute("INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?)",
                                 (upload.id, name, kind, size, sha256, upload.created))
        except BaseException:
            self.upload_path(upload.id).unlink(missing_ok=True)  # not acknowledged: not kept
            raise
        return upload

    def get_upload(self, upload_id: str) -> Upload | None:
        with self._lock:
            row = self._db.execute("SELECT id, name, kind, size, sha256, created FROM uploads WHERE id = ?",
                                   (upload_id,)).fetchone()
        if row is None or not self.upload_path(row[0]).is_file():
            return None
        return Upload(*row)

    # ---- profiles cache ----

    def cached_profile(self, input_key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT profile_id FROM profiles WHERE input_key = ?", (input_key,)).fetchone()
        if row and (self.profile_dir(row[0]) / "manifest.json").is_file():
            return str(row[0])
        return None

    def remember_profile(self, input_key: str, profile_id: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO profiles VALUES (?, ?, ?)", (input_key, profile_id, time.time()))

    # ---- stage timing history (for ETAs) ----

    def step_mean_s(self, step: str) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT mean_s FROM step_stats WHERE step = ?", (step,)).fetchone()
        return float(row[0]) if row else None

    def record_step_time(self, step: str, seconds: float) -> None:
        with self._lock:
            row = self._db.execute("SELECT mean_s, n FROM step_stats WHERE step = ?", (step,)).fetchone()
            mean, n = (row[0], row[1]) if row else (0.0, 0)
            n = min(n + 1, 20)  # a moving average: hardware and inputs change
            mean += (seconds - mean) / n
            self._db.execute("INSERT OR REPLACE INTO step_stats VALUES (?, ?, ?)", (step, mean, n))

    # ---- jobs ----

    def create_job(self, kind: str, params: dict[str, Any], inputs: dict[str, Path]) -> Job:
        """Link (or copy) each input file into a new job folder, then queue the job. On any failure (a full
        disk) the folder is removed again: a job is either in the index with its inputs or not at all."""
        job_id = new_id()
        folder = self.job_dir(job_id)
        input_ids: dict[str, str] = {}
        try:
            (folder / "inputs").mkdir(parents=True)
            (folder / "work").mkdir()
            (folder / "out").mkdir()
            for role, src in inputs.items():
                dest = folder / "inputs" / role
                try:
                    os.link(src, dest)  # the job keeps its input even if the upload is deleted later
                except OSError:
                    shutil.copyfile(src, dest)
                input_ids[role] = src.name
            (folder / "log.txt").write_text("")
            with self._lock:
                cur = self._db.execute(
                    "INSERT INTO jobs (id, kind, params, inputs, state, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (job_id, kind, json.dumps(params), json.dumps(input_ids), QUEUED, time.time()))
                job = Job(seq=int(cur.lastrowid or 0), id=job_id, kind=kind, params=params, inputs=input_ids,
                          state=QUEUED, created=time.time())
                self._jobs[job_id] = job
                self.changed.notify_all()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.log(job_id, f"queued {kind} job")
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def public(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.public(self._queue_position(job))

    def list_public(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.seq, reverse=True)[:limit]
            return [j.public(self._queue_position(j)) for j in jobs]

    def counts(self) -> dict[str, int]:
        with self._lock:
            counts = collections.Counter(j.state for j in self._jobs.values())
        return {s: counts.get(s, 0) for s in (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)}

    def _queue_position(self, job: Job) -> int | None:
        if job.state != QUEUED:
            return None
        return sum(1 for j in self._jobs.values() if j.state == QUEUED and j.seq < job.seq)

    def claim_next(self, device: str, timeout: float) -> Job | None:
        """The oldest queued job, now marked running on `device`; None after `timeout` seconds without one."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                queued = [j for j in self._jobs.values() if j.state == QUEUED]
                if queued:
                    job = min(queued, key=lambda j: j.seq)
                    job.state, job.device, job.attempts = RUNNING, device, job.attempts + 1
                    job.started = job.started or time.time()
                    self._save(job)
                    return job
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def set_progress(self, job_id: str, stage: str, progress: float, eta_s: float | None) -> None:
        with self._lock:
            job = self._jobs[job_id]
            job.stage, job.progress, job.eta_s = stage, max(job.progress, min(progress, 1.0)), eta_s
            now = time.monotonic()
            if now - self._last_flush.get(job_id, 0.0) >= PROGRESS_FLUSH_S:
                self._last_flush[job_id] = now
                self._save(job)

    def finish_step(self, job_id: str, step: str, result: dict[str, Any]) -> None:
        with self._lock:
            job = self._jobs[job_id]
            job.done_steps.append(step)
            job.result.update(result)
            self._save(job)

    def finish(self, job_id: str, state: str, error: str | None = None) -> None:
        with self._lock:
            job = self._jobs[job_id]
            job.state, job.error, job.finished = state, error, time.time()
            if state == SUCCEEDED:
                job.progress, job.eta_s = 1.0, 0.0
            else:
                job.eta_s = None
            self._save(job)
            self.changed.notify_all()
        self.log(job_id, f"{state}" + (f": {error}" if error else ""))

    def requeue(self, job_id: str, reason: str, count_attempt: bool = True) -> None:
        """Put an interrupted running job back at its place in the queue (it resumes at its next step).
        A clean shutdown does not count as a failed attempt; a crash (found by `recover`) does."""
        with self._lock:
            job = self._jobs[job_id]
            job.state, job.eta_s = QUEUED, None
            if not count_attempt:
                job.attempts = max(0, job.attempts - 1)
            self._save(job)
            self.changed.notify_all()
        self.log(job_id, reason)

    def request_cancel(self, job_id: str) -> str:
        """Cancel a queued job at once; flag a running one for its worker. Returns the state afterwards."""
        with self._lock:
            job = self._jobs[job_id]
            if job.state == QUEUED:
                job.cancel_requested = True
                self._save(job)
                self.finish(job_id, CANCELLED, "cancelled before it started")
            elif job.state == RUNNING:
                job.cancel_requested = True
                self._save(job)
                self.changed.notify_all()
            return job.state

    def recover(self) -> list[str]:
        """At start: every job a dead server left 'running' is resumed from its last finished step, or failed
        with the reason when it already crashed the server too often. Returns one line per decision."""
        notes = []
        with self._lock:
            for job in sorted(self._jobs.values(), key=lambda j: j.seq):
                if job.state != RUNNING:
                    continue
                where = f"during '{job.stage}'" if job.stage else "before its first stage"
                if job.cancel_requested:
                    self.finish(job.id, CANCELLED, f"cancelled (the server stopped {where})")
                    notes.append(f"{job.id}: cancelled")
                elif job.attempts >= MAX_ATTEMPTS:
                    self.finish(job.id, FAILED, f"the server stopped {where} {job.attempts} times; giving up "
                                                f"(see the job log for the last messages)")
                    notes.append(f"{job.id}: failed after {job.attempts} attempts")
                else:
                    done = ", ".join(job.done_steps) or "none"
                    self.requeue(job.id, f"the server stopped {where}; resuming (finished steps: {done})")
                    notes.append(f"{job.id}: requeued")
        return notes

    # ---- retention ----

    def delete_job(self, job_id: str) -> bool:
        """Forget a finished job and delete its folder. False when it is queued or running."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in FINAL_STATES:
                return False
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            del self._jobs[job_id]
            self._last_flush.pop(job_id, None)
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return True

    def prune(self, keep_s: float, now: float | None = None) -> tuple[int, int]:
        """Delete finished jobs older than `keep_s` and uploads older than that which no queued or running
        job still needs (a job links its inputs into its own folder, so nothing it holds is lost).
        Returns (jobs deleted, uploads deleted)."""
        cutoff = (now or time.time()) - keep_s
        with self._lock:
            old_jobs = [j.id for j in self._jobs.values()
                        if j.state in FINAL_STATES and (j.finished or j.created) < cutoff]
            needed = {i for j in self._jobs.values() if j.state not in FINAL_STATES for i in j.inputs.values()}
            old_uploads = [r[0] for r in self._db.execute("SELECT id FROM uploads WHERE created < ?", (cutoff,))
                           if r[0] not in needed]
        jobs = sum(self.delete_job(job_id) for job_id in old_jobs)
        for upload_id in old_uploads:
            with self._lock:
                self._db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
            self.upload_path(upload_id).unlink(missing_ok=True)
        return jobs, len(old_uploads)

    # ---- logs ----

    def log(self, job_id: str, line: str) -> None:
        line = line.rstrip()
        if not line:
            return
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job.log_tail.append(stamped)
        try:
            with open(self.job_dir(job_id) / "log.txt", "a", encoding="utf-8") as fh:
                fh.write(stamped + "\n")
        except OSError:
            pass  # a full disk: the line stays in the in-memory tail; the job's state is in SQLite

    # ---- persistence ----

    def _save(self, job: Job) -> None:
        self._db.execute(
            "UPDATE jobs SET state=?, stage=?, progress=?, eta_s=?, error=?, done_steps=?, result=?, attempts=?, "
            "device=?, cancel_requested=?, started=?, finished=? WHERE id=?",
            (job.state, job.stage, job.progress, job.eta_s, job.error, json.dumps(job.done_steps),
             json.dumps(job.result), job.attempts, job.device, int(job.cancel_requested), job.started,
             job.finished, job.id))

    def _job_from_row(self, row: tuple) -> Job:
        d = dict(zip(_JOB_COLUMNS, row, strict=True))
        return Job(seq=d["seq"], id=d["id"], kind=d["kind"], params=json.loads(d["params"]),
                   inputs=json.loads(d["inputs"]), state=d["state"], stage=d["stage"], progress=d["progress"],
                   eta_s=d["eta_s"], error=d["error"], done_steps=json.loads(d["done_steps"]),
                   result=json.loads(d["result"]), attempts=d["attempts"], device=d["device"],
                   cancel_requested=bool(d["cancel_requested"]), created=d["created"], started=d["started"],
                   finished=d["finished"])

    def close(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                self._save(job)
            self._db.close()


def _read_tail(path: Path, n: int) -> list[str]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line.rstrip("\n") for line in collections.deque(fh, maxlen=n)]
