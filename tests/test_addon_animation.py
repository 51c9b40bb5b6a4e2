"""Tracks -> rig, keyframes, sound strip in real bpy, and bake back (blender tier)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_addon_synthetic import make_profile, make_tracks

from backend.core.tracks import save_tracks
from backend.face.rotation import euler_to_matrix_np

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

from addon.blender import animation  # noqa: E402  (needs bpy)
from addon.data.formats import load_tracks  # noqa: E402
from addon.data.profile import load_profile  # noqa: E402
from addon.errors import AddonError  # noqa: E402


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    sc.render.fps, sc.render.fps_base = 25, 1.0
    return sc


def _import(scene, tmp_path: Path, frames: int = 50, start: int = 1, seed: int = 1,
            options: animation.ImportOptions | None = None):
    profile_dir = make_profile(tmp_path)
    profile = load_profile(str(profile_dir))
    path = tmp_path / f"tracks_{seed}.json"
    save_tracks(make_tracks(profile.basis_names, frames=frames, seed=seed), path)
    tracks = load_tracks(str(path))
    result = animation.import_take(scene, profile, tracks, start_frame=start,
                                   audio_path=str(profile_dir / "audio.wav"), tracks_path=str(path),
                                   options=options or animation.ImportOptions(framing="CLIP"))
    return profile, tracks, result


def _expected_world(pose_row) -> np.ndarray:
    local = np.eye(4)
    local[:3, :3] = euler_to_matrix_np(np.asarray(pose_row[:3]))
    local[:3, 3] = pose_row[3:]
    root = np.eye(4)
    root[:3, :3] = euler_to_matrix_np(np.array([math.pi / 2, 0, 0]))
    return root @ local


def test_import_builds_rig_and_keys_match_tracks_at_sampled_frames(scene, tmp_path: Path) -> None:
    profile, tracks, result = _import(scene, tmp_path, start=10)
    rig = result.rig
    assert rig.face.parent == rig.head and rig.head.parent == rig.root and rig.camera.parent == rig.root
    key = rig.key
    assert [b.name for b in key.key_blocks] == ["Basis", *profile.basis_names]
    assert all(b.slider_min == -10 and b.slider_max == 10 for b in key.key_blocks[1:])
    assert len(rig.face.data.vertices) == len(profile.vertices) and rig.face.data.uv_layers
    assert (scene.frame_start, scene.frame_end) == (10, 10 + tracks.frame_count - 1)
    strips = scene.sequence_editor.strips
    assert [(s.name, s.frame_start) for s in strips] == [("TH_audio", 10)]
    # camera: identity under the root, lens from f px and frame width
    assert np.allclose(np.asarray(rig.camera.matrix_world), _expected_world([0, 0, 0, 0, 0, 0]), atol=1e-6)
    assert rig.camera.data.lens == pytest.approx(700.0 * 36 / 640)  # framing CLIP: the clip camera
    for i in (0, 7, 23, tracks.frame_count - 1):
        scene.frame_set(10 + i)
        values = [key.key_blocks[n].value for n in profile.basis_names]
        np.testing.assert_allclose(values, [tracks.expression[i][tracks.basis.index(n)]
                                            for n in profile.basis_names], atol=1e-5)
        np.testing.assert_allclose(np.asarray(rig.head.matrix_world), _expected_world(tracks.pose[i]), atol=1e-5)


@pytest.mark.parametrize("fps", [24, 30])
def test_tracks_are_resampled_to_scene_fps(scene, tmp_path: Path, fps: int) -> None:
    scene.render.fps = fps
    profile, tracks, result = _import(scene, tmp_path)
    assert result.resampled
    t_src = np.arange(tracks.frame_count) / tracks.fps
    n = int(np.floor((tracks.frame_count - 1) * fps / 25 + 1e-9)) + 1
    assert scene.frame_end == n
    exp = np.asarray(tracks.expression)
    pose = np.asarray(tracks.pose)
    for j in (0, 5, 17, n - 1):
        scene.frame_set(1 + j)
        t = j / fps
        want = [np.interp(t, t_src, exp[:, tracks.basis.index(name)]) for name in profile.basis_names]
        got = [result.rig.key.key_blocks[name].value for name in profile.basis_names]
        np.testing.assert_allclose(got, want, atol=1e-5)
        want_pose = [np.interp(t, t_src, pose[:, c]) for c in range(6)]
        np.testing.assert_allclose(np.asarray(result.rig.head.matrix_world), _expected_world(want_pose), atol=1e-5)


@pytest.mark.parametrize("fps", [25, 24])
def test_bake_of_unedited_curves_round_trips_exactly(scene, tmp_path: Path, fps: int) -> None:
    scene.render.fps = fps
    _, tracks, result = _import(scene, tmp_path)
    baked = animation.bake_take(result.rig)
    assert baked.fps == tracks.fps and baked.basis == tracks.basis and baked.profile_id == tracks.profile_id
    assert baked.expression == tracks.expression and baked.pose == tracks.pose
    assert baked.provenance["source"] == "blender"


def test_bake_reflects_hand_edits_and_keeps_the_rest_exact(scene, tmp_path: Path) -> None:
    profile, tracks, result = _import(scene, tmp_path)
    name = profile.basis_names[2]
    fc = next(c for c in animation.action_fcurves(result.rig.key.animation_data.action, result.rig.key)
              if c.data_path == animation.shape_key_path(name))
    fc.keyframe_points[10].co[1] = 4.5  # the animator pulls one key
    head_fc = next(c for c in animation.action_fcurves(result.rig.head.animation_data.action, result.rig.head)
                   if c.data_path == "location" and c.array_index == 2)
    head_fc.keyframe_points[3].co[1] = -0.75
    baked = animation.bake_take(result.rig)
    col = tracks.basis.index(name)
    assert baked.expression[10][col] == pytest.approx(4.5)
    assert baked.pose[3][5] == pytest.approx(-0.75)
    for i in range(tracks.frame_count):
        for c in range(len(tracks.basis)):
            if c != col:
                assert baked.expression[i][c] == tracks.expression[i][c]
        assert baked.pose[i][:5] == tracks.pose[i][:5]


def test_generating_again_keeps_earlier_takes_as_named_actions(scene, tmp_path: Path) -> None:
    _, _, first = _import(scene, tmp_path, seed=1)
    _, tracks2, second = _import(scene, tmp_path, frames=30, seed=2)
    assert second.rig.head == first.rig.head  # same profile -> same rig
    assert {"TH_take_001_shapes", "TH_take_001_pose", "TH_take_002_shapes", "TH_take_002_pose"} <= set(
        bpy.data.actions.keys())
    assert second.rig.key.animation_data.action.name == "TH_take_002_shapes"
    assert bpy.data.actions["TH_take_001_shapes"].use_fake_user
    assert scene.frame_end == 30
    assert len([o for o in scene.objects if o.get("th_role") == "head"]) == 1
    assert animation.bake_take(second.rig).expression == tracks2.expression


def test_basis_mismatch_creates_nothing(scene, tmp_path: Path) -> None:
    profile = load_profile(str(make_profile(tmp_path)))
    path = tmp_path / "other.json"
    save_tracks(make_tracks([f"b{i}" for i in range(len(profile.basis_names))]), path)
    before = {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "actions", "materials", "cameras")}
    with pytest.raises(AddonError, match="do not match the profile's expression basis"):
        animation.import_take(scene, profile, load_tracks(str(path)), audio_path=None)
    assert before == {k: len(getattr(bpy.data, k)) for k in before}


def test_failure_midway_rolls_back_everything(scene, tmp_path: Path, monkeypatch) -> None:
    # first take succeeds; the second fails at its last step (fault injected): the scene is as before it
    _, _, first = _import(scene, tmp_path, seed=1)
    before = {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "actions", "materials", "collections")}

    def broken_strip(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(animation, "set_sound_strip", broken_strip)
    with pytest.raises(RuntimeError, match="disk full"):
        _import(scene, tmp_path, seed=2)
    assert before == {k: len(getattr(bpy.data, k)) for k in before}
    assert first.rig.key.animation_data.action.name == "TH_take_001_shapes"
    assert first.rig.head.animation_data.action.name == "TH_take_001_pose"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    with pytest.raises(RuntimeError, match="disk full"):
        _import(scene, tmp_path / "fresh", seed=3)
    assert not [o for o in bpy.data.objects] and not bpy.data.actions and not bpy.data.meshes
