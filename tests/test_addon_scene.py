"""The scene a new user gets (blender tier): the factory startup scene, one import, then a small Cycles
render shows the textured face; ARKit keys on the face; one NLA strip per take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mp_profile import make_mp_profile

from backend.core.tracks import load_tracks, save_tracks
from backend.face import arkit

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

from addon.blender import animation  # noqa: E402
from addon.data import framing  # noqa: E402
from addon.data.formats import load_tracks as addon_load_tracks  # noqa: E402
from addon.data.profile import load_profile  # noqa: E402


@pytest.fixture
def startup(registered):
    bpy.ops.wm.read_factory_settings(use_empty=False)  # the default cube, light, camera and 24 fps
    return bpy.context.scene


def _arkit_tracks(profile: Path, tmp_path: Path) -> Path:
    path = tmp_path / "arkit.json"
    save_tracks(arkit.with_arkit(load_tracks(profile / "tracks.json"), profile), path)
    return path


def _centre_in(frame, obj):
    """The centre of `obj`'s vertices in the frame `frame` (a world -> frame matrix)."""
    from mathutils import Vector

    corners = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
    return frame @ (sum(corners, Vector()) / 8)


def _render(scene, path: Path) -> np.ndarray:
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 8
    scene.cycles.device = "CPU"
    scene.render.resolution_x = scene.render.resolution_y = 64
    scene.render.filepath = str(path)
    scene.render.image_settings.file_format = "PNG"
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(path))
    px = np.asarray(image.pixels[:], dtype=np.float32).reshape(64, 64, 4)[::-1]  # row 0 = top
    bpy.data.images.remove(image)
    return px


