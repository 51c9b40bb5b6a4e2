"""The product through HTTP on a real clip: analyze (with a kill -9 of the server in the middle and a restart),
the cached profile, profile download, render and animate jobs, result download. Real server subprocess."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from test_service_harness import Server, upload, wait_for

from backend import media
from backend.core.tracks import load_tracks, tracks_from_dict

pytestmark = pytest.mark.realdata
CLIP = "video/hdtf_woman_8s_512.mp4"
SPEECH = "audio/english_radio_8s.wav"
FPS = 10  # fewer frames: the same code path at a third of the cost


@pytest.fixture(scope="module")
def flow(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("flow") / "data"
    srv = Server(data).start()
    with srv.client() as c:
        clip = upload(c, shared_data / CLIP)
        speech = upload(c, shared_data / SPEECH)
        job = c.post("/jobs", json={"kind": "analyze", "clip": clip["id"], "fps": FPS, "overlay": False}).json()
        # let it get past face tracking, then kill the server without warning
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = c.get(f"/jobs/{job['id']}").json()
            if status["progress"] > 0.2 or status["state"] != "running" and status["state"] != "queued":
                break
            time.sleep(0.2)
    before_kill = status
    srv.kill9()
    srv = Server(data).start()
    client = srv.client(timeout=120)
    analyzed = wait_for(client, job["id"], timeout=600, poll=1)
    state = {"server": srv, "client": client, "clip": clip, "speech": speech, "before_kill": before_kill,
             "analyzed": analyzed}
    yield state
    state["client"].close()  # a test may have replaced the server (restart): stop whichever runs now
    state["server"].stop()


def test_analyze_survives_kill9_and_yields_a_profile(flow: dict[str, Any]) -> None:
    before, job = flow["before_kill"], flow["analyzed"]
    assert before["state"] == "running" and before["stage"].startswith("analyze"), before
    assert job["state"] == "succeeded", job
    assert job["attempts"] == 2 and any("server stopped" in line for line in job["log_tail"])
    assert job["progress"] == 1.0
    profile_id = job["result"]["profile_id"]
    info = flow["client"].get(f"/profiles/{profile_id}").json()
    assert {"manifest.json", "face_model.npz", "fit.npz", "texture.png", "tracks.json"} <= set(info["files"])
    assert info["manifest"]["profile_id"] == profile_id and info["manifest"]["fps"] == FPS
    assert info["manifest"]["source"]["clip_sha256"] == flow["clip"]["sha256"]


def test_same_inputs_reuse_the_cached_profile(flow: dict[str, Any]) -> None:
    c = flow["client"]
    again = c.post("/jobs", json={"kind": "analyze", "clip": flow["clip"]["id"], "fps": FPS}).json()
    done = wait_for(c, again["id"], timeout=60)
    assert done["state"] == "succeeded" and done["result"]["profile_cached"] is True
    assert done["result"]["profile_id"] == flow["analyzed"]["result"]["profile_id"]
    assert c.get(f"/jobs/{again['id']}/result").json()["profile_id"] == done["result"]["profile_id"]


def test_profile_files_download(flow: dict[str, Any], tmp_path: Path) -> None:
    c, profile_id = flow["client"], flow["analyzed"]["result"]["profile_id"]
    r = c.get(f"/profiles/{profile_id}/files/tracks.json")
    assert r.status_code == 200
    tracks = tracks_from_dict(json.loads(r.content))
    manifest = c.get(f"/profiles/{profile_id}/files/manifest.json").json()
    assert tracks.profile_id == profile_id and tracks.frame_count == manifest["frame_count"]
    texture = c.get(f"/profiles/{profile_id}/files/texture.png")
    assert texture.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_the_profile_tracks_through_http(flow: dict[str, Any], tmp_path: Path) -> None:
    c, profile_id = flow["client"], flow["analyzed"]["result"]["profile_id"]
    if not c.get("/health").json()["job_kinds"]["render"]:
        pytest.skip("this build has no render stage")
    tracks_file = tmp_path / "tracks.json"
    tracks_file.write_bytes(c.get(f"/profiles/{profile_id}/files/tracks.json").content)
    tracks = upload(c, tracks_file, name="edited.json")
    assert tracks["kind"] == "tracks"
    job = c.post("/jobs", json={"kind": "render", "profile": profile_id, "tracks": tracks["id"],
                                "audio": flow["speech"]["id"], "options": {"size": 256}}).json()
    done = wait_for(c, job["id"], timeout=600, poll=1)
    assert done["state"] == "succeeded", done
    video = tmp_path / "video.mp4"
    video.write_bytes(c.get(f"/jobs/{job['id']}/result").content)
    assert media.sniff(video) == "video"
    info = media.probe_video(video)
    assert info.has_audio and abs(info.duration_s - 8.0) < 0.6, info


def test_animate_through_http(flow: dict[str, Any], tmp_path: Path) -> None:
    c, profile_id = flow["client"], flow["analyzed"]["result"]["profile_id"]
    if not c.get("/health").json()["job_kinds"]["animate"]:
        pytest.skip("`talking-head animate` does not exist in this build yet (backend/commands/animate.py)")
    job = c.post("/jobs", json={"kind": "animate", "profile": profile_id, "audio": flow["speech"]["id"],
                                "options": {"pose": "predicted"}}).json()
    done = wait_for(c, job["id"], timeout=900, poll=1)
    assert done["state"] == "succeeded", done
    out = tmp_path / "tracks.json"
    out.write_bytes(c.get(f"/jobs/{job['id']}/result").content)
    tracks = load_tracks(out)
    assert tracks.profile_id == profile_id
    assert abs(tracks.duration_s - media.audio_duration(Path(flow["server"].data_dir / "uploads" /
                                                              flow["speech"]["id"]))) < 0.2


def test_generate_resumes_at_its_first_unfinished_step_after_kill9(flow: dict[str, Any], tmp_path: Path) -> None:
    """Last in the module: it replaces the module's server. analyze and personalize are cached by now, so the
    job reaches animate quickly; the server is killed there and the restarted one must not redo them."""
    c = flow["client"]
    if not all(c.get("/health").json()["job_kinds"][k] for k in ("generate",)):
        pytest.skip("this build lacks a stage generate needs")
    job = c.post("/jobs", json={"kind": "generate", "clip": flow["clip"]["id"], "audio": flow["speech"]["id"],
                                "fps": FPS, "animate": {"pose": "still"}, "render": {"size": 256}}).json()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = c.get(f"/jobs/{job['id']}").json()
        if "personalize" in status["done_steps"] or status["state"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert status["done_steps"] == ["analyze", "personalize"], status
    flow["server"].kill9()
    c.close()
    srv = Server(flow["server"].data_dir).start()
    flow["server"], flow["client"] = srv, srv.client(timeout=120)
    done = wait_for(flow["client"], job["id"], timeout=600, poll=1)
    assert done["state"] == "succeeded", done
    assert done["done_steps"] == ["analyze", "personalize", "animate", "render"]
    assert done["result"]["profile_id"] == flow["analyzed"]["result"]["profile_id"]
    assert set(done["result"]["files"]) == {"tracks.json", "video.mp4"}
    log = (srv.data_dir / "jobs" / job["id"] / "log.txt").read_text()
    assert "resuming after finished steps: analyze, personalize" in log
    assert log.count("analyze: starting") == 0 and log.count("personalize: starting") == 0  # both were cached
    video = tmp_path / "video.mp4"
    video.write_bytes(flow["client"].get(f"/jobs/{job['id']}/result").content)
    assert media.probe_video(video).has_audio
