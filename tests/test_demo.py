"""`make demo` with no input, end to end (the README's first command; .ci/run runs it through `make test`):
the CLI builds its own sample, then writes the four outputs, each checked by reading it back for real
(tracks reader, PyAV, glTF header, the .blend opened by bpy)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import av
import pytest

from backend.core.tracks import load_tracks

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "backend", "--progress", "quiet", "demo", "-o", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stdout


def test_demo_prints_where_each_output_is(demo) -> None:
    out, stdout = demo
    for name in ("tracks.json", "scene.blend", "face.glb", "video.mp4"):
        assert str(out / name) in stdout
    assert "Open next" in stdout and "blender " in stdout


def test_demo_tracks_are_the_prior_with_blinks(demo) -> None:
    out, _ = demo
    tracks = load_tracks(out / "tracks.json")
    assert tracks.provenance["model"] == "prior" and "blink" in tracks.layers
    assert tracks.fps == 25 and 150 <= tracks.frame_count <= 400
    assert tracks.expression.std(axis=0).max() > 0.1 and tracks.pose[:, :3].std() > 0.005  # it moves


def test_demo_video_has_picture_and_sound(demo) -> None:
    out, _ = demo
    tracks = load_tracks(out / "tracks.json")
    with av.open(str(out / "video.mp4")) as c:
        assert c.streams.audio and c.streams.video
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == tracks.frame_count


def test_demo_glb_is_an_animated_face(demo) -> None:
    out, _ = demo
    data = (out / "face.glb").read_bytes()
    magic, version, length = struct.unpack("<III", data[:12])
    assert magic == 0x46546C67 and version == 2 and length == len(data)
    chunk_len = struct.unpack("<I", data[12:16])[0]
    gltf = json.loads(data[20:20 + chunk_len])
    assert gltf["animations"] and gltf["meshes"][0]["primitives"][0]["targets"]


def test_demo_blend_has_the_editable_face_and_the_sound_strip(demo) -> None:
    bpy = pytest.importorskip("bpy")
    out, _ = demo
    tracks = load_tracks(out / "tracks.json")
    bpy.ops.wm.open_mainfile(filepath=str(out / "scene.blend"))
    try:
        scene = bpy.context.scene
        face = bpy.data.objects["TH_face"]
        keys = face.data.shape_keys
        assert len(keys.key_blocks) > 1 and keys.animation_data.action is not None
        assert face.parent.animation_data.action is not None  # the head's pose keys
        assert scene.frame_end - scene.frame_start + 1 == tracks.frame_count
        editor = scene.sequence_editor
        strips = editor.strips if hasattr(editor, "strips") else editor.sequences
        assert any(s.type == "SOUND" for s in strips)
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)
