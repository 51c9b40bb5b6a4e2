"""Export the face rig (head empty + mesh) to glTF, FBX or Alembic with the options that keep its animation.

Files are written to a temporary sibling and renamed, so a failed export never leaves a partial file. For glTF
the face is exported from a temporary copy whose shape keys keyed outside [0, 1] (the PCA keys) are split into
`<name>+` / `<name>-` keys scaled by the take's largest |value|, so every weight lies in [0, 1] and Blender's
glTF importer (which clamps sliders to [0, 1]) plays it back right; the original rig is untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import bpy
import numpy as np

from ..errors import AddonError
from .animation import Rig, _fcurve, _write_curve, action_fcurves, shape_key_path


@contextmanager
def _selected(context: bpy.types.Context, objects: list[bpy.types.Object]) -> Iterator[None]:
    """Select exactly `objects` for the exporter, then restore the user's selection and active object."""
    layer = context.view_layer
    if layer is None:
        raise AddonError("No active view layer to select the face in.")
    before = [o for o in layer.objects if o.select_get()]
    active = layer.objects.active
    for o in before:
        o.select_set(False)
    for o in objects:
        o.select_set(True)
    layer.objects.active = objects[-1]
    try:
        yield
    finally:
        for o in objects:
            o.select_set(False)
        for o in before:
            o.select_set(True)
        layer.objects.active = active


@contextmanager
def _unit_range_copy(scene: bpy.types.Scene, rig: Rig) -> Iterator[bpy.types.Object]:
    """A temporary copy of the face whose shape-key weights all lie in [0, 1] (see the module docstring)."""
    key = rig.key
    action = key.animation_data.action if key.animation_data else None
    frames = np.arange(scene.frame_start, scene.frame_end + 1, dtype=np.float64)
    curves = {fc.data_path: fc for fc in action_fcurves(action, key)} if action else {}
    mesh = rig.mesh.copy()
    face = bpy.data.objects.new(rig.face.name, mesh)
    new_action = bpy.data.actions.new(f"{action.name if action else 'TH'}_unit_range")
    try:
        for coll in rig.face.users_collection:
            coll.objects.link(face)
        face.parent, face.matrix_parent_inverse = rig.face.parent, rig.face.matrix_parent_inverse.copy()
        face.matrix_basis = rig.face.matrix_basis.copy()
        copy_key = mesh.shape_keys
        assert copy_key is not None
        if copy_key.animation_data is not None:
            copy_key.animation_data.action = None
        n = len(mesh.vertices)
        basis = np.empty(n * 3, dtype=np.float32)
        copy_key.key_blocks[0].data.foreach_get("co", basis)
        columns: list[tuple[str, np.ndarray]] = []
        for name in [b.name for b in copy_key.key_blocks[1:]]:
            block = copy_key.key_blocks[name]
            fc = curves.get(shape_key_path(name))
            values = np.array([fc.evaluate(f) for f in frames]) if fc else np.full(len(frames), block.value)
            if values.min() >= 0.0 and values.max() <= 1.0:
                columns.append((name, values))
                continue
            co = np.empty(n * 3, dtype=np.float32)
            block.data.foreach_get("co", co)
            delta, scale = co - basis, max(float(np.abs(values).max()), 1e-6)
            face.shape_key_remove(block)
            for sign, suffix in ((1.0, "+"), (-1.0, "-")):
                split = face.shape_key_add(name=name + suffix, from_mix=False)
                split.data.foreach_set("co", basis + sign * scale * delta)
                split.slider_min, split.slider_max = 0.0, 1.0
                columns.append((name + suffix, np.clip(sign * values / scale, 0.0, 1.0)))
        anim = copy_key.animation_data or copy_key.animation_data_create()
        anim.action = new_action
        for name, values in columns:
            _write_curve(_fcurve(new_action, copy_key, shape_key_path(name), 0), frames, values)
        yield face
    finally:
        bpy.data.objects.remove(face)
        bpy.data.actions.remove(new_action)
        bpy.data.meshes.remove(mesh)  # its shape-key datablock goes with it


def export_rig(context: bpy.types.Context, rig: Rig, fmt: str, path: str) -> str:
    scene = context.scene
    if scene is None:
        raise AddonError("No active scene.")
    if fmt == "GLB":
        with _unit_range_copy(scene, rig) as face:
            return _export(context, scene, [rig.root, rig.head, face], fmt, path)
    return _export(context, scene, [rig.root, rig.head, rig.face], fmt, path)


def _export(context: bpy.types.Context, scene: bpy.types.Scene, objects: list[bpy.types.Object], fmt: str,
            path: str) -> str:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    ext = os.path.splitext(path)[1]
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.partial{ext}")
    try:
        with _selected(context, objects):
            if fmt == "GLB":
                result = bpy.ops.export_scene.gltf(
                    filepath=tmp, export_format="GLB", use_selection=True, export_animations=True,
                    export_animation_mode="ACTIVE_ACTIONS", export_morph=True, export_morph_animation=True,
                    export_force_sampling=True, export_cameras=False, export_yup=True,
                    export_frame_range=True)
            elif fmt == "FBX":
                result = bpy.ops.export_scene.fbx(
                    filepath=tmp, use_selection=True, object_types={"EMPTY", "MESH"}, bake_anim=True,
                    bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                    bake_anim_force_startend_keying=True, bake_anim_simplify_factor=0.0, add_leaf_bones=False,
                    use_mesh_modifiers=False)  # modifiers applied would drop the shape keys
            elif fmt == "ABC":
                result = bpy.ops.wm.alembic_export(
                    filepath=tmp, selected=True, start=scene.frame_start, end=scene.frame_end, uvs=True,
                    normals=True, as_background_job=False, evaluation_mode="RENDER")
            else:
                raise AddonError(f"Unknown export format {fmt!r}; use GLB, FBX or ABC.")
        if not result or "FINISHED" not in result or not os.path.isfile(tmp):
            raise AddonError(f"Blender's {fmt} exporter did not write {path}; see the console for its messages.")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
