"""Write the animated face as a binary glTF (.glb) without Blender: mesh + UVs + texture, morph targets with
a weights animation, and the head pose as a TRS animation on a "head" node.

Morph weights all lie in [0, 1]: Blender's glTF importer clamps its shape-key sliders to [0, 1] (the first
key's range), so a coefficient keyed as is (unit variance, often below 0 or above 1) would play back wrong.
Each basis vector k becomes two targets, ``<name>+`` = s_k * basis_k and ``<name>-`` = -s_k * basis_k, with
s_k the largest |coefficient| of the take, and weights max(e, 0) / s_k and max(-e, 0) / s_k: the same face,
every weight in [0, 1]. Both targets of a pair are never non-zero at once.

glTF is Y-up and right-handed with cameras looking down -Z: exactly our OpenGL camera frame, so the pose
goes in as is. Node tree: talking_head -> {camera, head -> face(mesh)}. Blender's importer turns this into an
empty with a child mesh whose shape keys are named after the basis (mesh.extras.targetNames).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pygltflib as gl

from backend.core.atomic import atomic_path
from backend.core.errors import UserError
from backend.core.tracks import Tracks
from backend.face.profile import load_profile

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


@dataclass
class FaceAsset:
    """What the exporter needs from a profile directory."""

    vertices: np.ndarray  # [N,3] f32
    triangles: np.ndarray  # [F,3] int
    uvs: np.ndarray  # [N,2] f32, v up
    basis: np.ndarray  # [K,N,3] f32
    basis_names: list[str]
    width: int
    height: int
    focal_px: float
    texture: bytes | None
    texture_mime: str | None
    profile_id: str


def load_face_asset(profile_dir: str | os.PathLike[str]) -> FaceAsset:
    loaded = load_profile(profile_dir)
    profile, manifest = loaded.path, loaded.manifest
    model_path = profile / "face_model.npz"
    if not model_path.is_file():
        raise UserError(f"profile is incomplete, {model_path} is missing", hint="re-run `talking-head analyze`")
    with np.load(model_path, allow_pickle=False) as model:
        vertices = model["vertices"].astype(np.float32)
        triangles = model["triangles"].astype(np.int64)
        uvs = model["uvs"].astype(np.float32)
        basis = model["basis"].astype(np.float32)
        names = [str(s) for s in model["basis_names"]] if "basis_names" in model.files else manifest["basis_names"]
    width, height = int(manifest["width"]), int(manifest["height"])
    focal = float(width)
    fit_path = profile / "fit.npz"
    if fit_path.is_file():
        with np.load(fit_path, allow_pickle=False) as fit:
            if "camera" in fit.files:
                focal = float(np.asarray(fit["camera"]).reshape(-1)[0])
    texture, mime = None, None
    tex_path = profile / "texture.png"
    if tex_path.is_file():
        texture = tex_path.read_bytes()
        mime = "image/png" if texture.startswith(_PNG) else "image/jpeg" if texture.startswith(_JPEG) else None
        if mime is None:
            raise UserError(f"{tex_path} is neither PNG nor JPEG data", hint="re-run `talking-head analyze`")
    return FaceAsset(vertices=vertices, triangles=triangles, uvs=uvs, basis=basis, basis_names=list(names),
                     width=width, height=height, focal_px=focal, texture=texture, texture_mime=mime,
                     profile_id=str(manifest.get("profile_id", "")))


def euler_xyz_to_quat(euler: np.ndarray) -> np.ndarray:
    """[T,3] Euler XYZ (R = Rz @ Ry @ Rx) -> [T,4] unit quaternions (x, y, z, w), sign-continuous in time."""
    half = np.asarray(euler, dtype=np.float64) / 2
    cx, cy, cz = np.cos(half).T
    sx, sy, sz = np.sin(half).T
    q = np.stack([sx * cy * cz - cx * sy * sz,
                  cx * sy * cz + sx * cy * sz,
                  cx * cy * sz - sx * sy * cz,
                  cx * cy * cz + sx * sy * sz], axis=-1)
    for i in range(1, len(q)):  # q and -q are the same rotation; linear interpolation needs the near one
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] = -q[i]
    return q


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    v = vertices.astype(np.float64)
    face_n = np.cross(v[triangles[:, 1]] - v[triangles[:, 0]], v[triangles[:, 2]] - v[triangles[:, 0]])
    normals = np.zeros_like(v)
    for corner in range(3):
        np.add.at(normals, triangles[:, corner], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 0, normals / np.maximum(length, 1e-20), [0.0, 0.0, 1.0])
    return normals.astype(np.float32)


class _Blob:
    """Collects buffer views and accessors into one binary chunk (4-byte aligned, as glTF requires)."""

    def __init__(self, gltf: gl.GLTF2) -> None:
        self.gltf = gltf
        self.data = bytearray()

    def view(self, payload: bytes, target: int | None = None) -> int:
        self.data.extend(b"\0" * (-len(self.data) % 4))
        self.gltf.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(self.data),
                                                   byteLength=len(payload), target=target))
        self.data.extend(payload)
        return len(self.gltf.bufferViews) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None = None, minmax: bool = False) -> int:
        array = np.ascontiguousarray(array)
        component = gl.UNSIGNED_INT if array.dtype == np.uint32 else gl.FLOAT
        view = self.view(array.tobytes(), target)
        rows = array.reshape(array.shape[0], -1)
        acc = gl.Accessor(bufferView=view, componentType=component, count=int(array.shape[0]), type=kind)
        if minmax:
            acc.min = rows.min(axis=0).astype(float).tolist()
            acc.max = rows.max(axis=0).astype(float).tolist()
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1


def split_targets(names: list[str], basis: np.ndarray, expression: np.ndarray
                  ) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """(+/- target names, [2K] f32 displacement arrays, [T, 2K] f32 weights in [0, 1]); see the docstring."""
    scale = np.maximum(np.abs(expression).max(axis=0), 1e-6)  # [K]
    out_names, deltas, columns = [], [], []
    for k, name in enumerate(names):
        for sign, suffix in ((1.0, "+"), (-1.0, "-")):
            out_names.append(name + suffix)
            deltas.append((sign * scale[k] * basis[k]).astype(np.float32))
            columns.append(np.clip(sign * expression[:, k] / scale[k], 0.0, 1.0))
    return out_names, deltas, np.stack(columns, 1).astype(np.float32)


def build_gltf(asset: FaceAsset, tracks: Tracks) -> gl.GLTF2:
    if set(tracks.basis) != set(asset.basis_names) or len(tracks.basis) != len(asset.basis_names):
        raise UserError(f"the tracks' expression basis ({len(tracks.basis)} names) does not match the profile's "
                        f"({len(asset.basis_names)} names)", hint="export tracks generated for this profile")
    order = [tracks.basis.index(n) for n in asset.basis_names]
    names, target_deltas, weights = split_targets(asset.basis_names, asset.basis,
                                                  tracks.expression[:, order].astype(np.float64))
    pose = tracks.pose.astype(np.float64)
    pose[:, :3] = np.unwrap(pose[:, :3], axis=0)

    gltf = gl.GLTF2(asset=gl.Asset(generator="talking-head export", version="2.0"))
    blob = _Blob(gltf)
    attrs = gl.Attributes(
        POSITION=blob.accessor(asset.vertices, gl.VEC3, gl.ARRAY_BUFFER, minmax=True),
        NORMAL=blob.accessor(vertex_normals(asset.vertices, asset.triangles), gl.VEC3, gl.ARRAY_BUFFER),
        # glTF's UV origin is top-left (v down); ours is v up
        TEXCOORD_0=blob.accessor(np.stack([asset.uvs[:, 0], 1.0 - asset.uvs[:, 1]], 1).astype(np.float32),
                                 gl.VEC2, gl.ARRAY_BUFFER),
    )
    targets = [{"POSITION": blob.accessor(delta, gl.VEC3, gl.ARRAY_BUFFER, minmax=True)} for delta in target_deltas]
    indices = blob.accessor(asset.triangles.reshape(-1).astype(np.uint32), gl.SCALAR, gl.ELEMENT_ARRAY_BUFFER)
    material = None
    if asset.texture is not None:
        gltf.images.append(gl.Image(bufferView=blob.view(asset.texture), mimeType=asset.texture_mime,
                                    name="texture"))
        gltf.samplers.append(gl.Sampler(magFilter=gl.LINEAR, minFilter=gl.LINEAR_MIPMAP_LINEAR))
        gltf.textures.append(gl.Texture(sampler=0, source=0))
        gltf.materials.append(gl.Material(
            name="face", doubleSided=True,
            pbrMetallicRoughness=gl.PbrMetallicRoughness(baseColorTexture=gl.TextureInfo(index=0),
                                                         metallicFactor=0.0, roughnessFactor=0.6)))
        material = 0
    gltf.meshes.append(gl.Mesh(
        name="face", weights=[0.0] * len(targets),
        primitives=[gl.Primitive(attributes=attrs, indices=indices, material=material, targets=targets)],
        extras={"targetNames": names}))

    yfov = 2 * math.atan(asset.height / 2 / asset.focal_px)
    gltf.cameras.append(gl.Camera(type="perspective", name="clip_camera", perspective=gl.Perspective(
        yfov=yfov, aspectRatio=asset.width / asset.height, znear=0.01, zfar=100.0)))
    # nodes: 0 root, 1 camera, 2 head (pose), 3 face (mesh, morph weights)
    gltf.nodes = [gl.Node(name="talking_head", children=[1, 2],
                          extras={"profile_id": asset.profile_id, "fps": tracks.fps}),
                  gl.Node(name="camera", camera=0),
                  gl.Node(name="head", children=[3], translation=pose[0, 3:].tolist(),
                          rotation=euler_xyz_to_quat(pose[:1, :3])[0].tolist()),
                  gl.Node(name="face", mesh=0)]
    gltf.scenes = [gl.Scene(name="talking_head", nodes=[0])]
    gltf.scene = 0

    times = (np.arange(tracks.frame_count, dtype=np.float64) / tracks.fps).astype(np.float32)
    t_acc = blob.accessor(times, gl.SCALAR, minmax=True)
    outputs = [blob.accessor(pose[:, 3:].astype(np.float32), gl.VEC3),
               blob.accessor(euler_xyz_to_quat(pose[:, :3]).astype(np.float32), gl.VEC4),
               blob.accessor(weights.reshape(-1), gl.SCALAR)]
    samplers = [gl.AnimationSampler(input=t_acc, output=o, interpolation="LINEAR") for o in outputs]
    channels = [gl.AnimationChannel(sampler=0, target=gl.AnimationChannelTarget(node=2, path="translation")),
                gl.AnimationChannel(sampler=1, target=gl.AnimationChannelTarget(node=2, path="rotation")),
                gl.AnimationChannel(sampler=2, target=gl.AnimationChannelTarget(node=3, path="weights"))]
    gltf.animations.append(gl.Animation(name="talking_head", samplers=samplers, channels=channels))
    gltf.buffers.append(gl.Buffer(byteLength=len(blob.data)))
    gltf.set_binary_blob(bytes(blob.data))
    return gltf


def export_glb(profile_dir: str | os.PathLike[str], tracks: Tracks, out: str | os.PathLike[str]) -> Path:
    gltf = build_gltf(load_face_asset(profile_dir), tracks)
    out = Path(out)
    with atomic_path(out, suffix=".glb") as tmp:
        gltf.save_binary(str(tmp))
    return out
