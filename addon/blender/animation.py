"""Tracks <-> Blender: the face rig, shape-key and head keyframes, the sound strip, and bake back.

Scene layout (documented in docs/blender.md): an empty "TH_root" rotated +90 degrees about X turns the
OpenGL camera frame of the tracks (y up, camera looking down -z) upright in Blender's Z-up world. Under it,
"TH_camera" sits at the root's origin with identity rotation (so it looks down the frame's -z, like the clip's
camera) and "TH_head" (rotation_mode 'XYZ') carries the pose keyframes; the face mesh "TH_face" is the head's
child and its shape keys, named after the expression basis, carry the expression keyframes.

Everything that can fail (files, versions, shapes, basis mismatch) is checked before the first datablock is
created, and whatever a failing import did create is removed again.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import bpy
import numpy as np

from ..data import track_math
from ..data.formats import TracksData, basis_order
from ..data.profile import Profile
from ..errors import AddonError

ROOT_ROTATION_X = math.pi / 2
SENSOR_WIDTH_MM = 36.0
SLIDER_RANGE = 10.0  # coefficients are ~unit variance; leave room for exaggeration
AUDIO_STRIP = "TH_audio"
LINEAR = 1  # FCurve keyframe interpolation enum value of 'LINEAR' (for foreach_set)
HAS_SLOTS = "fcurve_ensure_for_datablock" in getattr(bpy.types.Action.bl_rna, "functions", ())  # 4.4+

POSE_PATHS = (("rotation_euler", 0), ("rotation_euler", 1), ("rotation_euler", 2),
              ("location", 0), ("location", 1), ("location", 2))


@dataclass
class Rig:
    root: bpy.types.Object
    camera: bpy.types.Object
    head: bpy.types.Object
    face: bpy.types.Object

    @property
    def key(self) -> bpy.types.Key:
        key = self.face.data.shape_keys  # type: ignore[union-attr]
        if key is None:
            raise AddonError(f"{self.face.name} has lost its shape keys; re-import the tracks.")
        return key


@dataclass
class TakeResult:
    rig: Rig
    take: int
    frame_start: int
    frame_end: int
    resampled: bool


def shape_key_path(name: str) -> str:
    return f'key_blocks["{name}"].value'


def scene_fps(scene: bpy.types.Scene) -> float:
    return track_math.scene_fps(scene.render.fps, scene.render.fps_base)


# ---------------------------------------------------------------- rig lookup / creation


def find_rig(scene: bpy.types.Scene, profile_id: str | None = None,
             hint: bpy.types.Object | None = None) -> Rig | None:
    """The rig of `profile_id` (or the one `hint` belongs to, or the only/last one) in the scene."""
    heads = [o for o in scene.objects if o.get("th_role") == "head"]
    if hint is not None:
        obj: bpy.types.Object | None = hint
        while obj is not None and obj.get("th_role") not in ("head", "root"):
            obj = obj.parent
        if obj is not None and obj.get("th_role") == "root":
            obj = next((c for c in obj.children if c.get("th_role") == "head"), None)
        if obj is not None:
            heads = [obj]
    if profile_id is not None:
        heads = [h for h in heads if h.get("th_profile_id") == profile_id]
    for head in reversed(heads):
        face = next((c for c in head.children if c.get("th_role") == "face"), None)
        root = head.parent
        camera = next((c for c in root.children if c.get("th_role") == "camera"), None) if root else None
        if face is not None and root is not None and camera is not None:
            return Rig(root=root, camera=camera, head=head, face=face)
    return None


def _build_rig(scene: bpy.types.Scene, profile: Profile, created: list[Any]) -> Rig:
    collection = bpy.data.collections.new("Talking Head")
    created.append(collection)
    scene.collection.children.link(collection)

    def new_object(name: str, data: Any, role: str) -> bpy.types.Object:
        obj = bpy.data.objects.new(name, data)
        created.append(obj)
        collection.objects.link(obj)
        obj["th_role"] = role
        obj["th_profile_id"] = profile.profile_id
        obj["th_profile_dir"] = profile.directory
        return obj

    root = new_object("TH_root", None, "root")
    root.rotation_euler = (ROOT_ROTATION_X, 0.0, 0.0)
    root.empty_display_size = 0.05

    f, cx, cy = profile.camera
    cam_data = bpy.data.cameras.new("TH_camera")
    created.append(cam_data)
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = SENSOR_WIDTH_MM
    cam_data.lens = f * SENSOR_WIDTH_MM / profile.width
    # principal point (cx, cy) off the frame centre -> lens shift, in units of the larger frame side
    side = max(profile.width, profile.height)
    cam_data.shift_x = (profile.width / 2 - cx) / side
    cam_data.shift_y = (cy - profile.height / 2) / side
    cam_data.clip_start = 0.01
    camera = new_object("TH_camera", cam_data, "camera")
    camera.parent = root

    head = new_object("TH_head", None, "head")
    head.parent = root
    head.rotation_mode = "XYZ"
    head.empty_display_type = "SPHERE"
    head.empty_display_size = 0.12

    mesh = _build_mesh(profile, created)
    face = new_object("TH_face", mesh, "face")
    face.parent = head
    face.shape_key_add(name="Basis", from_mix=False)
    rest = profile.vertices.astype(np.float32)
    for name, delta in zip(profile.basis_names, profile.basis, strict=True):
        block = face.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", (rest + delta).ravel())
        block.slider_min, block.slider_max = -SLIDER_RANGE, SLIDER_RANGE

    if scene.camera is None:
        scene.camera = camera
    scene.render.resolution_x, scene.render.resolution_y = profile.width, profile.height
    return Rig(root=root, camera=camera, head=head, face=face)


def _build_mesh(profile: Profile, created: list[Any]) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new("TH_face")
    created.append(mesh)
    n, tris = len(profile.vertices), profile.triangles
    mesh.vertices.add(n)
    mesh.vertices.foreach_set("co", profile.vertices.ravel())
    mesh.loops.add(tris.size)
    mesh.loops.foreach_set("vertex_index", tris.ravel())
    mesh.polygons.add(len(tris))
    mesh.polygons.foreach_set("loop_start", np.arange(0, tris.size, 3, dtype=np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(len(tris), 3, dtype=np.int32))
    mesh.update(calc_edges=True)
    mesh.validate()
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", profile.uvs[tris.ravel()].ravel())
    mesh.polygons.foreach_set("use_smooth", np.ones(len(tris), dtype=bool))
    mesh.materials.append(_build_material(profile, created))
    return mesh


def _build_material(profile: Profile, created: list[Any]) -> bpy.types.Material:
    material = bpy.data.materials.new("TH_face")
    created.append(material)
    material.use_nodes = True
    tree = material.node_tree
    path = profile.texture_path
    if tree is None or path is None:
        return material
    bsdf = next((n for n in tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    image = bpy.data.images.load(path, check_existing=True)
    created.append(image)
    node = tree.nodes.new("ShaderNodeTexImage")
    node.image = image  # type: ignore[attr-defined]
    node.location = (-400, 250)
    if bsdf is not None:
        tree.links.new(node.outputs["Color"], bsdf.inputs["Base Color"])
        bsdf.inputs["Roughness"].default_value = 0.6  # type: ignore[attr-defined]
    return material


# ---------------------------------------------------------------- keyframes


def _assign_new_action(datablock: Any, name: str, created: list[Any]) -> bpy.types.Action:
    action = bpy.data.actions.new(name)
    created.append(action)
    action.use_fake_user = True  # earlier takes survive save/reload while not assigned
    anim = datablock.animation_data or datablock.animation_data_create()
    anim.action = action
    return action


def _fcurve(action: bpy.types.Action, datablock: Any, path: str, index: int) -> bpy.types.FCurve:
    if HAS_SLOTS:  # 4.4+: a slot for this datablock, else the action would not evaluate
        return action.fcurve_ensure_for_datablock(datablock, path, index=index)
    return action.fcurves.new(path, index=index)  # Blender 4.2/4.3: legacy actions


def _write_curve(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    points = fcurve.keyframe_points
    points.add(len(frames))
    points.foreach_set("co", np.stack([frames, values], 1).astype(np.float32).ravel())
    points.foreach_set("interpolation", np.full(len(frames), LINEAR, dtype=np.int8))
    fcurve.update()


def action_fcurves(action: bpy.types.Action, datablock: Any) -> list[bpy.types.FCurve]:
    """The F-curves of `action` that animate `datablock` (its slot on 4.4+)."""
    if not HAS_SLOTS or not getattr(action, "is_action_layered", False):
        return list(action.fcurves)
    slot = datablock.animation_data.action_slot if datablock.animation_data else None
    curves: list[bpy.types.FCurve] = []
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot) if slot is not None else None  # type: ignore[attr-defined]
            if bag is not None:
                curves.extend(bag.fcurves)
    return curves


def _keyed_values(tracks: TracksData, order: list[int], dst_fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Expression columns in profile order and unwrapped pose, resampled to the scene's fps."""
    expression = [[row[i] for i in order] for row in tracks.expression]
    exp = np.asarray(track_math.resample(expression, tracks.fps, dst_fps), dtype=np.float64)
    pose = np.asarray(track_math.resample_pose(tracks.pose, tracks.fps, dst_fps), dtype=np.float64)
    return exp, pose


