"""The server behind "Start local backend": `<python> -m backend serve --port P --data-dir D` as a child of
Blender on loopback (no token needed there). It is stopped by "Stop local backend", on add-on unregister, and
when Blender exits (atexit). One per Blender session. Standard library only.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time

from ..errors import AddonError
from .client import backend_cwd, backend_env
from .service_client import BackendUnreachable, ServiceClient

DEFAULT_PORT = 8765
START_TIMEOUT_S = 120.0  # imports of the backend on a busy laptop
STOP_GRACE_S = 15.0  # SIGTERM lets the server requeue a running job before it exits
LOG_NAME = "addon-server.log"


def default_data_dir() -> str:
    """The server's own default (backend/commands/serve.py), so jobs and profiles are shared with the CLI."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "talking-head", "service")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalServer:
    def __init__(self, python: str, port: int, data_dir: str) -> None:
        self.python, self.port, self.data_dir = python, port or free_port(), data_dir
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(data_dir, LOG_NAME)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> LocalServer:
        try:
            os.makedirs(self.data_dir, exist_ok=True)
        except OSError as exc:
            raise AddonError(f"Cannot create the local backend's data folder {self.data_dir}: {exc}.") from None
        env = backend_env()
        env.pop("TALKING_HEAD_TOKEN", None)  # loopback only: the add-on sends no token to its own server
        argv = [self.python, "-m", "backend", "serve", "--port", str(self.port), "--data-dir", self.data_dir]
        with open(self.log_path, "ab") as log:  # a file, not a pipe: nobody has to keep reading it
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            try:
                # its own session: Ctrl-C in Blender's terminal does not hit it, and stop() can end the group
                self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                cwd=backend_cwd(), env=env, start_new_session=sys.platform != "win32")
            except OSError as exc:
                raise AddonError(f"Could not start the local backend with {self.python}: {exc}. Check the Backend "
                                 "Python in the add-on preferences.") from None
        self.started_at = time.monotonic()
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 6) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.log_path) - 8192))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(line for line in text.splitlines()[-lines:] if line.strip())

    def ready(self) -> bool:
        """True once /api/v1/health answers; AddonError if the server died or took too long."""
        if self.process is None:
            raise AddonError("The local backend was not started.")
        code = self.process.poll()
        if code is not None:
            raise AddonError(f"The local backend exited with status {code}: {self.log_tail() or 'no output'}")
        try:
            ServiceClient(self.url, timeout=2.0).check()
            return True
        except BackendUnreachable:
            if time.monotonic() - self.started_at > START_TIMEOUT_S:
                self.stop()
                raise AddonError(f"The local backend did not answer within {START_TIMEOUT_S:.0f} s. "
                                 f"See {self.log_path}.") from None
            return False

    def wait_ready(self) -> None:
        while not self.ready():
            time.sleep(0.2)

    def stop(self) -> int | None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.terminate()
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            if sys.platform != "win32":
                os.killpg(proc.pid, signal.SIGKILL)  # the server and any step it left behind
            else:
                proc.kill()
            proc.wait()
        return proc.returncode


_server: LocalServer | None = None
_atexit_registered = False


def current() -> LocalServer | None:
    return _server


def start(python: str, port: int = DEFAULT_PORT, data_dir: str = "") -> LocalServer:
    """Launch the server (not waiting for it: see LocalServer.ready). The running one is kept if there is one."""
    global _server, _atexit_registered
    if _server is not None and _server.running:
        return _server
    if port and not _port_free(port):
        raise AddonError(f"Port {port} on this machine is already in use (another backend or program). If a "
                         f"Talking Head backend runs there, set the backend URL to http://127.0.0.1:{port}; else "
                         "set another port in the add-on preferences (0: any free port).")
    server = LocalServer(python, port, data_dir or default_data_dir())
    server.start()
    _server = server
    if not _atexit_registered:
        atexit.register(stop)  # Blender runs Python's atexit on quit
        _atexit_registered = True
    return server


def stop() -> bool:
    """Stop the local server; False when none was running."""
    global _server
    server, _server = _server, None
    if server is None or not server.running:
        return False
    server.stop()
    return True
