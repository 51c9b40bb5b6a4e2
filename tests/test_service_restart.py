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