def _store_take_metadata(action: bpy.types.Action, tracks: TracksData, columns: list[list[float]],
                         start: int, keyed_fps: float, extra: dict[str, Any]) -> None:
    # the original double values: bake-back returns them exactly for curves nobody edited
    action["th_original"] = [v for row in columns for v in row]
    action["th_width"] = len(columns[0]) if columns else 0
    action["th_fps"] = float(tracks.fps)
    action["th_keyed_fps"] = float(keyed_fps)
    action["th_start_frame"] = int(start)
    action["th_frame_count"] = tracks.frame_count
    action["th_profile_id"] = tracks.profile_id
    action["th_face_model"] = tracks.face_model
    action["th_basis"] = json.dumps(tracks.basis)
    action["th_provenance"] = json.dumps(tracks.provenance)
    action["th_audio_meta"] = json.dumps(tracks.audio)
    for key, value in extra.items():
        action[key] = value


def import_take(scene: bpy.types.Scene, profile: Profile, tracks: TracksData, *, start_frame: int = 1,
                audio_path: str | None = None, tracks_path: str = "") -> TakeResult:
    """Create (or reuse) the profile's rig and key `tracks` on it as a new take. All-or-nothing."""
    order = basis_order(tracks.basis, profile.basis_names, tracks_path or "")
    if audio_path and not os.path.isfile(audio_path):
        raise AddonError(f"Audio file not found: {audio_path}. Pick an existing audio file.")
    fps = scene_fps(scene)
    exp, pose = _keyed_values(tracks, order, fps)
    frames = start_frame + np.arange(len(exp), dtype=np.float64)
    created: list[Any] = []
    undo: list[tuple[Any, Any]] = []  # (animation_data, previous action) of a reused rig
    try:
        rig = find_rig(scene, profile.profile_id)
        if rig is None:
            rig = _build_rig(scene, profile, created)
        key = rig.key
        for db in (key, rig.head):
            undo.append((db, db.animation_data.action if db.animation_data else None))
        names = [a.name for a in bpy.data.actions]
        take = track_math.next_take_number(names)
        shapes_name, pose_name = track_math.take_action_names(take)
        extra = {"th_take": take, "th_audio_path": audio_path or "", "th_tracks_path": tracks_path}
        shapes = _assign_new_action(key, shapes_name, created)
        for k, name in enumerate(profile.basis_names):
            _write_curve(_fcurve(shapes, key, shape_key_path(name), 0), frames, exp[:, k])
        _store_take_metadata(shapes, tracks, [[r[i] for i in order] for r in tracks.expression], start_frame,
                             fps, {**extra, "th_columns": json.dumps(profile.basis_names)})
        head_action = _assign_new_action(rig.head, pose_name, created)
        for c, (path, index) in enumerate(POSE_PATHS):
            _write_curve(_fcurve(head_action, rig.head, path, index), frames, pose[:, c])
        _store_take_metadata(head_action, tracks, tracks.pose, start_frame, fps, extra)
        if audio_path:
            set_sound_strip(scene, audio_path, start_frame, created)
        scene.frame_start = start_frame
        scene.frame_end = start_frame + len(exp) - 1
        rig.head["th_take"] = take
    except Exception:
        for db, action in undo:
            if db.animation_data is not None:
                db.animation_data.action = action
        _remove(created, scene)
        raise
    scene.frame_set(start_frame)
    return TakeResult(rig=rig, take=take, frame_start=start_frame, frame_end=int(frames[-1]),
                      resampled=fps != tracks.fps)


