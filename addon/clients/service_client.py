"""The add-on's client for the HTTP backend (`talking-head serve`, API v1; docs/service.md).

Standard library only (urllib): Blender's Python has nothing else. Two layers:

- `ServiceClient`: one method per API call (health/check, upload, submit, status, cancel, downloads). Every
  failure becomes an `AddonError` subclass whose message tells the user what to do: the backend is
  unreachable, too old (or not a Talking Head backend), or refused the token.
- `ServiceJob`: one job end to end in a background thread (upload inputs, submit, poll, download results)
  with the same surface as `client.ProcessJob` (`poll()` -> events, `cancel()`, `finished`, `error`), so the
  UI's timer never blocks on the network and background mode can simply `wait()`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, BinaryIO

from ..errors import AddonError, JobCancelled
from .threaded_job import ThreadedJob

API_VERSION = 1
MIN_BACKEND_VERSION = (0, 1, 0)
FINAL_STATES = ("succeeded", "failed", "cancelled")
CHUNK = 1 << 20


class BackendUnreachable(AddonError):
    pass


class BackendAuthError(AddonError):
    pass


class BackendTooOld(AddonError):
    pass


class BackendNotFound(AddonError):
    """404: the backend has no such job, upload, profile or file (e.g. a profile analysed elsewhere)."""


def is_loopback_url(url: str) -> bool:
    """True when the URL names this machine; other hosts need Blender's online access to be allowed."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


class _CountingReader:
    """File wrapper for urllib's streaming upload: reports bytes sent and stops when cancelled."""

    def __init__(self, fh: BinaryIO, size: int, on_bytes: Callable[[int, int], None] | None,
                 cancelled: Callable[[], bool]) -> None:
        self.fh, self.size, self.sent, self.on_bytes, self.cancelled = fh, size, 0, on_bytes, cancelled

    def read(self, n: int = -1) -> bytes:
        if self.cancelled():
            raise JobCancelled("upload cancelled")
        data = self.fh.read(CHUNK if n is None or n < 0 else max(n, CHUNK))
        self.sent += len(data)
        if self.on_bytes:
            self.on_bytes(self.sent, self.size)
        return data


class ServiceClient:
    def __init__(self, url: str, token: str = "", timeout: float = 15.0) -> None:
        url = url.strip().rstrip("/")
        if not url:
            raise AddonError("No backend URL set. Enter it in the add-on preferences (e.g. http://127.0.0.1:8765).")
        if "://" not in url:
            url = "http://" + url
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise AddonError(f"The backend URL {url} must start with http:// or https://")
        self.url, self.token, self.timeout = url, token.strip(), timeout
        self.api = f"{self.url}/api/v{API_VERSION}"

    # ---- transport ----

    def _request(self, method: str, path: str, *, body: Any = None, data: Any = None,
                 headers: dict[str, str] | None = None, timeout: float | None = None) -> Any:
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(self.api + path, data=data, method=method, headers=hdrs)
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, path) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendUnreachable(
                f"Cannot reach the Talking Head backend at {self.url} ({reason}). Start it (Start local backend, "
                "or `talking-head serve` on the backend machine) and check the URL and the network.") from None

    def _http_error(self, exc: urllib.error.HTTPError, path: str) -> AddonError:
        try:
            payload = json.loads(exc.read() or b"{}")
            detail = payload.get("detail") if isinstance(payload, dict) else None
        except (ValueError, OSError):
            detail = None
        if isinstance(detail, list):  # request validation errors: name the fields
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
        if exc.code == 401:
            return BackendAuthError(f"The backend at {self.url} refused the token. Set the same token in the add-on "
                                    "preferences as the server's --token / TALKING_HEAD_TOKEN.")
        if exc.code == 404 and path == "/health":
            return BackendTooOld(f"{self.url} is not a Talking Head backend with API v{API_VERSION} (it may be too "
                                 "old): update the backend or check the URL.")
        if exc.code == 404:
            return BackendNotFound(str(detail or f"{exc.code} {exc.reason}"))
        if exc.code >= 500:
            return AddonError(f"The backend at {self.url} had an internal error ({exc.code}): {detail or exc.reason}. "
                              "See the server's output.")
        return AddonError(str(detail or f"{exc.code} {exc.reason}"))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._request(method, path, **kwargs) as resp:
            return json.loads(resp.read())

    # ---- API ----

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    def check(self) -> dict[str, Any]:
        """Health, after making sure the backend speaks this API and is new enough; else a clear error."""
        h = self.health()
        if h.get("service") != "talking-head" or int(h.get("api_version", 0)) != API_VERSION:
            raise BackendTooOld(f"{self.url} speaks API v{h.get('api_version')}, this add-on needs v{API_VERSION}: "
                                "install matching versions of the add-on and the backend.")
        if _version_tuple(h.get("version", "0")) < MIN_BACKEND_VERSION:
            raise BackendTooOld(f"The backend at {self.url} is version {h.get('version')}; this add-on needs "
                                f"{'.'.join(map(str, MIN_BACKEND_VERSION))} or newer. Update the backend.")
        return h

    def upload(self, path: str, name: str | None = None, on_bytes: Callable[[int, int], None] | None = None,
               cancelled: Callable[[], bool] = lambda: False, limit: int | None = None) -> dict[str, Any]:
        """Stream one local file to the backend; returns {id, name, kind, size, sha256}."""
        if not os.path.isfile(path):
            raise AddonError(f"File not found: {path}")
        size = os.path.getsize(path)
        if limit is not None and size > limit:
            raise AddonError(f"{os.path.basename(path)} is {size / 2**20:.0f} MB, over the backend's upload limit "
                             f"of {limit / 2**20:.0f} MB.")
        query = urllib.parse.urlencode({"name": name or os.path.basename(path)})
        with open(path, "rb") as fh:
            reader = _CountingReader(fh, size, on_bytes, cancelled)
            return self._json("POST", f"/uploads?{query}", data=reader, timeout=max(self.timeout, 600),
                              headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})

    def submit(self, request: dict[str, Any]) -> dict[str, Any]:
        """Queue a job: {"kind": "analyze"|"animate"|"render"|"generate", ...} (see docs/service.md)."""
        return self._json("POST", "/jobs", body=request)

    def status(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{urllib.parse.quote(job_id, safe='')}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"/jobs/{urllib.parse.quote(job_id, safe='')}/cancel")

    def profile(self, profile_id: str) -> dict[str, Any]:
        return self._json("GET", f"/profiles/{urllib.parse.quote(profile_id, safe='')}")

    def download_job_file(self, job_id: str, name: str, dest: str) -> str:
        return self._download(f"/jobs/{urllib.parse.quote(job_id, safe='')}/files/{urllib.parse.quote(name)}", dest)

    def download_profile(self, profile_id: str, dest_dir: str) -> str:
        """Every file of a profile into `dest_dir` (created; replaced as a whole, never half-written)."""
        info = self.profile(profile_id)
        parent = os.path.dirname(os.path.abspath(dest_dir))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".profile.", dir=parent)
        try:
            for name in info["files"]:
                if os.path.basename(name) != name or name.startswith("."):
                    continue  # never let a server-sent name escape the folder
                self._download(f"/profiles/{urllib.parse.quote(profile_id, safe='')}/files/{urllib.parse.quote(name)}",
                               os.path.join(tmp, name))
            if os.path.isdir(dest_dir):
                shutil.rmtree(dest_dir)
            os.replace(tmp, dest_dir)
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        return dest_dir

    def _download(self, path: str, dest: str) -> str:
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".download.", dir=os.path.dirname(os.path.abspath(dest)))
        try:
            with os.fdopen(fd, "wb") as out, self._request("GET", path, timeout=max(self.timeout, 600)) as resp:
                shutil.copyfileobj(resp, out, CHUNK)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return dest


