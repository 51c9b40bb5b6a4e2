"""Exports keep the animation: glTF/FBX/Alembic from the add-on and the backend's .glb, re-imported in bpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_addon_synthetic import make_profile, make_tracks

from backend.commands import main
from backend.core.tracks import load_tracks, save_tracks

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

SAMPLE_FRAMES = (1, 2, 9, 24)


@pytest.fixture
def animated(registered, tmp_path: Path):
    """A fresh scene with one imported take; returns the profile, tracks and what the face does per frame."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 25
    profile = make_profile(tmp_path)
    names = load_tracks(profile / "tracks.json").basis
    path = tmp_path / "take.json"
    save_tracks(make_tracks(names, frames=30), path)
    assert bpy.ops.talking_head.import_tracks(profile=str(profile), filepath=str(path)) == {"FINISHED"}
    face = bpy.data.objects["TH_face"]
    key = face.data.shape_keys
    basis = np.array([v.co[:] for v in key.key_blocks[0].data])
    for n in names:
        _DELTAS[n] = np.abs(np.array([v.co[:] for v in key.key_blocks[n].data]) - basis).max()
    truth = {}
    for f in SAMPLE_FRAMES:
        scene.frame_set(f)
        truth[f] = ([face.data.shape_keys.key_blocks[n].value for n in names], np.asarray(face.matrix_world),
                    _world_vertices(face))
    return profile, path, names, truth


_DELTAS: dict[str, float] = {}


def _unit_delta(names: list[str]) -> np.ndarray:
    """Largest vertex displacement of each original key (recorded from the rig before the reset)."""
    return np.array([_DELTAS[n] for n in names])


def _world_vertices(obj) -> np.ndarray:
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    mesh = ev.to_mesh()
    co = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    m = np.asarray(ev.matrix_world)
    return co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]


def _imported_face(names: list[str]):
    faces = [o for o in bpy.context.scene.objects
             if o.type == "MESH" and o.data.shape_keys and [b.name for b in o.data.shape_keys.key_blocks[1:]] == names]
    assert len(faces) == 1, "the re-imported mesh must carry the basis as shape keys"
    return faces[0]


def _shape_curves(face) -> dict[str, object]:
    from addon.blender.animation import action_fcurves

    key = face.data.shape_keys
    assert key.animation_data and key.animation_data.action, "shape-key animation lost"
    curves = {fc.data_path: fc for fc in action_fcurves(key.animation_data.action, key)}
    return curves


def _reset() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 25


def _check_round_trip(names, truth, offset: float = 0.0) -> None:
    face = _imported_face(names)
    curves = _shape_curves(face)
    for f, (values, world, _) in truth.items():
        got = [curves[f'key_blocks["{n}"].value'].evaluate(f + offset) for n in names]
        np.testing.assert_allclose(got, values, atol=1e-4)
        bpy.context.scene.frame_set(int(f + offset))
        np.testing.assert_allclose(np.asarray(face.matrix_world), world, atol=1e-4)


def test_gltf_export_reimports_with_shape_keys_and_animation(animated, tmp_path: Path) -> None:
    _, _, names, truth = animated
    out = tmp_path / "face.glb"
    assert bpy.ops.talking_head.export(format="GLB", filepath=str(out)) == {"FINISHED"}
    assert bpy.context.scene.talking_head.result == f"Exported {out}"
    assert [o.name for o in bpy.data.objects if o.name.startswith("TH_face")] == ["TH_face"]  # copy removed
    assert not [a for a in bpy.data.actions if a.name.endswith("_unit_range")]
    _reset()
    bpy.ops.import_scene.gltf(filepath=str(out))
    # the PCA keys come back as +/- pairs with weights in [0, 1]: as the importer's sliders play them (clamped
    # to [0, 1]), value(+) - value(-) times the pair's scale is the original value, at every sampled frame
    split = [n + sign for n in names for sign in "+-"]
    face = _imported_face(split)
    key = face.data.shape_keys
    basis = np.array([v.co[:] for v in key.key_blocks[0].data])
    scale = {}
    for n in names:  # the pair's scale: its displacement over the original key's (from the rig's mesh)
        scale[n] = np.abs(np.array([v.co[:] for v in key.key_blocks[n + "+"].data]) - basis).max()
    for f, (values, world, _) in truth.items():
        bpy.context.scene.frame_set(f)  # glTF time t -> frame t * fps: frames are kept
        got = np.array([key.key_blocks[n + "+"].value - key.key_blocks[n + "-"].value for n in names])
        assert all(0.0 <= key.key_blocks[s].value <= 1.0 for s in split)
        ref = np.array([scale[n] for n in names])
        np.testing.assert_allclose(got * ref, np.asarray(values) * _unit_delta(names), atol=1e-5)
        np.testing.assert_allclose(np.asarray(face.matrix_world), world, atol=1e-4)


