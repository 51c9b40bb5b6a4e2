"""Shared pieces of the service tests (no tests here): the real `talking-head serve` in a subprocess on a free
loopback port, an HTTP client for it, job polling and small media made on the fly."""

from __future__ import annotations

import atexit
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FINAL = ("succeeded", "failed", "cancelled")


class Server:
    """`python -m backend serve --port 0` on 127.0.0.1; `url` is read from its 'listening' line."""

    def __init__(self, data_dir: Path, *args: str, token: str | None = None, log: Path | None = None) -> None:
        self.data_dir, self.args, self.token = data_dir, list(args), token
        self.log = log or data_dir.parent / f"{data_dir.name}-server.log"
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 90) -> Server:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("TALKING_HEAD_TOKEN", None)
        cmd = [sys.executable, "-m", "backend", "--progress", "json", "serve", "--port", "0",
               "--data-dir", str(self.data_dir), *self.args]
        if self.token:
            env["TALKING_HEAD_TOKEN"] = self.token
        self._log_fh = open(self.log, "a")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log_fh, text=True, cwd=ROOT,
                                     env=env)
        atexit.register(self.kill9)  # a failing test must not leave a server running
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}") from None
                continue
            if line.startswith("{") and json.loads(line).get("event") == "listening":
                self.url = json.loads(line)["url"]
                return self
        self.kill9()
        raise RuntimeError(f"server did not start within {timeout} s: {self.log.read_text()[-2000:]}")

    def client(self, token: str | None = "default", timeout: float = 60) -> httpx.Client:
        token = self.token if token == "default" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=timeout)

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._log_fh.close()
        return self.proc.returncode if self.proc else None

    def __enter__(self) -> Server:
        # `with Server(...).start() as srv` must not start a second server (the first would be left running)
        return self if self.proc and self.proc.poll() is None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(client: httpx.Client, job_id: str, states: tuple[str, ...] = FINAL, timeout: float = 120,
             poll: float = 0.2) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/jobs/{job_id}").json()
        if status["state"] in states or time.monotonic() > deadline:
            assert status["state"] in states, f"job {job_id} still {status['state']} after {timeout} s: {status}"
            return status
        time.sleep(poll)


def upload(client: httpx.Client, path: Path, name: str | None = None) -> dict[str, Any]:
    with open(path, "rb") as fh:
        r = client.post("/uploads", params={"name": name or path.name}, content=fh.read())
    assert r.status_code == 201, r.text
    return r.json()


def noise_video(path: Path, frames: int = 40, size: int = 64, seed: int = 0) -> Path:
    """A valid H.264 clip with no face in it: analyze fails on it, after real work, with a user-facing reason."""
    from backend import media

    rng = np.random.default_rng(seed)
    with media.VideoWriter(path, 25, size, size, crf=30) as writer:
        for _ in range(frames):
            writer.write(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    return path


def tone_wav(path: Path, seconds: float = 1.0, sr: int = 16000) -> Path:
    from backend import media

    t = np.arange(int(seconds * sr)) / sr
    media.write_wav(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def child_pids_for(job_id: str) -> list[int]:
    """Live processes whose command line mentions the job (its step's child process)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if job_id.encode() in cmdline and b"backend.commands._child" in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())
