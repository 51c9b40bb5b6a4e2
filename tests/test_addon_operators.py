"""Operators in real bpy: clear errors with nothing half-created, bake, and the timer-driven job pipeline
running real child processes (the backend's own `export` command, and a protocol stand-in for cancel)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_addon_synthetic import make_profile, make_tracks, write_wav

from backend.core.tracks import load_tracks, save_tracks

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

# speaks the backend's JSON progress protocol slowly and forever, so cancel can be tested before the real
# long-running commands exist
SLOW = ("import json, time\n"
        "for i in range(10**6):\n"
        "    print(json.dumps({'event': 'progress', 'stage': 'work', 'fraction': min(i / 100, 0.99),"
        " 'eta_s': 1.0}), flush=True)\n"
        "    time.sleep(0.05)\n")


@pytest.fixture
def scene(registered):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    sc.render.fps = 25
    return sc


def _counts() -> dict[str, int]:
    return {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "actions", "materials", "cameras",
                                                   "collections", "images")}


def test_import_tracks_operator_and_bake_operator_round_trip(scene, tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    assert bpy.ops.talking_head.import_tracks(profile=str(profile), start_frame=5) == {"FINISHED"}
    props = scene.talking_head
    assert props.result.startswith("Take 1: frames 5-14, PCA keys") and props.error == ""
    assert scene.sequence_editor.strips["TH_audio"].frame_start == 5  # the profile's audio with its own tracks
    out = tmp_path / "baked.json"
    assert bpy.ops.talking_head.bake_tracks(filepath=str(out)) == {"FINISHED"}
    original, baked = load_tracks(profile / "tracks.json"), load_tracks(out)
    assert (baked.expression == original.expression).all() and (baked.pose == original.pose).all()
    assert props.tracks_path == str(out)


@pytest.mark.parametrize("case", ["missing_tracks", "missing_profile", "basis_mismatch", "newer_tracks",
                                  "newer_profile", "missing_audio"])
def test_bad_input_is_a_clear_error_and_creates_nothing(scene, tmp_path: Path, case: str) -> None:
    profile = make_profile(tmp_path, version=2 if case == "newer_profile" else 1)
    tracks = profile / "tracks.json"
    kwargs: dict[str, str] = {"profile": str(profile), "filepath": str(tracks)}
    expected = {
        "missing_tracks": "Tracks file not found",
        "missing_profile": "Profile directory not found",
        "basis_mismatch": "do not match the profile's expression basis",
        "newer_tracks": "format version 7, newer than this add-on understands",
        "newer_profile": "profile of format version 2, newer than this add-on understands",
        "missing_audio": "Audio file not found",
    }[case]
    if case == "missing_tracks":
        kwargs["filepath"] = str(tmp_path / "nope.json")
    elif case == "missing_profile":
        kwargs["profile"] = str(tmp_path / "no_profile")
    elif case == "basis_mismatch":
        save_tracks(make_tracks(["other_a", "other_b"]), tmp_path / "other.json")
        kwargs["filepath"] = str(tmp_path / "other.json")
    elif case == "newer_tracks":
        data = json.loads(tracks.read_text())
        data["version"] = 7
        (tmp_path / "newer.json").write_text(json.dumps(data))
        kwargs["filepath"] = str(tmp_path / "newer.json")
    elif case == "missing_audio":
        kwargs["audio"] = str(tmp_path / "nope.wav")
    before = _counts()
    with pytest.raises(RuntimeError, match=expected):
        bpy.ops.talking_head.import_tracks(**kwargs)
    assert _counts() == before
    assert expected in scene.talking_head.error
    assert not scene.sequence_editor or not list(scene.sequence_editor.strips)


def test_generate_refuses_missing_inputs_before_starting_anything(scene, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="No audio file given"):
        bpy.ops.talking_head.generate(clip=str(tmp_path / "clip.mp4"))
    audio = write_wav(tmp_path / "a.wav", 0.5)
    with pytest.raises(RuntimeError, match="Target clip not found"):
        bpy.ops.talking_head.generate(clip=str(tmp_path / "clip.mp4"), audio=str(audio))
    with pytest.raises(RuntimeError, match="Not a Talking Head profile"):
        bpy.ops.talking_head.generate(profile=str(tmp_path), audio=str(audio))
    from addon.blender import jobs

    assert jobs.active() is None or jobs.active().finished


def test_timer_driven_pipeline_runs_a_real_backend_command_then_imports(scene, tmp_path: Path) -> None:
    from addon.blender import jobs, operators
    from addon.clients.client import make_backend

    profile = make_profile(tmp_path)
    out = tmp_path / "timer.glb"
    imported: list[str] = []

    def import_step() -> str:
        result = operators.import_files(bpy.data.scenes[scene.name], str(profile), str(profile / "tracks.json"),
                                        None, 1)
        imported.append(result.rig.face.name)
        return "imported"

    pipeline = jobs.Pipeline(title="Export", backend=make_backend(), scene_name=scene.name, steps=[
        jobs.Step("Export", args=["export", str(profile), str(profile / "tracks.json"), "-o", str(out)]),
        jobs.Step("Import", call=import_step)])
    jobs.start(pipeline, blocking=False)
    try:
        assert bpy.app.timers.is_registered(jobs.timer_tick)
        assert scene.talking_head.running
        ticks = 0
        while (interval := jobs.timer_tick()) is not None:
            assert interval == jobs.POLL_INTERVAL_S
            ticks += 1
            assert ticks < 600, "the job did not finish"
            import time

            time.sleep(0.05)
    finally:
        jobs.shutdown()
    assert pipeline.error is None, pipeline.error
    assert out.read_bytes()[:4] == b"glTF" and imported == ["TH_face"]
    assert not scene.talking_head.running and scene.talking_head.progress == 1.0
    assert scene.talking_head.result == "imported" and scene.talking_head.stage == "done"
    assert any("wrote" in m for m in pipeline.messages)
    assert not bpy.app.timers.is_registered(jobs.timer_tick)


def test_backend_error_reaches_the_panel(scene, tmp_path: Path) -> None:
    from addon.blender import jobs
    from addon.clients.client import make_backend

    pipeline = jobs.Pipeline(title="Export", backend=make_backend(), scene_name=scene.name, steps=[
        jobs.Step("Export", args=["export", str(tmp_path), str(tmp_path / "t.json"), "-o", str(tmp_path / "x.glb")])])
    jobs.start(pipeline, blocking=True)
    assert pipeline.error and "tracks file not found" in pipeline.error
    assert "tracks file not found" in scene.talking_head.error and not scene.talking_head.running


class _SlowBackend:
    """A real child process speaking the progress protocol (see SLOW)."""

    def __init__(self) -> None:
        self.jobs: list = []

    def start(self, args):
        from addon.clients.client import ProcessJob

        job = ProcessJob([sys.executable, "-c", SLOW])
        self.jobs.append(job)
        return job

    def describe(self) -> str:
        return "slow"


def test_cancel_stops_the_child_process_and_the_timer(scene, tmp_path: Path) -> None:
    from addon.blender import jobs

    backend = _SlowBackend()
    ran_after: list[int] = []
    pipeline = jobs.Pipeline(title="Slow", backend=backend, scene_name=scene.name, steps=[
        jobs.Step("Work", args=["slow"]), jobs.Step("After", call=lambda: ran_after.append(1) or None)])
    jobs.start(pipeline, blocking=False)
    try:
        import time

        deadline = time.monotonic() + 30
        while scene.talking_head.progress == 0.0 and time.monotonic() < deadline:
            assert jobs.timer_tick() is not None
            time.sleep(0.05)
        assert scene.talking_head.running and scene.talking_head.stage.startswith("Work: work")
        clip = write_wav(tmp_path / "clip.wav", 0.2)
        with pytest.raises(RuntimeError, match="'Slow' is still running. Wait for it or press Cancel"):
            bpy.ops.talking_head.analyze(clip=str(clip), wait=False)
        assert bpy.ops.talking_head.cancel() == {"FINISHED"}
        assert jobs.timer_tick() is None
    finally:
        jobs.shutdown()
    process = backend.jobs[0].process
    assert process.poll() is not None  # the child is gone
    assert pipeline.error == "cancelled" and not ran_after
    assert scene.talking_head.error == "cancelled" and not scene.talking_head.running
    assert not bpy.app.timers.is_registered(jobs.timer_tick)


def _animate_available() -> bool:
    from addon.clients.client import resolve_python

    try:
        out = subprocess.run([resolve_python(), "-m", "backend", "animate", "--help"], capture_output=True,
                             timeout=120)
    except Exception:  # noqa: BLE001 - no backend at all
        return False
    return out.returncode == 0


@pytest.mark.realdata
def test_headless_generate_on_a_real_clip(scene, shared_data: Path, tmp_path: Path) -> None:
    if not _animate_available():
        pytest.skip("`talking-head animate` is not available yet (the animate command has not landed)")
    scene.talking_head.output_dir = str(tmp_path / "out")
    clip = shared_data / "video" / "address_man_10s_512.mp4"
    audio = shared_data / "audio" / "english_radio_8s.wav"
    assert bpy.ops.talking_head.generate(clip=str(clip), audio=str(audio)) == {"FINISHED"}
    face = bpy.data.objects["TH_face"]
    assert face.data.shape_keys and len(face.data.shape_keys.key_blocks) > 1
    assert scene.frame_end - scene.frame_start + 1 >= int(8.0 * 25) - 2
    assert scene.sequence_editor.strips["TH_audio"]

    # a batch on the same clip reuses its profile (no second analysis) and adds one take per sound file, the
    # files recognised by content (an MP3 named .mp3 holding WAV data counts, a text file does not)
    from addon.blender import animation

    folder = tmp_path / "speech"
    folder.mkdir()
    (folder / "radio.wav").symlink_to(audio)
    (folder / "quiet.mp3").symlink_to(shared_data / "audio" / "wav_data_named_mp3.mp3")
    (folder / "notes.txt").write_text("not a sound")
    assert bpy.ops.talking_head.batch_generate(audio_dir=str(folder), clip=str(clip)) == {"FINISHED"}
    rig = animation.find_rig(scene)
    assert rig is not None and animation.take_numbers(rig) == [1, 2, 3]
    assert scene.talking_head.result.startswith("2 of 2 takes: Take 3")
    tracks = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
    assert len(tracks) == 3 and sum("_quiet_" in n for n in tracks) == 1  # Generate's take and the batch's two