def set_sound_strip(scene: bpy.types.Scene, path: str, start_frame: int, created: list[Any]) -> None:
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences  # 4.4 renamed it
    for strip in [s for s in strips if s.name.startswith(AUDIO_STRIP)]:
        strips.remove(strip)
    strip = strips.new_sound(AUDIO_STRIP, path, 1, start_frame)
    created.append(strip)


def _remove(created: list[Any], scene: bpy.types.Scene) -> None:
    """Delete what a failed import created, newest first."""
    # datablock type -> its bpy.data collection; anything else is a sound strip
    owners = ((bpy.types.Object, "objects"), (bpy.types.Collection, "collections"), (bpy.types.Mesh, "meshes"),
              (bpy.types.Camera, "cameras"), (bpy.types.Material, "materials"), (bpy.types.Image, "images"),
              (bpy.types.Action, "actions"))
    for item in reversed(created):
        try:
            owner = next((name for kind, name in owners if isinstance(item, kind)), None)
            if owner is not None:
                getattr(bpy.data, owner).remove(item)
            elif scene.sequence_editor is not None:
                editor = scene.sequence_editor
                strip: Any = item
                (editor.strips if hasattr(editor, "strips") else editor.sequences).remove(strip)
        except (ReferenceError, RuntimeError):
            pass  # already gone with its owner


