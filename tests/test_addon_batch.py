"""tools/blender_batch.py: the documented headless script saves a playable scene and fails loudly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_addon_synthetic import make_profile

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