class ServiceJob(ThreadedJob):
    """One job end to end in a background thread: upload `files` (role -> local path), submit `request`
    with the upload ids filled in, poll until it ends, download its results into `download_dir`.

    poll() returns new events, shaped like the CLI's JSON lines: {"event": "progress", "stage", "fraction",
    "eta_s"}, {"event": "message", "text"}, {"event": "result", "status", "files": {name: local path},
    "profile_dir"}, then {"event": "done"} or {"event": "failed", "message"}.
    """

    def __init__(self, client: ServiceClient, request: dict[str, Any], files: dict[str, str], download_dir: str,
                 fetch_profile: bool = False, poll_interval: float = 0.5) -> None:
        self.client, self.request, self.files, self.download_dir = client, dict(request), dict(files), download_dir
        self.fetch_profile, self.poll_interval = fetch_profile, poll_interval
        self.job_id: str | None = None
        self.status: dict[str, Any] | None = None
        super().__init__("talking-head-service-job")

    # ---- the ProcessJob surface (the rest is ThreadedJob's) ----

    def cancel(self) -> None:
        """Stop uploading, and cancel the job on the server (it stops within seconds). Never blocks: the
        job's thread sends the request and then reports the end as usual."""
        super().cancel()

    def wait(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Background mode: block until the job ends; returns all events. Raises AddonError on failure."""
        events = super().wait(timeout)
        if self._error:
            raise (JobCancelled if self._cancel.is_set() else AddonError)(self._error)
        return events

    def _run_steps(self) -> None:
        health = self.client.check()
        limit = int(health.get("max_upload_bytes") or 0) or None
        request = dict(self.request)
        for role, path in self.files.items():
            label = os.path.basename(path)

            def on_bytes(sent: int, size: int, label: str = label) -> None:
                self._emit("progress", stage=f"upload {label}", fraction=round(sent / max(size, 1), 4), eta_s=None)

            up = self.client.upload(path, on_bytes=on_bytes, cancelled=self._cancel.is_set, limit=limit)
            request[role] = up["id"]
        if self._cancel.is_set():
            raise JobCancelled("cancelled")
        status = self.client.submit(request)
        job_id = str(status["id"])
        self.job_id, self.status = job_id, status
        self._emit("message", text=f"job {status['id']} queued on {self.client.url}")
        cancel_sent = False
        while status["state"] not in FINAL_STATES:
            if self._cancel.is_set() and not cancel_sent:
                status, cancel_sent = self.client.cancel(job_id), True
                continue
            self._cancel.wait(self.poll_interval)
            status = self.client.status(job_id)
            self.status = status
            stage = status["stage"] or ("waiting in queue" if status["state"] == "queued" else status["state"])
            self._emit("progress", stage=stage, fraction=status["progress"], eta_s=status["eta_s"])
        if status["state"] == "cancelled":
            raise JobCancelled("cancelled")
        if status["state"] == "failed":
            raise AddonError(f"The backend job failed: {status['error']}")
        files = {}
        for name in status["result"].get("files", []):
            files[name] = self.client.download_job_file(job_id, name, os.path.join(self.download_dir, name))
        profile_dir = None
        profile_id = status["result"].get("profile_id")
        if profile_id and self.fetch_profile:
            profile_dir = self.client.download_profile(profile_id, os.path.join(self.download_dir, f"profile_{profile_id}"))
        self._emit("result", status=status, files=files, profile_dir=profile_dir)
