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

from ..data import keying, track_math
from ..data.formats import ArkitData, TracksData, basis_order
from ..data.profile import Profile
from ..errors import AddonError
from . import scene_setup
from .mesh_data import mesh_of

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
    def mesh(self) -> bpy.types.Mesh:
        return mesh_of(self.face)

    @property
    def key(self) -> bpy.types.Key:
        key = self.mesh.shape_keys
        if key is None:
            raise AddonError(f"{self.face.name} has lost its shape keys; re-import the tracks.")
        return key


@dataclass
class ImportOptions:
    """How a take is keyed and how a new rig sets up the scene (docs/blender.md)."""

    mode: str = "ARKIT"  # ARKIT: ARKit-52 keys (+ residual on the PCA keys); PCA: the basis keys only
    match_fps: bool = False  # True: set the scene's fps to the tracks'; False: resample to the scene's
    framing: str = "FACE"  # FACE: camera framed on the face; CLIP: the clip's whole frame
    lighting: str = "SH"  # SH: the profile's lighting as the world; UNLIT: texture as emission; KEEP
    closed: bool = True  # eyeballs, mouth cavity, teeth and tongue (closed_geometry.py)


@dataclass
class TakeResult:
    rig: Rig
    take: int
    frame_start: int
    frame_end: int
    resampled: bool
    notes: list[str]
    mode: str = "PCA"


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


def _build_rig(scene: bpy.types.Scene, profile: Profile, created: list[Any], options: ImportOptions,
               rest: np.ndarray, pose: np.ndarray, undo: scene_setup.Undo, notes: list[str]) -> Rig:
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

    cam_data = bpy.data.cameras.new("TH_camera")
    created.append(cam_data)
    scene_setup.frame_camera(cam_data, scene, profile, pose, options.framing, undo)
    camera = new_object("TH_camera", cam_data, "camera")
    camera.parent = root

    head = new_object("TH_head", None, "head")
    head.parent = root
    head.rotation_mode = "XYZ"
    head.empty_display_type = "SPHERE"
    head.empty_display_size = 0.12

    mesh = _build_mesh(profile, created, unlit=options.lighting == "UNLIT")
    face = new_object("TH_face", mesh, "face")
    face.parent = head
    face["th_rest"] = [float(v) for v in rest]
    basis_co = rest_coords(profile, rest)
    mesh.vertices.foreach_set("co", basis_co.ravel())
    face.shape_key_add(name="Basis", from_mix=False)
    for name, delta in zip(profile.basis_names, profile.basis, strict=True):
        block = face.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", (basis_co + delta).ravel())
        block.slider_min, block.slider_max = -SLIDER_RANGE, SLIDER_RANGE

    hidden = scene_setup.clear_startup_objects(scene, undo)
    if hidden:
        notes.append(f"hid the startup {' and '.join(hidden)} (they enclose / relight the face)")
    scene_setup._set(undo, scene, "camera", camera)
    scene_setup.apply_lighting(scene, profile, options.lighting, created, undo)
    rig = Rig(root=root, camera=camera, head=head, face=face)
    if options.closed:
        from .closed_geometry import build_closed_geometry

        build_closed_geometry(rig, profile, basis_co, new_object, created, scene.view_layers[0])
    return rig


def rest_coords(profile: Profile, rest: np.ndarray) -> np.ndarray:
    """[N, 3] float32 vertices of the rig's Basis: the profile's face at expression `rest`."""
    return (profile.vertices + np.tensordot(rest.astype(np.float32), profile.basis, axes=1)).astype(np.float32)


def ensure_keys(rig: Rig, profile: Profile, columns: list[keying.Column], created_keys: list[str]) -> None:
    """Shape keys for the take's non-PCA columns (ARKit shapes, layers), made from the basis if missing."""
    key = rig.key
    basis_co = np.empty(len(profile.vertices) * 3, dtype=np.float32)
    key.key_blocks["Basis"].data.foreach_get("co", basis_co)
    for col in columns:
        if col.shape is None:
            continue
        delta = np.tensordot(col.shape.astype(np.float32), profile.basis, axes=1).ravel()
        block = key.key_blocks.get(col.name)
        if block is None:
            block = rig.face.shape_key_add(name=col.name, from_mix=False)
            created_keys.append(col.name)
        block.data.foreach_set("co", basis_co + delta)
        block.slider_min, block.slider_max = col.slider


def _build_mesh(profile: Profile, created: list[Any], unlit: bool = False) -> bpy.types.Mesh:
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
    mesh.materials.append(_build_material(profile, created, unlit))
    return mesh


