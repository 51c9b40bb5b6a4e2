"""Export the face rig (head empty + mesh) to glTF, FBX or Alembic with the options that keep its animation.

Files are written to a temporary sibling and renamed, so a failed export never leaves a partial file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import bpy

from ..errors import AddonError
from .animation import Rig


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


def export_rig(context: bpy.types.Context, rig: Rig, fmt: str, path: str) -> str:
    scene = context.scene
    if scene is None:
        raise AddonError("No active scene.")
    objects = [rig.root, rig.head, rig.face]
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