# ---------------------------------------------------------------- bake back


def _curve_values(fcurve: bpy.types.FCurve | None, expected_frames: np.ndarray, expected: np.ndarray,
                  original: np.ndarray, positions: Sequence[float], fallback: float) -> np.ndarray:
    """Original doubles when the curve is untouched, else the curve evaluated at the tracks' frame times."""
    if fcurve is None:  # the user deleted the curve: the property holds still
        return np.full(len(original), fallback, dtype=np.float64)
    points = fcurve.keyframe_points
    if len(points) == len(expected_frames):
        co = np.empty(2 * len(points), dtype=np.float32)
        points.foreach_get("co", co)
        interp = np.empty(len(points), dtype=np.int8)
        points.foreach_get("interpolation", interp)
        if (np.array_equal(co[0::2], expected_frames.astype(np.float32))
                and np.array_equal(co[1::2], expected.astype(np.float32)) and (interp == LINEAR).all()
                and not fcurve.modifiers):
            return original.copy()
    return np.asarray([fcurve.evaluate(p) for p in positions], dtype=np.float64)


def _value(key: bpy.types.Key, name: str) -> float:
    block = key.key_blocks.get(name)
    return float(block.value) if block is not None else 0.0


def bake_take(rig: Rig) -> TracksData:
    """The rig's current (possibly edited) shape-key and head F-curves as tracks at the take's fps."""
    key = rig.key
    shapes = key.animation_data.action if key.animation_data else None
    pose_action = rig.head.animation_data.action if rig.head.animation_data else None
    if shapes is None or pose_action is None or "th_fps" not in shapes or "th_fps" not in pose_action:
        raise AddonError(f"{rig.head.name} has no Talking Head take to bake (its actions were replaced or "
                         "removed). Import tracks or Generate first.")
    basis: list[str] = json.loads(str(shapes["th_basis"]))
    src_fps, keyed_fps = float(shapes["th_fps"]), float(shapes["th_keyed_fps"])
    start, count = int(shapes["th_start_frame"]), int(shapes["th_frame_count"])
    positions = track_math.source_frame_positions(count, src_fps, keyed_fps, start)
    columns: dict[str, np.ndarray] = {}

    def originals(action: bpy.types.Action) -> np.ndarray:
        return np.asarray(action["th_original"], dtype=np.float64).reshape(count, int(action["th_width"]))

    orig_exp, orig_pose = originals(shapes), originals(pose_action)
    exp_order: list[str] = json.loads(str(shapes["th_columns"]))  # column order of th_original
    exp_keyed = np.asarray(track_math.resample(orig_exp.tolist(), src_fps, keyed_fps))
    pose_keyed = np.asarray(track_math.resample_pose(orig_pose.tolist(), src_fps, keyed_fps))
    frames = start + np.arange(len(exp_keyed), dtype=np.float64)

    curves = {(fc.data_path, fc.array_index): fc for fc in action_fcurves(shapes, key)}
    for col, name in enumerate(exp_order):
        columns[name] = _curve_values(curves.get((shape_key_path(name), 0)), frames, exp_keyed[:, col],
                                      orig_exp[:, col], positions, _value(key, name))
    head_curves = {(fc.data_path, fc.array_index): fc for fc in action_fcurves(pose_action, rig.head)}
    pose = np.zeros((count, 6))
    for c, (path, index) in enumerate(POSE_PATHS):
        fallback = float(getattr(rig.head, path)[index])
        pose[:, c] = _curve_values(head_curves.get((path, index)), frames, pose_keyed[:, c], orig_pose[:, c],
                                   positions, fallback)
    provenance = json.loads(str(shapes.get("th_provenance", "{}")))
    provenance = {"source": "blender", "baked_from": provenance, "take": int(shapes.get("th_take", 0)),
                  "blender_version": ".".join(map(str, bpy.app.version))}
    audio = json.loads(str(shapes.get("th_audio_meta", "null")))
    expression = np.stack([columns[n] for n in basis], 1) if basis else np.zeros((count, 0))
    return TracksData(fps=src_fps, basis=basis, expression=expression.tolist(), pose=pose.tolist(),
                      profile_id=str(shapes["th_profile_id"]), face_model=str(shapes["th_face_model"]),
                      provenance=provenance, audio=audio)