def _build_material(profile: Profile, created: list[Any], unlit: bool = False) -> bpy.types.Material:
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
    if unlit:  # the texture as it is, whatever the scene's lights: an emission shader
        emission = tree.nodes.new("ShaderNodeEmission")
        output = next(n for n in tree.nodes if n.type == "OUTPUT_MATERIAL")
        tree.links.new(node.outputs["Color"], emission.inputs["Color"])
        tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    elif bsdf is not None:
        tree.links.new(node.outputs["Color"], bsdf.inputs["Base Color"])
        bsdf.inputs["Roughness"].default_value = 0.6  # type: ignore[attr-defined]
        bsdf.inputs["Specular IOR Level"].default_value = 0.25  # type: ignore[attr-defined]  # skin, not plastic
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


def _rest_for(tracks: TracksData, order: list[int], options: ImportOptions) -> np.ndarray:
    """The Basis expression of a new rig: the ARKit rest face when keyed as ARKit, else 0."""
    if options.mode == "ARKIT" and tracks.arkit is not None:
        return np.asarray(tracks.arkit.rest, dtype=np.float64)[order]
    return np.zeros(len(order))


def import_take(scene: bpy.types.Scene, profile: Profile, tracks: TracksData, *, start_frame: int = 1,
                audio_path: str | None = None, tracks_path: str = "",
                options: ImportOptions | None = None) -> TakeResult:
    """Create (or reuse) the profile's rig and key `tracks` on it as a new take. All-or-nothing."""
    options = options or ImportOptions()
    order = basis_order(tracks.basis, profile.basis_names, tracks_path or "")
    if audio_path and not os.path.isfile(audio_path):
        raise AddonError(f"Audio file not found: {audio_path}. Pick an existing audio file.")
    created: list[Any] = []
    created_keys: list[str] = []
    undo: list[tuple[Any, Any]] = []  # (animation_data, previous action) of a reused rig
    scene_undo: scene_setup.Undo = []
    notes: list[str] = []
    rig = find_rig(scene, profile.profile_id)
    try:
        fps = scene_fps(scene)
        if fps != tracks.fps and options.match_fps:
            scene_setup.set_scene_fps(scene, tracks.fps, scene_undo)
            notes.append(f"scene fps set from {fps:g} to the tracks' {tracks.fps:g}")
            fps = scene_fps(scene)
        elif fps != tracks.fps:
            notes.append(f"resampled from the tracks' {tracks.fps:g} fps to the scene's {fps:g} fps "
                         "(Match fps sets the scene's instead)")
        if rig is None:
            pose0 = np.median(np.asarray(tracks.pose, dtype=np.float64), axis=0)
            rig = _build_rig(scene, profile, created, options, _rest_for(tracks, order, options), pose0,
                             scene_undo, notes)
        key = rig.key
        rest = np.asarray(rig.face.get("th_rest", [0.0] * len(order)), dtype=np.float64)
        plan = keying.plan_columns(tracks, profile.basis_names, order, options.mode, rest, SLIDER_RANGE)
        notes.extend(plan.notes)
        ensure_keys(rig, profile, plan.columns, created_keys)
        for db in (key, rig.head):
            undo.append((db, db.animation_data.action if db.animation_data else None))
        names = [a.name for a in bpy.data.actions]
        take = track_math.next_take_number(names)
        shapes_name, pose_name = track_math.take_action_names(take)
        extra = {"th_take": take, "th_audio_path": audio_path or "", "th_tracks_path": tracks_path,
                 "th_mode": plan.mode}
        columns = np.stack([c.values for c in plan.columns], 1)
        keyed = np.asarray(track_math.resample(columns.tolist(), tracks.fps, fps), dtype=np.float64)
        pose = np.asarray(track_math.resample_pose(tracks.pose, tracks.fps, fps), dtype=np.float64)
        frames = start_frame + np.arange(len(keyed), dtype=np.float64)
        shapes = _assign_new_action(key, shapes_name, created)
        for k, col in enumerate(plan.columns):
            _write_curve(_fcurve(shapes, key, shape_key_path(col.name), 0), frames, keyed[:, k])
        _store_take_metadata(shapes, tracks, columns.tolist(), start_frame, fps, {
            **extra, "th_columns": json.dumps([c.name for c in plan.columns]),
            "th_shapes": json.dumps({c.name: c.shape.tolist() for c in plan.columns if c.shape is not None}),
            "th_rest": json.dumps(rest.tolist()), "th_profile_basis": json.dumps(profile.basis_names)})
        head_action = _assign_new_action(rig.head, pose_name, created)
        for c, (path, index) in enumerate(POSE_PATHS):
            _write_curve(_fcurve(head_action, rig.head, path, index), frames, pose[:, c])
        _store_take_metadata(head_action, tracks, tracks.pose, start_frame, fps, extra)
        push_take_to_nla(rig, take, start_frame)
        if audio_path:
            set_sound_strip(scene, audio_path, start_frame, created)
        scene.frame_start = start_frame
        scene.frame_end = start_frame + len(keyed) - 1
        rig.head["th_take"] = take
    except Exception:
        for db, action in undo:
            if db.animation_data is not None:
                db.animation_data.action = action
        keys = rig.mesh.shape_keys if rig is not None else None
        if rig is not None and created_keys and keys is not None:
            for name in reversed(created_keys):
                block = keys.key_blocks.get(name)
                if block is not None:
                    rig.face.shape_key_remove(block)
        _remove(created, scene)
        for step in reversed(scene_undo):
            step()
        raise
    scene.frame_set(start_frame)
    return TakeResult(rig=rig, take=take, frame_start=start_frame, frame_end=int(frames[-1]),
                      resampled=fps != tracks.fps, notes=notes, mode=plan.mode)