def test_fbx_export_reimports_with_shape_keys_and_animation(animated, tmp_path: Path) -> None:
    _, _, names, truth = animated
    out = tmp_path / "face.fbx"
    assert bpy.ops.talking_head.export(format="FBX", filepath=str(out)) == {"FINISHED"}
    _reset()
    bpy.ops.import_scene.fbx(filepath=str(out))
    face = _imported_face(names)
    first = min(fc.keyframe_points[0].co[0] for fc in _shape_curves(face).values())
    _check_round_trip(names, truth, offset=first - 1)  # the FBX importer shifts by its anim_offset


def test_alembic_export_keeps_the_deforming_mesh(animated, tmp_path: Path) -> None:
    _, _, _, truth = animated
    out = tmp_path / "face.abc"
    assert bpy.ops.talking_head.export(format="ABC", filepath=str(out)) == {"FINISHED"}
    _reset()
    bpy.ops.wm.alembic_import(filepath=str(out))
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    assert len(meshes) == 1 and meshes[0].modifiers[0].type == "MESH_SEQUENCE_CACHE"
    for f, (_, _, vertices) in truth.items():
        bpy.context.scene.frame_set(f)
        np.testing.assert_allclose(_world_vertices(meshes[0]), vertices, atol=1e-4)


def test_backend_glb_imports_in_blender_with_shape_keys_and_animation(registered, tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    names = load_tracks(profile / "tracks.json").basis
    tracks_path = tmp_path / "take.json"
    save_tracks(make_tracks(names, frames=30), tracks_path)
    tracks = load_tracks(tracks_path)
    out = tmp_path / "backend.glb"
    assert main(["--progress", "quiet", "export", str(profile), str(tracks_path), "-o", str(out)]) == 0
    _reset()
    bpy.ops.import_scene.gltf(filepath=str(out))
    face = _imported_face([n + sign for n in names for sign in "+-"])  # +/- targets, weights in [0, 1]
    curves = _shape_curves(face)
    assert face.parent is not None and face.parent.name == "head"
    assert face.active_material is not None and any(n.type == "TEX_IMAGE" for n in face.active_material.node_tree.nodes)
    from backend.face.rotation import euler_to_matrix_np

    # no slider widening: every weight lies in [0, 1], inside the importer's slider range
    y_up_to_z_up = euler_to_matrix_np(np.array([np.pi / 2, 0, 0]))  # the importer's axis conversion
    with np.load(profile / "face_model.npz") as model:
        rest, basis = model["vertices"].astype(np.float64), model["basis"].astype(np.float64)
    for i in (0, 3, 17, 29):  # glTF time i / fps -> Blender frame i
        scale = np.abs(tracks.expression).max(axis=0)
        got = [(curves[f'key_blocks["{n}+"].value'].evaluate(i) - curves[f'key_blocks["{n}-"].value'].evaluate(i))
               * scale[k] for k, n in enumerate(names)]
        np.testing.assert_allclose(got, tracks.expression[i], atol=1e-5)
        bpy.context.scene.frame_set(i)
        head_local = rest + np.tensordot(tracks.expression[i].astype(np.float64), basis, axes=1)
        camera = head_local @ euler_to_matrix_np(tracks.pose[i, :3]).T + tracks.pose[i, 3:]
        want = camera @ y_up_to_z_up.T
        have = _world_vertices(face)
        assert have.shape == want.shape
        # the importer may reorder vertices: match each expected vertex to its nearest imported one
        dist = np.linalg.norm(want[:, None, :] - have[None, :, :], axis=-1).min(axis=1)
        assert dist.max() < 1e-5


def test_export_without_a_face_is_a_clear_error(registered) -> None:
    _reset()
    with pytest.raises(RuntimeError, match="No Talking Head face in this scene"):
        bpy.ops.talking_head.export(format="GLB", filepath="/tmp/never.glb")
