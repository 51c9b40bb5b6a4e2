"""The add-on and the backend service together, inside real bpy against real `talking-head serve` processes on
free loopback ports: Start/Stop local backend, operators running through the service (analyze and render
blocking in background mode; timer-driven with progress and cancel for the UI), and clear errors for a wrong token, an unreachable URL
and a remote URL without Blender's online access."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from test_service_harness import Server

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

TOKEN = "a-long-enough-token-for-addon-tests"


@pytest.fixture
def enabled():
    """The add-on enabled as an add-on (so its preferences exist) in a fresh empty scene."""
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)  # also disables add-ons enabled by earlier tests
    addon_utils.enable("addon", default_set=True, handle_error=None)
    prefs = bpy.context.preferences.addons["addon"].preferences
    yield prefs
    if "addon" in bpy.context.preferences.addons:
        addon_utils.disable("addon", default_set=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with Server(tmp_path_factory.mktemp("addon-service") / "data", token=TOKEN) as srv:
        yield srv


@pytest.fixture(scope="module")
def demo_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from backend.media.demo_clip import write_demo_clip

    return write_demo_clip(tmp_path_factory.mktemp("clips") / "demo30.mp4", frames=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _use(prefs, url: str, token: str, tmp_path: Path) -> None:
    prefs.backend_url, prefs.token = url, token
    prefs.profiles_dir = str(tmp_path / "profiles")
    bpy.context.scene.talking_head.output_dir = str(tmp_path / "out")


def test_start_and_stop_local_backend(enabled, tmp_path: Path) -> None:
    from addon.blender import panel, server_operators
    from addon.clients import backend_status, local_server
    from addon.clients.service_client import BackendUnreachable, ServiceClient

    prefs = enabled
    prefs.local_port, prefs.local_data_dir = 0, str(tmp_path / "data")

    # background mode: the operator waits for /health itself, then points the add-on at the server
    assert bpy.ops.talking_head.start_backend() == {"FINISHED"}
    server = local_server.current()
    assert server is not None and server.running and prefs.backend_url == server.url
    health = ServiceClient(server.url).check()
    assert health["service"] == "talking-head" and (tmp_path / "data" / "index.sqlite3").is_file()
    ok, line = panel.backend_status(bpy.context)
    assert ok and line == f"Service {server.url}: {health['version']} on {health['device']}, queue 0"
    process = server.process
    assert bpy.ops.talking_head.stop_backend() == {"FINISHED"}
    assert process is not None and process.poll() is not None and prefs.backend_url == ""
    with pytest.raises(BackendUnreachable):
        ServiceClient(server.url, timeout=2).health()
    assert bpy.ops.talking_head.stop_backend() == {"CANCELLED"}  # nothing to stop: an INFO, not an error

    # the UI path: the timer callback (driven here) waits for the server without blocking
    started = local_server.start(prefs.python_path or _python(), 0, str(tmp_path / "data"))
    bpy.app.timers.register(server_operators.watch_tick, first_interval=10.0)
    assert server_operators.starting() and prefs.backend_url == ""
    deadline = time.monotonic() + 60
    while server_operators.watch_tick() is not None:
        assert time.monotonic() < deadline, "the local backend did not answer"
        time.sleep(0.2)
    bpy.app.timers.unregister(server_operators.watch_tick)
    assert prefs.backend_url == started.url and backend_status.last(started.url).ok  # type: ignore[union-attr]

    # disabling the add-on stops the server and leaves no timer behind
    import addon_utils

    addon_utils.disable("addon", default_set=True)
    assert started.process is not None and started.process.poll() is not None
    assert local_server.current() is None and not bpy.app.timers.is_registered(server_operators.watch_tick)


def test_busy_port_and_missing_python_are_clear_errors(enabled, tmp_path: Path) -> None:
    prefs = enabled
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        prefs.local_port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"Port {prefs.local_port} on this machine is already in use"):
            bpy.ops.talking_head.start_backend()
    prefs.local_port, prefs.python_path = 0, str(tmp_path / "no-python")
    with pytest.raises(RuntimeError, match="backend Python set in the add-on preferences does not exist"):
        bpy.ops.talking_head.start_backend()


def _python() -> str:
    from addon.clients.client import resolve_python

    return resolve_python("")


def test_wrong_token_is_a_clear_operator_error(enabled, server: Server, demo_clip: Path, tmp_path: Path) -> None:
    from addon.blender import panel

    _use(enabled, server.url, "not-the-right-token-at-all", tmp_path)
    with pytest.raises(RuntimeError, match=f"The backend at {server.url} refused the token"):
        bpy.ops.talking_head.analyze(clip=str(demo_clip))
    assert "refused the token" in bpy.context.scene.talking_head.error
    assert not (tmp_path / "profiles").exists()  # nothing half-made
    with pytest.raises(RuntimeError, match="refused the token"):
        bpy.ops.talking_head.refresh_backend()
    ok, line = panel.backend_status(bpy.context)
    assert not ok and "refused the token" in line


def test_unreachable_and_offline_urls_are_clear_operator_errors(enabled, demo_clip: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    _use(enabled, url, "", tmp_path)
    with pytest.raises(RuntimeError, match=f"Cannot reach the Talking Head backend at {url}"):
        bpy.ops.talking_head.analyze(clip=str(demo_clip))
    with pytest.raises(RuntimeError, match="Cannot reach the Talking Head backend"):
        bpy.ops.talking_head.refresh_backend()
    assert not bpy.app.online_access  # the bpy module runs with online access off
    _use(enabled, "http://192.0.2.7:8765", TOKEN, tmp_path)  # TEST-NET-1: must never be contacted
    with pytest.raises(RuntimeError, match="is on another machine, but Blender's online access is off"):
        bpy.ops.talking_head.analyze(clip=str(demo_clip))
    with pytest.raises(RuntimeError, match="online access is off"):
        bpy.ops.talking_head.refresh_backend()


def test_steps_the_service_has_no_job_for_are_refused() -> None:
    from addon.clients.client import make_backend
    from addon.clients.service_backend import ServiceBackend
    from addon.errors import AddonError

    backend = make_backend(url="127.0.0.1:1")
    assert isinstance(backend, ServiceBackend) and backend.describe() == "service: http://127.0.0.1:1"
    with pytest.raises(AddonError, match="`export` runs only with a local backend"):
        backend.start(["export", "p", "t.json", "-o", "x.glb"])
    with pytest.raises(AddonError, match="does not understand"):
        backend.start(["analyze", "clip.mp4"])  # no -o


def test_background_analyze_through_the_service_then_import(enabled, server: Server, demo_clip: Path,
                                                            tmp_path: Path) -> None:
    from addon.clients.service_client import ServiceClient

    _use(enabled, server.url, TOKEN, tmp_path)
    props = bpy.context.scene.talking_head
    t0 = time.monotonic()
    assert bpy.ops.talking_head.analyze(clip=str(demo_clip)) == {"FINISHED"}  # blocking: background mode
    took = time.monotonic() - t0
    profile = Path(props.profile_dir)
    assert profile.parent == tmp_path / "profiles" and props.result == f"Profile ready: {profile}"
    client = ServiceClient(server.url, TOKEN)
    profile_id = json.loads((profile / "manifest.json").read_text())["profile_id"]
    manifest = client.profile(profile_id)
    assert sorted(os.listdir(profile)) == manifest["files"]  # the whole server profile, nothing else

    # the downloaded profile is a normal local profile: the face imports with the profile's own tracks
    assert bpy.ops.talking_head.import_tracks(profile=str(profile)) == {"FINISHED"}
    face = bpy.data.objects["TH_face"]
    assert face.data.shape_keys and len(face.data.shape_keys.key_blocks) > 1
    assert face.data.shape_keys.animation_data.action is not None

    # Render Photoreal through the service: the baked F-curves are uploaded, the server's video downloaded
    video = tmp_path / "out" / "take1.mp4"
    t2 = time.monotonic()
    assert bpy.ops.talking_head.render_photoreal(filepath=str(video)) == {"FINISHED"}
    rendered = time.monotonic() - t2
    assert video.read_bytes()[4:8] == b"ftyp" and props.video_path == str(video)
    assert not [p for p in video.parent.iterdir() if p.name.startswith(".th-download")]
    jobs_before = client.health()["jobs"]

    # analysing again: both sides have it, so nothing is uploaded or queued
    t1 = time.monotonic()
    assert bpy.ops.talking_head.analyze(clip=str(demo_clip)) == {"FINISHED"}
    assert time.monotonic() - t1 < 5 and client.health()["jobs"] == jobs_before
    print(f"analyze through the service: {took:.1f} s; render {rendered:.1f} s; "
          f"analyze again: {time.monotonic() - t1:.2f} s")


def test_ui_timer_shows_server_progress_and_cancel_stops_the_server_job(enabled, server: Server,
                                                                        tmp_path: Path) -> None:
    from addon.blender import jobs
    from addon.clients.client import make_backend
    from addon.clients.service_client import ServiceClient
    from backend.media.demo_clip import write_demo_clip

    clip = write_demo_clip(tmp_path / "demo45.mp4", frames=45)  # new content: the server cannot reuse a profile
    scene = bpy.context.scene
    out = tmp_path / "profiles" / "demo45"
    backend = make_backend(url=server.url, token=TOKEN)
    pipeline = jobs.Pipeline(title="Analyze", backend=backend, scene_name=scene.name,
                             steps=[jobs.Step("Analyze", args=["analyze", str(clip), "-o", str(out)])])
    jobs.start(pipeline, blocking=False)
    seen: list[tuple[float, str]] = []
    try:
        assert bpy.app.timers.is_registered(jobs.timer_tick) and scene.talking_head.running
        deadline = time.monotonic() + 90
        # until the server reports progress of its own stage (past the upload and the queue)
        while not (scene.talking_head.stage.startswith("Analyze: ") and scene.talking_head.progress > 0.12
                   and "upload" not in scene.talking_head.stage):
            assert jobs.timer_tick() == jobs.POLL_INTERVAL_S
            seen.append((scene.talking_head.progress, scene.talking_head.stage))
            assert time.monotonic() < deadline, f"no server progress: {seen[-3:]}"
            time.sleep(0.1)
        job_id = pipeline.job.job_ids[0]  # type: ignore[union-attr]
        assert ServiceClient(server.url, TOKEN).status(job_id)["state"] == "running"
        assert bpy.ops.talking_head.cancel() == {"FINISHED"}
        assert jobs.timer_tick() is None
    finally:
        jobs.shutdown()
    progress = [p for p, _ in seen]
    assert progress == sorted(progress) and any(s.startswith("Analyze: upload demo45.mp4") for _, s in seen)
    assert pipeline.error == "cancelled" and scene.talking_head.error == "cancelled"
    assert not scene.talking_head.running and not bpy.app.timers.is_registered(jobs.timer_tick)
    client = ServiceClient(server.url, TOKEN)
    deadline = time.monotonic() + 15
    while (state := client.status(job_id)["state"]) != "cancelled":
        assert time.monotonic() < deadline, f"server job still {state}"
        time.sleep(0.2)
    assert not out.exists()