def test_first_render_of_the_startup_scene_shows_the_textured_face(startup, tmp_path: Path) -> None:
    scene = startup
    profile_dir = make_mp_profile(tmp_path)
    assert bpy.ops.talking_head.import_tracks(profile=str(profile_dir)) == {"FINISHED"}
    rig = animation.find_rig(scene)
    assert scene.camera == rig.camera and rig.camera.name == "TH_camera"
    assert bpy.data.objects["Cube"].hide_render and bpy.data.objects["Light"].hide_render
    assert scene.render.fps == 25 and (scene.frame_start, scene.frame_end) == (1, 50)  # from the tracks
    assert scene.world.name == "TH_world"
    from addon.data import defaults

    assert scene.talking_head.smoothing == defaults.SMOOTHING  # one default: panel, batch, CLI
    assert type(scene.talking_head).bl_rna.properties["smoothing"].default == defaults.SMOOTHING
    assert {"TH_eye_L", "TH_eye_R", "TH_mouth", "TH_teeth_upper", "TH_teeth_lower", "TH_tongue"} <= set(
        o.name for o in scene.objects)
    scene.frame_set(1)
    px = _render(scene, tmp_path / "f12.png")
    # where the face's vertices project (the square face framing), their texture colour vs the render
    profile = load_profile(str(profile_dir))
    tracks = addon_load_tracks(str(profile_dir / "tracks.json"))
    pose = np.asarray(tracks.pose[0])
    crop = framing.face_crop(profile.vertices, np.median(np.asarray(tracks.pose), 0), profile.camera)
    uv = framing.project(profile.vertices, pose, profile.camera)
    col = ((uv[:, 0] - crop[0]) / crop[2] * 64).astype(int)
    row = ((uv[:, 1] - crop[1]) / crop[2] * 64).astype(int)
    inside = (col >= 0) & (col < 64) & (row >= 0) & (row < 64)
    assert inside.mean() > 0.95  # the framing holds the whole face
    normals = np.array([v.normal[:] for v in rig.face.data.vertices])
    inside &= normals[:, 2] > 0.6  # facing the camera: not on the silhouette, where pixels mix with the sky
    rendered = px[row[inside], col[inside], :3]
    assert rendered.mean() > 0.08, "the face renders black"
    texture_r = profile.uvs[inside, 0]  # the texture's red channel grows with u
    texture_g = profile.uvs[inside, 1]
    # measured 0.72 (R) at 64 px, 8 samples: pixels are ~3 mm wide, so each mixes several texels
    assert np.corrcoef(rendered[:, 0] / rendered.sum(1), texture_r)[0, 1] > 0.6
    assert np.corrcoef(rendered[:, 1] / rendered.sum(1), texture_g)[0, 1] > 0.6
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_arkit_keys_are_named_exactly_and_keyed_in_range(startup, tmp_path: Path) -> None:
    scene = startup
    profile_dir = make_mp_profile(tmp_path)
    path = _arkit_tracks(profile_dir, tmp_path)
    assert bpy.ops.talking_head.import_tracks(profile=str(profile_dir), filepath=str(path)) == {"FINISHED"}
    rig = animation.find_rig(scene)
    tracks = addon_load_tracks(str(path))
    names = [b.name for b in rig.key.key_blocks]
    assert set(tracks.arkit.names) <= set(names) and "jawOpen" in names and "eyeBlinkLeft" in names
    assert all(rig.key.key_blocks[n].slider_min == 0 and rig.key.key_blocks[n].slider_max == 1
               for n in tracks.arkit.names)
    for frame in (1, 13, 26, 50):
        scene.frame_set(frame)
        values = [rig.key.key_blocks[n].value for n in tracks.arkit.names]
        assert min(values) >= 0 and max(values) <= 1
        np.testing.assert_allclose(values, tracks.arkit.weights[frame - 1], atol=1e-5)
    jaw = np.asarray(tracks.arkit.weights)[:, tracks.arkit.names.index("jawOpen")]
    assert jaw.max() > 0.2  # the test motion opens the jaw
    # the lower teeth follow the jaw (vertex-parented to the lower lip), the upper teeth stay with the head
    heights = []
    for frame in (int(jaw.argmin()) + 1, int(jaw.argmax()) + 1):
        scene.frame_set(frame)
        head_inv = rig.head.matrix_world.inverted()
        heights.append([_centre_in(head_inv, bpy.data.objects[n]).y for n in ("TH_teeth_lower", "TH_teeth_upper")])
    drop_lower, drop_upper = heights[0][0] - heights[1][0], heights[0][1] - heights[1][1]
    assert drop_lower > 0.003 and abs(drop_upper) < 1e-6
    # the face is still exactly the tracks' expression (the PCA keys carry the residual): bake gives it back
    baked = animation.bake_take(rig)
    np.testing.assert_allclose(np.asarray(baked.expression), np.asarray(tracks.expression), atol=1e-5)
    assert baked.arkit is not None and baked.arkit.names == tracks.arkit.names  # baked tracks keep ARKit
    np.testing.assert_allclose(np.asarray(baked.arkit.weights), np.asarray(tracks.arkit.weights), atol=1e-6)
    np.testing.assert_allclose(np.asarray(baked.arkit.shapes), np.asarray(tracks.arkit.shapes), atol=1e-6)
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_every_take_is_one_nla_strip_and_switchable(startup, tmp_path: Path) -> None:
    scene = startup
    profile_dir = make_mp_profile(tmp_path, frames=20)
    for _ in range(3):
        assert bpy.ops.talking_head.import_tracks(profile=str(profile_dir)) == {"FINISHED"}
    rig = animation.find_rig(scene)
    for db in (rig.key, rig.head):
        tracks = [t for t in db.animation_data.nla_tracks if t.name.startswith("TH_take_")]
        assert [t.name for t in tracks] == ["TH_take_001", "TH_take_002", "TH_take_003"]
        assert all(len(t.strips) == 1 for t in tracks)
    assert rig.key.animation_data.action.name == "TH_take_003_shapes"
    assert bpy.ops.talking_head.switch_take(take=1) == {"FINISHED"}
    assert rig.key.animation_data.action.name == "TH_take_001_shapes"
    assert rig.head.animation_data.action.name == "TH_take_001_pose"
    assert animation.take_numbers(rig) == [1, 2, 3]
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_a_failed_import_puts_the_startup_scene_and_the_keys_back(startup, tmp_path: Path, monkeypatch) -> None:
    from addon.blender.operators import import_files

    scene = startup
    profile_dir = make_mp_profile(tmp_path, frames=20)
    before = (scene.camera.name, scene.world.name, scene.render.fps, scene.render.resolution_x,
              bpy.data.objects["Cube"].hide_render, bpy.data.objects["Light"].hide_render)

    def broken_strip(*args, **kwargs):
        raise RuntimeError("disk full")

    real_strip = animation.set_sound_strip
    monkeypatch.setattr(animation, "set_sound_strip", broken_strip)
    with pytest.raises(RuntimeError, match="disk full"):
        import_files(scene, str(profile_dir), str(profile_dir / "tracks.json"), None, 1)
    assert before == (scene.camera.name, scene.world.name, scene.render.fps, scene.render.resolution_x,
                      bpy.data.objects["Cube"].hide_render, bpy.data.objects["Light"].hide_render)
    assert not [o for o in bpy.data.objects if o.name.startswith("TH_")] and "TH_world" not in bpy.data.worlds
    # a PCA take, then an ARKit take that fails: the ARKit keys it added are removed again
    monkeypatch.setattr(animation, "set_sound_strip", real_strip)
    assert bpy.ops.talking_head.import_tracks(profile=str(profile_dir)) == {"FINISHED"}
    rig = animation.find_rig(scene)
    keys = [b.name for b in rig.key.key_blocks]
    monkeypatch.setattr(animation, "set_sound_strip", broken_strip)
    with pytest.raises(RuntimeError, match="disk full"):
        import_files(scene, str(profile_dir), str(_arkit_tracks(profile_dir, tmp_path)),
                     str(profile_dir / "audio.wav"), 1)
    assert [b.name for b in rig.key.key_blocks] == keys
    assert rig.key.animation_data.action.name == "TH_take_001_shapes"
    bpy.ops.wm.read_factory_settings(use_empty=True)
