"""The HTTP service (`talking-head serve`) behind the same Backend/Job interface as the local child process.

Operators describe work in the backend CLI's words (`analyze CLIP -o PROFILE [--audio S]`, `animate PROFILE AUDIO
-o TRACKS [--pose ...]`, `render PROFILE TRACKS AUDIO -o VIDEO`). Locally those words are the command line; here
they become service jobs (addon/service_client.ServiceJob) whose inputs are uploaded and whose results land at the
same local paths, so the steps that follow (import, remembering paths) do not care which backend ran.

Standard library only: no bpy here (the caller checks Blender's online access before building one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from ..errors import AddonError, JobCancelled
from .service_client import BackendNotFound, ServiceClient, ServiceJob
from .threaded_job import ThreadedJob

REMOTE_COMMANDS = ("analyze", "animate", "render")
UPLOAD_SHARE = 0.1  # of a service job's progress bar: the uploads; the rest follows the server's progress


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit Blender
        raise AddonError(f"The add-on built a backend command the service does not understand: {message}")


def _parser() -> _Parser:
    p = _Parser(prog="talking-head", add_help=False)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", add_help=False)
    a.add_argument("clip")
    a.add_argument("-o", dest="output", required=True)
    a.add_argument("--audio")
    a.add_argument("--fps", type=float)
    n = sub.add_parser("animate", add_help=False)
    n.add_argument("profile")
    n.add_argument("audio")
    n.add_argument("-o", dest="output", required=True)
    n.add_argument("--pose")
    n.add_argument("--smoothing", type=float)
    n.add_argument("--expression-scale", dest="expression_scale", type=float)
    n.add_argument("--rig", choices=("pca", "arkit"))
    n.add_argument("--personalize", action="store_true")  # the service personalises by itself
    r = sub.add_parser("render", add_help=False)
    r.add_argument("profile")
    r.add_argument("tracks")
    r.add_argument("audio")
    r.add_argument("-o", dest="output", required=True)
    r.add_argument("--size", type=int)
    r.add_argument("--no-refine", dest="refine", action="store_false")
    return p


def parse_task(args: Sequence[str]) -> argparse.Namespace:
    """The CLI words of one step as a service task; commands the service has no job for are refused."""
    args = list(args)
    if not args or args[0] not in REMOTE_COMMANDS:
        name = args[0] if args else "(nothing)"
        raise AddonError(f"`{name}` runs only with a local backend. Clear the backend URL in the add-on "
                         "preferences to run it here.")
    return _parser().parse_args(args)


def _manifest(profile_dir: str) -> dict[str, Any]:
    try:
        with open(os.path.join(profile_dir, "manifest.json"), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _options(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class RemoteJob(ThreadedJob):
    """One step on the service, end to end in a thread; `poll()`/`cancel()`/`finished`/`error` like
    client.ProcessJob. `job_ids` lists the server jobs it submitted (for the log and for tests)."""

    def __init__(self, client: ServiceClient, task: argparse.Namespace, poll_interval: float = 0.5) -> None:
        self.client, self.task, self.poll_interval = client, task, poll_interval
        self.job_ids: list[str] = []
        self.service_job: ServiceJob | None = None
        self._lock = threading.Lock()
        super().__init__("talking-head-remote-step")

    # ---- the Job surface (the rest is ThreadedJob's) ----

    def cancel(self) -> None:
        """Never blocks: the service job's thread sends the cancel request and the step then ends 'cancelled'."""
        super().cancel()
        with self._lock:
            if self.service_job is not None:
                self.service_job.cancel()

    # ---- the thread ----

    def _progress(self, stage: str, fraction: float, eta_s: float | None = None) -> None:
        self._emit("progress", stage=stage, fraction=round(min(max(fraction, 0.0), 1.0), 4), eta_s=eta_s)

    def _run_steps(self) -> None:
        self.client.check()  # unreachable / wrong token / too old: say so before uploading anything
        getattr(self, f"_{self.task.command}")()

    def _service(self, request: dict[str, Any], files: dict[str, str], lo: float, hi: float,
                 download_dir: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
        """Run one service job, relaying its progress scaled into [lo, hi]; its status and downloaded files."""
        if self._cancel.is_set():
            raise JobCancelled("cancelled")
        with self._lock:
            job = ServiceJob(self.client, request, files, download_dir or tempfile.gettempdir(),
                             poll_interval=self.poll_interval)
            self.service_job = job
        if self._cancel.is_set():
            job.cancel()
        span = hi - lo
        while True:
            for event in job.poll():
                kind = event["event"]
                if kind == "progress":
                    f = float(event.get("fraction") or 0.0)
                    uploading = str(event.get("stage", "")).startswith("upload")
                    share = UPLOAD_SHARE * f if uploading else UPLOAD_SHARE + (1 - UPLOAD_SHARE) * f
                    self._progress(str(event.get("stage", "")), lo + span * share, event.get("eta_s"))
                elif kind == "message":
                    self._emit("message", text=str(event.get("text", "")))
                elif kind == "result":
                    return dict(event["status"]), dict(event.get("files") or {})
                elif kind == "failed":
                    message = str(event.get("message", "backend error"))
                    raise (JobCancelled if message == "cancelled" else AddonError)(message)
            if job.job_id and job.job_id not in self.job_ids:
                self.job_ids.append(job.job_id)
            time.sleep(0.05)

    def _server_has(self, profile_id: str) -> bool:
        try:
            self.client.profile(profile_id)
        except BackendNotFound:
            return False
        return True

    def _ensure_profile(self, profile_dir: str, lo: float, hi: float) -> tuple[str, float]:
        """The profile's id on the server. A profile analysed elsewhere (locally, another server) is analysed
        there again from its clip: profile ids are content hashes, so it gets the same id. Also returns where
        the progress bar stands afterwards."""
        manifest = _manifest(profile_dir)
        profile_id = str(manifest.get("profile_id") or "")
        if profile_id and self._server_has(profile_id):
            return profile_id, lo
        source = manifest.get("source") if isinstance(manifest.get("source"), dict) else {}
        clip = str(source.get("clip_path") or "") if source else ""
        if not clip or not os.path.isfile(clip):
            raise AddonError(f"The backend at {self.client.url} does not have the profile {profile_dir}, and its "
                             "clip is not on this machine. Run Analyze with this backend.")
        self._emit("message", text=f"the backend does not have this profile yet: analysing {clip} there")
        status, _ = self._service({"kind": "analyze", "overlay": False}, {"clip": clip}, lo, hi)
        return str(status["result"]["profile_id"]), hi

    def _analyze(self) -> None:
        t = self.task
        local = str(_manifest(t.output).get("profile_id") or "")
        if local and self._server_has(local):
            self._emit("message", text=f"profile {local} is already analysed here and on the backend")
            self._progress("cached", 1.0)
            return
        files = {"clip": t.clip, **({"audio": t.audio} if t.audio else {})}
        # no overlay video: the add-on never shows it, and it would only add to the download
        status, _ = self._service({"kind": "analyze", "overlay": False, **_options(fps=t.fps)}, files, 0.0, 0.9)
        profile_id = str(status["result"]["profile_id"])
        self._progress("download profile", 0.9)
        if self._cancel.is_set():
            raise JobCancelled("cancelled")
        self.client.download_profile(profile_id, t.output)
        self._progress("download profile", 1.0)

    def _fetch(self, request: dict[str, Any], files: dict[str, str], lo: float, name: str, dest: str) -> None:
        parent = os.path.dirname(os.path.abspath(dest))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".th-download.", dir=parent)  # same filesystem: the final move is a rename
        try:
            _, got = self._service(request, files, lo, 1.0, download_dir=tmp)
            if name not in got:
                raise AddonError(f"The backend job finished without {name}.")
            os.replace(got[name], dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _animate(self) -> None:
        t = self.task
        profile_id, lo = self._ensure_profile(t.profile, 0.0, 0.5)
        options = _options(pose=t.pose, smoothing=t.smoothing, expression_scale=t.expression_scale, rig=t.rig)
        self._fetch({"kind": "animate", "profile": profile_id, "options": options}, {"audio": t.audio},
                    lo, "tracks.json", t.output)

    def _render(self) -> None:
        t = self.task
        profile_id, lo = self._ensure_profile(t.profile, 0.0, 0.3)
        options = _options(size=t.size, refine=None if t.refine else False)
        self._fetch({"kind": "render", "profile": profile_id, "options": options},
                    {"audio": t.audio, "tracks": t.tracks}, lo, "video.mp4", t.output)


class ServiceBackend:
    """Runs the analyze/animate/render steps on a `talking-head serve` at `client.url`."""

    def __init__(self, client: ServiceClient, poll_interval: float = 0.5) -> None:
        self.client, self.poll_interval = client, poll_interval

    def start(self, args: Sequence[str]) -> RemoteJob:
        return RemoteJob(self.client, parse_task(args), self.poll_interval)

    def describe(self) -> str:
        return f"service: {self.client.url}"
