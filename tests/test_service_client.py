"""The add-on's stdlib HTTP client (addon/clients/service_client.py) against the real server: clear errors when the
backend is unreachable, too old or refuses the token; a whole job through ServiceJob; cancel."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from test_service_harness import Server, noise_video, tone_wav

from addon.clients.service_client import (
    BackendAuthError,
    BackendTooOld,
    BackendUnreachable,
    ServiceClient,
    ServiceJob,
    is_loopback_url,
)
from addon.errors import AddonError

TOKEN = "a-long-enough-token-for-tests-123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with Server(tmp_path_factory.mktemp("client") / "data", token=TOKEN) as srv:
        yield srv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _FakeBackend(http.server.BaseHTTPRequestHandler):
    """Some other HTTP server: answers every GET with the class's status and body."""

    status, body = 404, b"{}"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def serve_other(status: int, body: dict) -> tuple[http.server.HTTPServer, str]:
    handler = type("H", (_FakeBackend,), {"status": status, "body": json.dumps(body).encode()})
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def test_unreachable_backend_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnreachable, match="Cannot reach the Talking Head backend at " + url):
        ServiceClient(url).check()


def test_wrong_or_missing_token_says_so(server: Server) -> None:
    for token in ("", "wrong-token"):
        with pytest.raises(BackendAuthError, match="refused the token"):
            ServiceClient(server.url, token).check()
    assert ServiceClient(server.url, TOKEN).check()["api_version"] == 1


def test_other_or_too_old_backends_say_so() -> None:
    httpd, url = serve_other(404, {"detail": "Not Found"})
    try:
        with pytest.raises(BackendTooOld, match="not a Talking Head backend"):
            ServiceClient(url).check()
    finally:
        httpd.shutdown()
    httpd, url = serve_other(200, {"service": "talking-head", "api_version": 1, "version": "0.0.1"})
    try:
        with pytest.raises(BackendTooOld, match="Update the backend"):
            ServiceClient(url).check()
    finally:
        httpd.shutdown()


def test_bad_urls_and_loopback_detection() -> None:
    with pytest.raises(AddonError, match="No backend URL"):
        ServiceClient("  ")
    with pytest.raises(AddonError, match="http"):
        ServiceClient("ftp://host/")
    assert ServiceClient("127.0.0.1:8765").url == "http://127.0.0.1:8765"
    assert is_loopback_url("http://localhost:8765") and is_loopback_url("http://127.0.0.1:1")
    assert not is_loopback_url("http://gpu-box.local:8765")


def test_upload_errors_are_readable(server: Server, tmp_path: Path) -> None:
    client = ServiceClient(server.url, TOKEN)
    junk = tmp_path / "clip.mp4"
    junk.write_text("not a video at all\n" * 20)
    with pytest.raises(AddonError, match="unsupported upload: not a media file: clip.mp4 contains text"):
        client.upload(str(junk))
    with pytest.raises(AddonError, match="over the backend's upload limit"):
        client.upload(str(junk), limit=10)
    seen: list[tuple[int, int]] = []
    up = client.upload(str(tone_wav(tmp_path / "tone.wav")), on_bytes=lambda a, b: seen.append((a, b)))
    assert up["kind"] == "audio" and seen[-1][0] == seen[-1][1] == up["size"]


def test_service_job_end_to_end_reports_the_stage_error(server: Server, tmp_path: Path) -> None:
    clip = noise_video(tmp_path / "noise.mp4")
    job = ServiceJob(ServiceClient(server.url, TOKEN), {"kind": "analyze", "overlay": False}, {"clip": str(clip)},
                     download_dir=str(tmp_path / "out"), poll_interval=0.2)
    with pytest.raises(AddonError, match="The backend job failed: .*no usable face"):
        job.wait(timeout=180)
    assert job.error and "no usable face" in job.error
    assert job.status is not None and job.status["state"] == "failed"


def test_service_job_polling_like_the_ui_timer_and_cancel(server: Server, tmp_path: Path) -> None:
    clip = noise_video(tmp_path / "noise.mp4", frames=80)
    job = ServiceJob(ServiceClient(server.url, TOKEN), {"kind": "analyze", "fps": 11}, {"clip": str(clip)},
                     download_dir=str(tmp_path / "out"), poll_interval=0.1)
    events: list[dict] = []
    deadline = time.monotonic() + 120
    while not job.finished and time.monotonic() < deadline:
        events += job.poll()  # what the add-on's timer does: never blocks
        if job.status and job.status["state"] == "running" and not job._cancel.is_set():
            job.cancel()
        time.sleep(0.05)
    kinds = [e["event"] for e in events]
    assert "progress" in kinds and any(e.get("stage", "").startswith("upload") for e in events)
    assert kinds[-1] == "failed" and events[-1]["message"] == "cancelled", events[-3:]
    assert ServiceClient(server.url, TOKEN).status(job.job_id)["state"] == "cancelled"
