"""The service over real HTTP: a real `talking-head serve` subprocess on a loopback port, real uploads and real
job steps (analyze on clips made here). No shared data needed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_service_harness import (
    ROOT,
    Server,
    child_pids_for,
    files_under,
    noise_video,
    tone_wav,
    upload,
    wait_for,
)

from backend.core.errors import UserError
from backend.service.security import check_bind, is_loopback

TOKEN = "correct-horse-battery-staple-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("service") / "data"
    with Server(data, "--max-upload-mb", "1") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: Server):
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("media")
    noise_video(d / "noise.mp4")
    tone_wav(d / "tone.wav")
    return d


def stored_uploads(server: Server) -> list[Path]:
    return files_under(server.data_dir / "uploads")


def test_health_reports_version_device_and_queue(client: httpx.Client) -> None:
    from backend import __version__

    h = client.get("/health").json()
    assert h["version"] == __version__ and h["api_version"] == 1
    assert h["device"] and h["devices"]
    assert h["queue_length"] == h["jobs"]["queued"] >= 0
    assert h["job_kinds"]["analyze"] is True
    assert h["max_upload_bytes"] == 1 << 20


def test_openapi_spec_lists_the_versioned_api(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/health", "/api/v1/uploads", "/api/v1/jobs", "/api/v1/jobs/{job_id}",
                 "/api/v1/jobs/{job_id}/cancel", "/api/v1/jobs/{job_id}/result", "/api/v1/profiles/{profile_id}"):
        assert path in spec["paths"], path
    assert "application/octet-stream" in spec["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]


def test_uploads_are_sniffed_by_content_not_name(client: httpx.Client, media_dir: Path) -> None:
    audio = upload(client, media_dir / "tone.wav", name="speech.mp4")
    video = upload(client, media_dir / "noise.mp4", name="clip.wav")
    assert (audio["kind"], video["kind"]) == ("audio", "video")
    assert client.get(f"/uploads/{audio['id']}").json()["sha256"] == audio["sha256"]
    # an audio upload where a clip is needed: a clear 422 naming the problem, and no job
    r = client.post("/jobs", json={"kind": "analyze", "clip": audio["id"]})
    assert r.status_code == 422 and "clip must be video" in r.json()["detail"]


@pytest.mark.parametrize("body, expected", [
    (b"just some text, not a video\n" * 10, "contains text"),
    (bytes(range(256)) * 64, "not a media file"),
    (b'{"format": "talking-head-tracks", "version": 1}', "tracks"),
])
def test_garbage_upload_is_a_clear_4xx_and_leaves_nothing(server: Server, client: httpx.Client, body: bytes,
                                                          expected: str) -> None:
    before = stored_uploads(server)
    r = client.post("/uploads", params={"name": "clip.mp4"}, content=body)
    assert r.status_code == 415, r.text
    assert expected in r.json()["detail"] and "clip.mp4" in r.json()["detail"]
    assert str(server.data_dir) not in r.text  # server paths never leak into messages
    assert stored_uploads(server) == before


def test_empty_upload_is_refused(client: httpx.Client) -> None:
    r = client.post("/uploads", content=b"")
    assert r.status_code == 400 and "empty" in r.json()["detail"]


def test_oversize_upload_413_with_nothing_left_behind(server: Server, client: httpx.Client) -> None:
    before = stored_uploads(server)
    big = b"\0" * (3 << 20)
    r = client.post("/uploads", content=big)  # declared length: refused before reading
    assert r.status_code == 413 and "1 MB" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit must hold while streaming
        for i in range(0, len(big), 64 << 10):
            yield big[i:i + (64 << 10)]

    try:
        r = client.post("/uploads", content=chunks())
        assert r.status_code == 413
    except httpx.TransportError:
        pass  # the server may close the connection before the client finished sending: also a refusal
    assert stored_uploads(server) == before
    assert not any((server.data_dir / "uploads" / ".partial").iterdir())
    assert client.get("/health").status_code == 200  # and the server is fine


def test_client_names_never_become_paths(server: Server, client: httpx.Client, media_dir: Path) -> None:
    up = upload(client, media_dir / "tone.wav", name="../../../../etc/evil\x00\n.wav")
    assert up["name"] == "evil.wav"
    assert (server.data_dir / "uploads" / up["id"]).is_file()
    assert not list(server.data_dir.parent.glob("**/evil*"))
    for bad in ("../../etc/passwd", "..", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "a/../../b"):
        r = client.post("/jobs", json={"kind": "analyze", "clip": bad})
        assert r.status_code == 422, (bad, r.text)
        assert client.get(f"/jobs/{bad}").status_code == 404
        assert client.get(f"/uploads/{bad}").status_code == 404
    for bad in ("..", "../index.sqlite3", "0123456789abcdef/../../index.sqlite3"):
        assert client.get(f"/profiles/{bad}").status_code == 404
        assert client.get(f"/profiles/0123456789abcdef/files/{bad}").status_code == 404
    r = client.post("/jobs", json={"kind": "render", "profile": "../../../../etc", "audio": up["id"],
                                   "tracks": up["id"]})
    assert r.status_code == 422


def test_request_validation_is_strict(client: httpx.Client, media_dir: Path) -> None:
    video = upload(client, media_dir / "noise.mp4")
    assert client.post("/jobs", json={"kind": "analyze", "clip": video["id"], "path": "/etc"}).status_code == 422
    assert client.post("/jobs", json={"kind": "analyze", "clip": video["id"], "fps": 1000}).status_code == 422
    assert client.post("/jobs", json={"kind": "teleport"}).status_code == 422
    assert client.post("/jobs", content=b"not json", headers={"content-type": "application/json"}).status_code == 422
    r = client.post("/jobs", json={"kind": "animate", "profile": "0123456789abcdef", "audio": video["id"]})
    assert r.status_code in (422, 501)  # unknown profile (or no animate stage in this build yet)
    # render's inlays option: a bool (the request then fails on the unknown profile, not on the option)
    render = {"kind": "render", "profile": "0123456789abcdef", "audio": video["id"], "tracks": video["id"]}
    r = client.post("/jobs", json={**render, "options": {"inlays": "sometimes"}})
    assert r.status_code == 422 and "inlays" in r.text
    r = client.post("/jobs", json={**render, "options": {"inlays": False, "refine": False}})
    assert r.status_code in (404, 422) and "inlays" not in r.text
    assert client.get("/jobs/does-not-exist").status_code == 404
    assert client.post("/jobs/does-not-exist/cancel").status_code == 404


def test_two_queued_jobs_run_in_order_and_fail_with_the_stage_reason(client: httpx.Client, media_dir: Path) -> None:
    clip = upload(client, media_dir / "noise.mp4")
    first = client.post("/jobs", json={"kind": "analyze", "clip": clip["id"], "overlay": False}).json()
    second = client.post("/jobs", json={"kind": "analyze", "clip": clip["id"], "fps": 10, "overlay": False}).json()
    assert second["state"] == "queued" and second["queue_position"] == 0  # jobs ahead of it in the queue
    assert client.get("/health").json()["queue_length"] >= 1
    a, b = wait_for(client, first["id"]), wait_for(client, second["id"])
    assert a["finished"] <= b["started"], "the second job started before the first one finished"
    for job in (a, b):
        assert job["state"] == "failed"
        assert "no usable face" in job["error"], job["error"]  # the stage's own user-facing message
        assert job["log_tail"] and job["attempts"] == 1
    assert client.get(f"/jobs/{a['id']}/result").status_code == 409


def test_cancel_running_and_queued_jobs(client: httpx.Client, media_dir: Path) -> None:
    clip = upload(client, media_dir / "noise.mp4")
    running = client.post("/jobs", json={"kind": "analyze", "clip": clip["id"], "fps": 12}).json()
    queued = client.post("/jobs", json={"kind": "analyze", "clip": clip["id"], "fps": 13}).json()
    wait_for(client, running["id"], ("running", "failed"), timeout=60, poll=0.05)
    deadline = time.monotonic() + 30
    while not child_pids_for(running["id"]) and time.monotonic() < deadline:
        time.sleep(0.05)  # the step's child process exists: cancel must kill real work
    assert child_pids_for(running["id"]), "no child process seen for the running job"
    assert client.post(f"/jobs/{queued['id']}/cancel").json()["state"] == "cancelled"
    t0 = time.monotonic()
    client.post(f"/jobs/{running['id']}/cancel")
    done = wait_for(client, running["id"], timeout=10, poll=0.05)
    took = time.monotonic() - t0
    assert done["state"] == "cancelled", done
    assert took < 5, f"cancel took {took:.1f} s"
    deadline = time.monotonic() + 5
    while child_pids_for(running["id"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not child_pids_for(running["id"]), "the cancelled step's process is still alive"
    q = client.get(f"/jobs/{queued['id']}").json()
    assert q["state"] == "cancelled" and q["started"] is None


def test_token_required_and_checked(tmp_path: Path) -> None:
    with Server(tmp_path / "data", token=TOKEN) as srv:
        for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
            with srv.client(token=token) as c:
                for path in ("/health", "/openapi.json", "/jobs"):
                    r = c.get(path)
                    assert r.status_code == 401, (token, path)
                    assert r.headers["www-authenticate"] == "Bearer"
                assert c.post("/uploads", content=b"x" * 100).status_code == 401
        with srv.client() as c:
            assert c.get("/health").status_code == 200
            assert c.get("/openapi.json").status_code == 200
        assert files_under(srv.data_dir / "uploads") == []  # refused uploads left nothing


def test_loopback_without_token_refuses_foreign_hosts_and_origins(client: httpx.Client) -> None:
    assert client.get("/health", headers={"Host": "evil.example:8765"}).status_code == 403
    assert client.get("/health", headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.get("/health", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.get("/health", headers={"Origin": "http://127.0.0.1:8765"}).status_code == 200


def test_non_loopback_bind_needs_a_token(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    with pytest.raises(UserError, match="without a token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(UserError, match="too short"):
        check_bind("0.0.0.0", "short")
    check_bind("0.0.0.0", TOKEN)
    check_bind("127.0.0.1", None)
    # the real command refuses before binding anything
    r = subprocess.run([sys.executable, "-m", "backend", "serve", "--host", "0.0.0.0", "--port", "0",
                        "--data-dir", str(tmp_path / "d")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 2 and "without a token" in r.stderr
