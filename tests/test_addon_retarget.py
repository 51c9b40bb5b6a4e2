"""Retarget a take onto the user's own character (blender tier): a mesh the test builds with a handful of
ARKit-named keys is keyed from the face, and its mouth opens like the face's; key maps; head onto a bone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mp_profile import make_mp_profile

from backend.core.tracks import load_tracks, save_tracks
from backend.face import arkit

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

from addon.blender import animation  # noqa: E402
from addon.data.retarget_map import load_keymap  # noqa: E402
from addon.errors import AddonError  # noqa: E402

UPPER, LOWER = 0, 1  # the character's two lip marker vertices


def _character(names: dict[str, str]) -> bpy.types.Object:
    """A tiny 'character': a lip quad strip whose keys move the lower lip (ARKit semantics), named by `names`."""
    mesh = bpy.data.meshes.new("char")
    co = [(0, 0.01, 0), (0, -0.01, 0), (0.03, 0.01, 0), (0.03, -0.01, 0), (-0.03, 0.01, 0), (-0.03, -0.01, 0)]
    mesh.from_pydata(co, [], [(0, 1, 3, 2), (4, 5, 1, 0)])
    obj = bpy.data.objects.new("Character", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    moves = {"jawOpen": (LOWER, -0.02), "mouthClose": (LOWER, 0.008), "mouthSmileLeft": (2, 0.004),
             "eyeBlinkLeft": (4, -0.001), "mouthLowerDownLeft": (LOWER, -0.003)}
    for arkit_name, (vertex, dy) in moves.items():
        block = obj.shape_key_add(name=names.get(arkit_name, arkit_name), from_mix=False)
        block.data[vertex].co.y += dy
    return obj


def _opening(obj: bpy.types.Object, a: int, b: int, frames: range) -> np.ndarray:
    out = []
    for f in frames:
        bpy.context.scene.frame_set(f)
        ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        mesh = ev.to_mesh()
        out.append((mesh.vertices[a].co - mesh.vertices[b].co).length)
        ev.to_mesh_clear()
    return np.asarray(out)


@pytest.fixture
def face(registered, tmp_path: Path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    profile = make_mp_profile(tmp_path, frames=75)
    path = tmp_path / "arkit.json"
    save_tracks(arkit.with_arkit(load_tracks(profile / "tracks.json"), profile), path)
    assert bpy.ops.talking_head.import_tracks(profile=str(profile), filepath=str(path)) == {"FINISHED"}
    yield animation.find_rig(bpy.context.scene)
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_retarget_reproduces_the_mouth_opening_curve(face) -> None:
    char = _character({})
    assert bpy.ops.talking_head.retarget(target=char.name) == {"FINISHED"}
    frames = range(1, 76)
    source = _opening(face.face, 13, 14, frames)  # the face's inner lip midpoints
    target = _opening(char, UPPER, LOWER, frames)
    assert source.std() > 0.002  # the take really opens the mouth
    corr = np.corrcoef(source, target)[0, 1]
    print(f"retarget mouth-opening correlation {corr:.4f}")
    assert corr >= 0.95


def test_a_key_map_preset_drives_other_names(face, tmp_path: Path) -> None:
    names = {"jawOpen": "Jaw_Open", "mouthClose": "Mouth_Close", "mouthLowerDownLeft": "LipLow_L"}
    char = _character(names)
    preset = tmp_path / "cc.json"
    preset.write_text(json.dumps({"format": "talking-head-keymap", "version": 1,
                                  "map": {**names, "mouthSmileLeft": {"name": "mouthSmileLeft", "scale": 0.5}}}))
    assert bpy.ops.talking_head.retarget(target=char.name, keymap=str(preset)) == {"FINISHED"}
    curves = {fc.data_path for fc in char.data.shape_keys.animation_data.action.fcurves} if not animation.HAS_SLOTS \
        else {fc.data_path for fc in animation.action_fcurves(char.data.shape_keys.animation_data.action,
                                                              char.data.shape_keys)}
    assert {'key_blocks["Jaw_Open"].value', 'key_blocks["Mouth_Close"].value'} <= curves
    frames = range(1, 76)
    assert np.corrcoef(_opening(face.face, 13, 14, frames), _opening(char, UPPER, LOWER, frames))[0, 1] >= 0.95
    with pytest.raises(AddonError, match="not a Talking Head key map"):
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        load_keymap(str(bad))


def test_head_motion_goes_onto_a_bone(face) -> None:
    arm = bpy.data.armatures.new("rig")
    obj = bpy.data.objects.new("Armature", arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    bone = arm.edit_bones.new("head")
    bone.head, bone.tail = (0, 0, 1.5), (0, 0, 1.7)
    bpy.ops.object.mode_set(mode="OBJECT")
    char = _character({})
    assert bpy.ops.talking_head.retarget(target=char.name, head=obj.name, bone="head") == {"FINISHED"}
    head_angles, bone_angles = [], []
    for f in (1, 20, 40, 60):
        bpy.context.scene.frame_set(f)
        head_angles.append(face.head.matrix_world.to_quaternion())
        bone_angles.append((obj.matrix_world @ obj.pose.bones["head"].matrix).to_quaternion())
    # the bone turns between frames as the head does (relative rotations agree)
    for i in range(1, 4):
        dh = head_angles[0].rotation_difference(head_angles[i]).angle
        db = bone_angles[0].rotation_difference(bone_angles[i]).angle
        assert db == pytest.approx(dh, abs=1e-3)
    with pytest.raises(RuntimeError, match="no pose bone"):
        bpy.ops.talking_head.retarget(target=char.name, head=obj.name, bone="nope")
