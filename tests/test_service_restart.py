"""kill -9 of the server in the middle of a job, then a restart on the same data directory: the interrupted job
runs again and ends with a state and a reason, the queued job behind it still runs, uploads survive, and no
step process outlives the killed server."""

from __future__ import annotations

import time
from pathlib import Path

from test_service_harness import Server, child_pids_for, noise_video, upload, wait_for


def test_kill9_mid_job_then_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clip_file = noise_video(tmp_path / "noise.mp4", frames=60)
    srv = Server(data).start()
    with srv.client() as c:
        clip = upload(c, clip_file)
        first = c.post("/jobs", json={"kind": "analyze", "clip": clip["id"], "overlay": False}).json()
        second = c.post("/jobs", json={"kind": "analyze", "clip": clip["id"], "fps": 10}).json()
        wait_for(c, first["id"], ("running",), timeout=60, poll=0.05)
        deadline = time.monotonic() + 30
        while not child_pids_for(first["id"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child_pids_for(first["id"]), "the job's step never started"
    srv.kill9()
    deadline = time.monotonic() + 5
    while child_pids_for(first["id"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not child_pids_for(first["id"]), "the step process outlived the killed server"

    with Server(data) as srv2, srv2.client() as c:
        assert c.get(f"/uploads/{clip['id']}").json()["sha256"] == clip["sha256"]  # upload not lost
        a = wait_for(c, first["id"], timeout=120)
        b = wait_for(c, second["id"], timeout=120)
        assert a["attempts"] == 2, a
        assert any("server stopped" in line for line in a["log_tail"]), a["log_tail"]
        for job in (a, b):  # every job completes or reports why: here the stage's own reason
            assert job["state"] == "failed" and "no usable face" in job["error"], job
        assert a["finished"] <= b["started"]
        assert (data / "jobs" / first["id"] / "inputs" / "clip").is_file()


def test_clean_stop_requeues_the_running_job_without_counting_an_attempt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clip_file = noise_video(tmp_path / "noise.mp4", frames=60)
    srv = Server(data).start()
    with srv.client() as c:
        clip = upload(c, clip_file)
        job = c.post("/jobs", json={"kind": "analyze", "clip": clip["id"]}).json()
        wait_for(c, job["id"], ("running",), timeout=60, poll=0.05)
        deadline = time.monotonic() + 30
        while not child_pids_for(job["id"]) and time.monotonic() < deadline:
            time.sleep(0.05)
    t0 = time.monotonic()
    assert srv.stop() in (0, -15)  # SIGTERM: a clean shutdown (uvicorn re-raises the signal at exit)
    assert time.monotonic() - t0 < 20
    assert not child_pids_for(job["id"])
    with Server(data) as srv2, srv2.client() as c:
        done = wait_for(c, job["id"], timeout=120)
        assert done["attempts"] == 1, done
        assert any("resumes at the next start" in line for line in done["log_tail"])
        assert done["state"] == "failed" and "no usable face" in done["error"]
