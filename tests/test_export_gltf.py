"""`talking-head export`: a .glb with mesh, texture, morph targets, weights and head TRS animation; and
Blender's own glTF importer plays it back right (blender tier)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pygltflib as gl
import pytest
from test_addon_synthetic import make_profile, make_tracks

from backend.commands import main
from backend.core.tracks import load_tracks, save_tracks
from backend.export.gltf import euler_xyz_to_quat
from backend.face.rotation import euler_to_matrix_np


def _read(gltf: gl.GLTF2, index: int) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    blob = gltf.binary_blob()
    dtype = np.uint32 if acc.componentType == gl.UNSIGNED_INT else np.float32
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc.type]
    data = np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=view.byteOffset + (acc.byteOffset or 0))
    return data.reshape(acc.count, width) if width > 1 else data


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_quaternions_match_the_euler_convention() -> None:
    rng = np.random.default_rng(3)
    euler = rng.uniform(-1.5, 1.5, size=(20, 3))
    for e, q in zip(euler, euler_xyz_to_quat(euler), strict=True):
        np.testing.assert_allclose(_quat_to_matrix(q), euler_to_matrix_np(e), atol=1e-12)


def test_quaternions_stay_in_one_hemisphere_over_time() -> None:
    angles = np.stack([np.zeros(50), np.zeros(50), np.linspace(0, 6.0, 50)], 1)  # almost a full turn
    q = euler_xyz_to_quat(angles)
    assert (np.sum(q[1:] * q[:-1], axis=1) > 0).all()


def test_cli_export_writes_a_valid_animated_glb(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    tracks = load_tracks(profile / "tracks.json")
    out = tmp_path / "out" / "anim.glb"
    assert main(["--progress", "quiet", "export", str(profile), str(profile / "tracks.json"), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"glTF"
    assert [p.name for p in out.parent.iterdir()] == ["anim.glb"]  # atomic: no temp left
    gltf = gl.GLTF2().load(str(out))
    mesh = gltf.meshes[0]
    assert mesh.extras["targetNames"] == [n + sign for n in tracks.basis for sign in "+-"]
    prim = mesh.primitives[0]
    assert len(prim.targets) == 2 * len(tracks.basis)
    with np.load(profile / "face_model.npz") as model:
        np.testing.assert_array_equal(_read(gltf, prim.attributes.POSITION), model["vertices"])
        plus, minus = _read(gltf, prim.targets[2]["POSITION"]), _read(gltf, prim.targets[3]["POSITION"])
        scale = np.abs(tracks.expression[:, 1]).max()
        np.testing.assert_allclose(plus, scale * model["basis"][1], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(minus, -plus)
        deltas = np.stack([_read(gltf, t["POSITION"]) for t in prim.targets])
        basis = model["basis"]
        np.testing.assert_allclose(_read(gltf, prim.attributes.TEXCOORD_0)[:, 1], 1 - model["uvs"][:, 1])
        assert _read(gltf, prim.indices).reshape(-1, 3).tolist() == model["triangles"].tolist()
    assert gltf.images[0].mimeType == "image/png" and gltf.materials[0].pbrMetallicRoughness.baseColorTexture
    names = [n.name for n in gltf.nodes]
    anim = gltf.animations[0]
    by_path = {c.target.path: (names[c.target.node], anim.samplers[c.sampler]) for c in anim.channels}
    assert set(by_path) == {"translation", "rotation", "weights"}
    assert by_path["translation"][0] == by_path["rotation"][0] == "head" and by_path["weights"][0] == "face"
    times = _read(gltf, by_path["weights"][1].input)
    np.testing.assert_allclose(times, np.arange(tracks.frame_count) / tracks.fps, rtol=1e-6)
    weights = _read(gltf, by_path["weights"][1].output).reshape(tracks.frame_count, -1)
    assert weights.min() >= 0 and weights.max() <= 1  # Blender's importer clamps sliders to [0, 1]
    assert weights.max() == pytest.approx(1.0)
    # the same face: sum of weighted +/- targets == expression @ basis, every frame
    np.testing.assert_allclose(np.tensordot(weights, deltas, axes=1),
                               np.tensordot(tracks.expression, basis, axes=1), atol=1e-7)
    np.testing.assert_array_equal(_read(gltf, by_path["translation"][1].output), tracks.pose[:, 3:])
    rot = _read(gltf, by_path["rotation"][1].output)
    for i in (0, 5, tracks.frame_count - 1):
        np.testing.assert_allclose(_quat_to_matrix(rot[i].astype(np.float64)),
                                   euler_to_matrix_np(tracks.pose[i, :3]), atol=1e-6)


def test_export_refuses_tracks_of_another_basis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = make_profile(tmp_path)
    other = tmp_path / "other.json"
    save_tracks(make_tracks(["a", "b"]), other)
    out = tmp_path / "x.glb"
    assert main(["--progress", "quiet", "export", str(profile), str(other), "-o", str(out)]) == 2
    assert "does not match the profile" in capsys.readouterr().err
    assert not out.exists()


def test_export_refuses_a_directory_that_is_not_a_profile(tmp_path: Path, capsys) -> None:
    profile = make_profile(tmp_path)
    assert main(["--progress", "quiet", "export", str(tmp_path), str(profile / "tracks.json"), "-o",
                 str(tmp_path / "x.glb")]) == 2
    assert "not a profile directory" in capsys.readouterr().err


@pytest.mark.blender
def test_blender_reimports_every_key_value_right(tmp_path: Path) -> None:
    bpy = pytest.importorskip("bpy")
    profile = make_profile(tmp_path)
    tracks = load_tracks(profile / "tracks.json")
    out = tmp_path / "anim.glb"
    assert main(["--progress", "quiet", "export", str(profile), str(profile / "tracks.json"), "-o", str(out)]) == 0
    gltf = gl.GLTF2().load(str(out))
    anim = gltf.animations[0]
    sampler = next(anim.samplers[c.sampler] for c in anim.channels if c.target.path == "weights")
    want = _read(gltf, sampler.output).reshape(tracks.frame_count, -1)
    names = gltf.meshes[0].extras["targetNames"]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    bpy.ops.import_scene.gltf(filepath=str(out))
    face = next(o for o in scene.objects if o.type == "MESH")
    key = face.data.shape_keys
    assert [b.name for b in key.key_blocks[1:]] == names
    wrong = 0
    for i in range(tracks.frame_count):  # every frame, every key, as the slider lets it play
        scene.frame_set(i)  # the importer keys glTF time t at frame t * fps
        got = np.array([key.key_blocks[n].value for n in names])
        wrong += int((np.abs(got - want[i]) > 1e-5).sum())
    assert wrong == 0
    bpy.ops.wm.read_factory_settings(use_empty=True)