NLA_PREFIX = "TH_take_"


def push_take_to_nla(rig: Rig, take: int, start_frame: int) -> None:
    """One NLA track per take (on the shape keys and on the head) holding its action as a strip, muted: the
    active action plays the current take, and switch_take() makes any other one current again."""
    for db in (rig.key, rig.head):
        anim = db.animation_data
        action = anim.action if anim is not None else None
        if anim is None or action is None:
            raise AddonError(f"{db.name} has no take to push to the NLA; import the tracks again.")
        track = anim.nla_tracks.new()
        track.name = f"{NLA_PREFIX}{take:03d}"
        strip = track.strips.new(track.name, start_frame, action)
        if HAS_SLOTS and hasattr(strip, "action_slot") and anim.action_slot is not None:
            strip.action_slot = anim.action_slot
        track.mute = True


def take_numbers(rig: Rig) -> list[int]:
    """Take numbers that have an NLA track on the face's shape keys."""
    anim = rig.key.animation_data
    out = []
    for track in anim.nla_tracks if anim else ():
        if track.name.startswith(NLA_PREFIX) and track.name[len(NLA_PREFIX):].isdigit():
            out.append(int(track.name[len(NLA_PREFIX):]))
    return sorted(out)


def switch_take(scene: bpy.types.Scene, rig: Rig, take: int) -> None:
    """Make take `take` the active one (its actions, frame range and sound strip)."""
    shapes_name, pose_name = track_math.take_action_names(take)
    shapes, pose = bpy.data.actions.get(shapes_name), bpy.data.actions.get(pose_name)
    if shapes is None or pose is None:
        raise AddonError(f"Take {take} is gone (its actions {shapes_name}/{pose_name} were deleted).")
    for db, action in ((rig.key, shapes), (rig.head, pose)):
        anim = db.animation_data or db.animation_data_create()
        anim.action = action
        if HAS_SLOTS and anim.action_slot is None and len(action.slots):
            anim.action_slot = action.slots[0]
    start = int(shapes["th_start_frame"])
    count = track_math.resampled_count(int(shapes["th_frame_count"]), float(shapes["th_fps"]),
                                       float(shapes["th_keyed_fps"]))
    scene.frame_start, scene.frame_end = start, start + count - 1
    audio = str(shapes.get("th_audio_path", ""))
    if audio and os.path.isfile(audio):
        set_sound_strip(scene, audio, start, [])
    rig.head["th_take"] = take
    scene.frame_set(start)


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
              (bpy.types.Action, "actions"), (bpy.types.World, "worlds"))
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
    profile_basis: list[str] = json.loads(str(shapes.get("th_profile_basis", json.dumps(basis))))
    extra_shapes: dict[str, list[float]] = json.loads(str(shapes.get("th_shapes", "{}")))
    rest = np.asarray(json.loads(str(shapes.get("th_rest", "[]"))) or np.zeros(len(profile_basis)))
    if not extra_shapes and not rest.any():  # PCA keys only: the columns are the expression, exactly
        expression = np.stack([columns[n] for n in basis], 1) if basis else np.zeros((count, 0))
    else:
        combined = keying.combine(columns, extra_shapes, profile_basis, rest, count)
        expression = combined[:, [profile_basis.index(n) for n in basis]]
    arkit = None
    if str(shapes.get("th_mode", "PCA")) == "ARKIT" and extra_shapes:  # the (edited) ARKit curves, kept as such
        order = [profile_basis.index(n) for n in basis]
        names = [n for n in exp_order if n in extra_shapes]
        arkit = ArkitData(names=names, shapes=[[extra_shapes[n][i] for i in order] for n in names],
                          weights=np.clip(np.stack([columns[n] for n in names], 1), 0.0, 1.0).tolist(),
                          rest=[float(rest[i]) for i in order])
    return TracksData(fps=src_fps, basis=basis, expression=expression.tolist(), pose=pose.tolist(),
                      profile_id=str(shapes["th_profile_id"]), face_model=str(shapes["th_face_model"]),
                      provenance=provenance, audio=audio, arkit=arkit)
