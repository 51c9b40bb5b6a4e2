"""tools/blender_batch.py: the documented headless script saves a playable scene and fails loudly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mp_profile import install_untuned_motion_model, make_mp_profile
from test_addon_synthetic import make_profile, write_wav

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "blender_batch.py"


def _batch(*args: str) -> subprocess.CompletedProcess[str]:
    # the script is a command line of its own (exit status is its contract), so it runs as a process here
    return subprocess.run([sys.executable, str(SCRIPT), "--", *args], capture_output=True, text=True, timeout=300)


def test_batch_imports_exports_and_saves_a_playable_blend(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    out = tmp_path / "out" / "scene.blend"
    done = _batch("--profile", str(profile), "--tracks", str(profile / "tracks.json"), "--fps", "25",
                  "--out", str(out), "--export", str(tmp_path / "out" / "face.glb"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "face.glb").read_bytes()[:4] == b"glTF"
    bpy.ops.wm.open_mainfile(filepath=str(out))
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (1, 10)
    face = bpy.data.objects["TH_face"]
    assert face.data.shape_keys.animation_data.action.name == "TH_take_001_shapes"
    assert face.parent.animation_data.action.name == "TH_take_001_pose"
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.mark.parametrize(("args", "needle"), [
    (["--tracks", "nope.json"], "Tracks file not found"),
    (["--audio", "nope.wav", "--clip", "nope.mp4"], "Audio file not found"),
])
def test_batch_exits_non_zero_with_the_reason(tmp_path: Path, args: list[str], needle: str) -> None:
    profile = make_profile(tmp_path)
    args = [str(tmp_path / a) if a.startswith("nope") else a for a in args]
    if "--tracks" in args:
        args = ["--profile", str(profile), *args]
    done = _batch(*args, "--out", str(tmp_path / "s.blend"))
    assert done.returncode != 0 and needle in done.stderr
    assert not (tmp_path / "s.blend").exists()


def test_batch_usage_error_exits_2(tmp_path: Path) -> None:
    done = _batch("--out", str(tmp_path / "s.blend"))
    assert done.returncode == 2 and "--audio is required" in done.stderr


def test_batch_help_shows_the_one_smoothing_default() -> None:
    done = _batch("--help")
    assert done.returncode == 0 and "default 0, as `talking-head animate`" in " ".join(done.stdout.split())


def test_batch_over_an_audio_folder_makes_one_take_per_sound_file(tmp_path: Path) -> None:
    profile = make_mp_profile(tmp_path)
    install_untuned_motion_model(profile)
    speech = tmp_path / "speech"
    speech.mkdir()
    for i, seconds in enumerate((1.0, 1.4, 0.8)):
        write_wav(speech / f"line_{i}.bin", seconds)  # recognised by content, not by name
    (speech / "notes.txt").write_text("not audio")
    out = tmp_path / "out" / "takes.blend"
    done = _batch("--profile", str(profile), "--audio-dir", str(speech), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("talking-head:")]
    assert any("%" in ln and "ETA" in ln and "Animate line_1" in ln for ln in lines)  # progress on stdout
    assert lines[-1].startswith("talking-head: 100% Batch | done")
    bpy.ops.wm.open_mainfile(filepath=str(out))
    face = bpy.data.objects["TH_face"]
    nla = [t.name for t in face.data.shape_keys.animation_data.nla_tracks]
    assert nla == ["TH_take_001", "TH_take_002", "TH_take_003"]
    assert "jawOpen" in face.data.shape_keys.key_blocks  # the default rig: ARKit keys
    lengths = sorted(int(bpy.data.actions[f"TH_take_00{i}_shapes"]["th_frame_count"]) for i in (1, 2, 3))
    assert lengths == [20, 25, 35]
    bpy.ops.wm.read_factory_settings(use_empty=True)
