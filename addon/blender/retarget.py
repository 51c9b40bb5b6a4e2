"""Retarget a take onto the user's own character: the face rig's keyed shape-key curves (ARKit names, or
whatever a key map says) copied onto a chosen mesh's shape keys, and the head's motion onto a chosen object
or pose bone, as one new action per target (docs/blender.md). Evaluated frame by frame from the face's
F-curves, so hand edits on the face rig carry over."""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np
from mathutils import Euler, Matrix

from ..data.retarget_map import match
from ..errors import AddonError
from .animation import ROOT_ROTATION_X, Rig, _fcurve, _write_curve, action_fcurves, shape_key_path


def _frames(rig: Rig) -> np.ndarray:
    anim = rig.key.animation_data
    action = anim.action if anim is not None else None
    scene_range = action.frame_range if action is not None else None
    if scene_range is None:
        raise AddonError("The face has no take to retarget. Generate or Import Tracks first.")
    return np.arange(int(scene_range[0]), int(scene_range[1]) + 1, dtype=np.float64)


def retarget_shapes(rig: Rig, target: bpy.types.Object, mapping: dict[str, tuple[str, float]] | None = None,
                    action_name: str = "") -> tuple[bpy.types.Action, list[str]]:
    """Key `target`'s shape keys from the face's current take. Returns (action, unmatched target keys)."""
    key = target.data.shape_keys if target.type == "MESH" else None  # type: ignore[union-attr]
    if key is None or len(key.key_blocks) < 2:
        raise AddonError(f"{target.name} has no shape keys to drive. Select a mesh with ARKit-named shape keys "
                         "(jawOpen, eyeBlinkLeft, ...) or give a key map.")
    shapes = rig.key.animation_data.action if rig.key.animation_data else None
    if shapes is None:
        raise AddonError("The face has no take to retarget. Generate or Import Tracks first.")
    curves = {fc.data_path: fc for fc in action_fcurves(shapes, rig.key)}
    source = [b.name for b in rig.key.key_blocks[1:] if shape_key_path(b.name) in curves]
    targets = [b.name for b in key.key_blocks[1:]]
    pairs = match(source, targets, mapping)
    if not pairs:
        raise AddonError(f"None of {target.name}'s shape keys match the face's keys ({', '.join(source[:6])}...). "
                         "Use an ARKit-named rig or load a key map preset.")
    frames = _frames(rig)
    action = bpy.data.actions.new(action_name or f"{shapes.name}_{target.name}")
    anim = key.animation_data or key.animation_data_create()
    anim.action = action
    for src, (dst, scale) in pairs.items():
        fc = curves[shape_key_path(src)]
        values = np.array([fc.evaluate(f) for f in frames]) * scale
        block = key.key_blocks[dst]
        block.slider_min = min(block.slider_min, float(values.min()))
        block.slider_max = max(block.slider_max, float(values.max()))
        _write_curve(_fcurve(action, key, shape_key_path(dst), 0), frames, values)
    matched = {d for d, _ in pairs.values()}
    return action, [t for t in targets if t not in matched]


def retarget_head(rig: Rig, target: bpy.types.Object, bone: str = "", strength: float = 1.0) -> bpy.types.Action:
    """Key the head's rotation (about its mean, in world axes) onto `target` or its pose bone `bone`."""
    pose = rig.head.animation_data.action if rig.head.animation_data else None
    if pose is None:
        raise AddonError("The face has no head motion to retarget. Generate or Import Tracks first.")
    curves = {(fc.data_path, fc.array_index): fc for fc in action_fcurves(pose, rig.head)}
    frames = _frames(rig)
    eul = np.array([[curves[("rotation_euler", i)].evaluate(f) for i in range(3)] for f in frames])
    mats = [Euler(e.tolist(), "XYZ").to_matrix() for e in eul]
    mean = Euler(eul.mean(0).tolist(), "XYZ").to_matrix()
    root = Matrix.Rotation(ROOT_ROTATION_X, 3, "X")
    owner: Any = target
    if bone:
        if target.type != "ARMATURE" or target.pose is None or bone not in target.pose.bones:
            raise AddonError(f"{target.name} has no pose bone {bone!r}. Pick an armature and one of its bones.")
        owner = target.pose.bones[bone]
        rest = (target.matrix_world.to_3x3() @ owner.bone.matrix_local.to_3x3()).normalized()
    else:
        rest = target.matrix_world.to_3x3().normalized()
    base = owner.matrix_basis.to_3x3() if bone else target.rotation_euler.to_matrix()
    owner.rotation_mode = "XYZ"
    action = bpy.data.actions.new(f"{pose.name}_{target.name}{'_' + bone if bone else ''}")
    anim = target.animation_data or target.animation_data_create()
    anim.action = action
    out = []
    for m in mats:
        delta_world = root @ (m @ mean.inverted()) @ root.inverted()  # head motion about its mean, world axes
        if strength != 1.0:
            axis, angle = delta_world.to_quaternion().to_axis_angle()
            delta_world = Matrix.Rotation(angle * strength, 3, axis)
        local = rest.inverted() @ delta_world @ rest  # the same rotation in the target's own axes
        out.append((base @ local).to_euler("XYZ"))
    prefix = f'pose.bones["{bone}"].' if bone else ""
    values = np.array([e[:] for e in out])
    values = np.unwrap(values, axis=0)
    for i in range(3):
        fc = _fcurve(action, target, f"{prefix}rotation_euler", i)
        _write_curve(fc, frames, values[:, i])
    return action
