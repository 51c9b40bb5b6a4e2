"""How the add-on reaches the backend, behind two verbs: `Backend.start(args) -> Job` and `Job.poll()` /
`Job.cancel()`. `args` are the backend CLI's words (`analyze CLIP -o PROFILE`, ...). With no backend URL set
they run here as a child process that prints JSON progress lines (`<python> -m backend --progress json ...`);
with a URL they run as jobs on `talking-head serve` (addon/clients/service_backend.py), results landing at the same paths.

Standard library only: the add-on never imports the backend or its heavy dependencies.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from ..errors import AddonError
from .service_backend import ServiceBackend
from .service_client import ServiceClient, is_loopback_url

ADDON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # addon/ (this file is addon/clients/)
PROJECT_DIR = os.path.dirname(ADDON_DIR)  # the repo root in a development checkout
TERMINATE_GRACE_S = 3.0


class Job(Protocol):
    def poll(self) -> list[dict[str, Any]]: ...
    def cancel(self) -> None: ...
    @property
    def finished(self) -> bool: ...
    @property
    def error(self) -> str | None: ...


class Backend(Protocol):
    def start(self, args: Sequence[str]) -> Job: ...
    def describe(self) -> str: ...


def venv_python(root: str) -> str | None:
    for rel in (("bin", "python"), ("Scripts", "python.exe")):
        path = os.path.join(root, ".venv", *rel)
        if os.path.isfile(path):
            return path
    return None


def resolve_python(preferred: str = "") -> str:
    """The Python that runs the backend: the preference, $TALKING_HEAD_PYTHON, or the checkout's .venv."""
    if preferred:
        path = os.path.abspath(os.path.expanduser(preferred))
        if not os.path.isfile(path):
            raise AddonError(f"The backend Python set in the add-on preferences does not exist: {path}. "
                             "Point it at the Python of the environment where Talking Head is installed.")
        return path
    env = os.environ.get("TALKING_HEAD_PYTHON", "")
    if env and os.path.isfile(env):
        return env
    found = venv_python(PROJECT_DIR)
    if found:
        return found
    raise AddonError("No backend Python found. Install the Talking Head backend (`make venv` in the project) "
                     "and set its Python in Edit > Preferences > Add-ons > Talking Head.")


def backend_env() -> dict[str, str]:
    """The environment for a backend child process."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Blender sets these for its own interpreter; they would break the backend's venv
    for var in ("PYTHONHOME", "PYTHONPATH"):
        env.pop(var, None)
    return env


def backend_cwd() -> str | None:
    """Run from the checkout when the add-on lives in one (so `-m backend` finds it), else anywhere."""
    return PROJECT_DIR if venv_python(PROJECT_DIR) else None


class ProcessJob:
    """One backend command in a child process; stdout JSON lines become events, stderr is kept for errors."""

    def __init__(self, argv: Sequence[str], cwd: str | None = None, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stderr: list[str] = []
        self._error: str | None = None
        self._cancelled = False
        flags = subprocess.CREATE_NEW_PROCESS_GROUP if sys.platform == "win32" else 0
        try:
            self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                                            errors="replace", cwd=cwd, env=env, creationflags=flags)
        except OSError as exc:
            raise AddonError(f"Could not start the backend ({self.argv[0]}): {exc}. Check the Python "
                             "executable in the add-on preferences.") from None
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = {"event": "message", "text": line}  # a stray print: show it, do not fail
            if isinstance(event, dict):
                self._events.put(event)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line.rstrip())
            del self._stderr[:-40]  # keep the tail only

    def poll(self) -> list[dict[str, Any]]:
        """Events that arrived since the last call; ends with {"event": "done"|"failed"} once finished."""
        events: list[dict[str, Any]] = []
        exited = self.process.poll() is not None
        if exited:
            for t in self._threads:  # the pipes are closed: let the readers drain them
                t.join(timeout=2.0)
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        for event in events:
            if event.get("event") == "error" and not self._error:
                self._error = str(event.get("message", "backend error"))
        if exited and not getattr(self, "_reported", False):
            self._reported = True
            code = self.process.returncode
            if code == 0 and not self._cancelled:
                events.append({"event": "done"})
            else:
                if self._cancelled:
                    self._error = "cancelled"
                elif not self._error:
                    tail = "\n".join(self._stderr[-8:]) or "no output"
                    self._error = f"the backend exited with status {code}: {tail}"
                events.append({"event": "failed", "message": self._error})
        return events

    def cancel(self) -> None:
        if self.process.poll() is not None:
            return
        self._cancelled = True
        self.process.terminate()
        try:
            self.process.wait(timeout=TERMINATE_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def finished(self) -> bool:
        return getattr(self, "_reported", False)

    @property
    def error(self) -> str | None:
        return self._error


class SubprocessBackend:
    """Runs `python -m backend --progress json ...` locally."""

    def __init__(self, python: str, cwd: str | None = None) -> None:
        self.python = python
        self.cwd = cwd if cwd and os.path.isdir(cwd) else None

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.python, "-m", "backend", "--progress", "json", *args]

    def start(self, args: Sequence[str]) -> ProcessJob:
        return ProcessJob(self.argv(args), cwd=self.cwd, env=backend_env())

    def check(self, timeout_s: float = 60.0) -> str:
        """The backend's version string, or AddonError saying why it cannot run."""
        try:
            out = subprocess.run([self.python, "-m", "backend", "--version"], capture_output=True, text=True,
                                 timeout=timeout_s, cwd=self.cwd, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AddonError(f"The backend Python {self.python} did not run: {exc}.") from None
        if out.returncode != 0:
            raise AddonError(f"{self.python} cannot run the Talking Head backend: "
                             f"{(out.stderr or out.stdout).strip()[-300:]}. Install it (`make venv`) or fix the "
                             "Python path in the add-on preferences.")
        return out.stdout.strip()

    def describe(self) -> str:
        return f"local: {self.python}"


def check_online_access(url: str, online_access: bool) -> None:
    """Blender's rule for extensions: no network beyond this machine unless the user allowed online access."""
    if not online_access and not is_loopback_url(url):
        raise AddonError(f"The backend URL {url} is on another machine, but Blender's online access is off. "
                         "Allow it in Edit > Preferences > System > Network (Allow Online Access), or use a "
                         "backend on this machine (Start local backend).")


def make_backend(python: str = "", url: str = "", token: str = "",
                 online_access: bool = False) -> SubprocessBackend | ServiceBackend:
    """The configured backend: the service at `url` when one is set, else the local Python. `online_access`
    is bpy.app.online_access (False by default: then only loopback URLs are allowed)."""
    if url.strip():
        client = ServiceClient(url, token)
        check_online_access(client.url, online_access)
        return ServiceBackend(client)
    return SubprocessBackend(resolve_python(python), cwd=backend_cwd())
