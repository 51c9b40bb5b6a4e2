"""Building the face-model template from tracked clips: mean face, shared expression basis, UV layout.

Each clip's 3D MediaPipe landmarks are similarity-aligned on stable points (generalised Procrustes across
clips), put in the canonical head frame and scaled to IOD_METRES. The template is the mean of the clips' mean
shapes; the basis is PCA of the per-clip mean-centred residuals, every clip weighted equally, scaled so a
coefficient of 1 is one standard deviation of the pooled data.
"""

from __future__ import annotations

import numpy as np

from backend.face.alignment import align_sequence, mediapipe_to_head_axes
from backend.face.landmarks import IOD_METRES, LEFT_EYE_OUTER, N_MESH, RIGHT_EYE_OUTER, STABLE, inter_ocular
from backend.face.model import MODEL_ID, FaceModel
from backend.face.topology import face_front, raw_triangles

CHIN, FOREHEAD = 152, 10
# The head's pivot sits this far behind the eye-corner midpoint (roughly the head's centre), so that
# rotations keyframed in Blender turn the head like a neck would rather than spin the face about the nose.
PIVOT_DEPTH_M = 0.085


def canonical_frame(shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (rows = new axes) and origin that put a face in the head-local frame of docs/formats.md."""
    x = shape[RIGHT_EYE_OUTER] - shape[LEFT_EYE_OUTER]
    x /= np.linalg.norm(x)
    y = shape[FOREHEAD] - shape[CHIN]
    y -= (y @ x) * x
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    rot = np.stack([x, y, z])
    eye_mid = 0.5 * (shape[LEFT_EYE_OUTER] + shape[RIGHT_EYE_OUTER])
    return rot, eye_mid


def to_canonical(shape: np.ndarray) -> np.ndarray:
    rot, eye_mid = canonical_frame(shape)
    out = (shape - eye_mid) @ rot.T
    out *= IOD_METRES / inter_ocular(out)
    out[:, 2] += PIVOT_DEPTH_M
    return out


def cylindrical_uvs(shape: np.ndarray, margin: float = 0.04) -> np.ndarray:
    """UVs from a cylinder around the vertical axis through the pivot: less stretch on the cheeks than a
    frontal projection, no seams on the face."""
    theta = np.arctan2(shape[:, 0], shape[:, 2])
    height = shape[:, 1]
    u = (theta - theta.min()) / np.ptp(theta)
    v = (height - height.min()) / np.ptp(height)
    # keep the aspect ratio of arc length to height so texels are roughly square
    radius = np.median(np.hypot(shape[:, 0], shape[:, 2]))
    arc, tall = np.ptp(theta) * radius, np.ptp(height)
    if arc > tall:
        v = 0.5 + (v - 0.5) * tall / arc
    else:
        u = 0.5 + (u - 0.5) * arc / tall
    return (margin + (1 - 2 * margin) * np.stack([u, v], 1)).astype(np.float32)


def rigid_modes(points: np.ndarray) -> np.ndarray:
    """[6, N*3] infinitesimal translations and rotations (about the centroid) of a point set."""
    return rigid_modes_about(points, points.mean(0))


def remove_rigid_component(basis: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Subtract from each [V,3] component the rigid motion that best explains it on the stable points.

    Afterwards no expression moves the stable points rigidly, so head pose (the rigid motion of the stable
    points) and expression cannot trade off against each other in the fit.
    """
    modes_stable = rigid_modes(template[STABLE])  # [6, S*3]
    modes_all = rigid_modes_about(template, template[STABLE].mean(0))  # same motions, every vertex
    out = basis.copy()
    for k in range(len(basis)):
        coef, *_ = np.linalg.lstsq(modes_stable.T, basis[k, STABLE].reshape(-1), rcond=None)
        out[k] -= (coef @ modes_all).reshape(-1, 3)
    return out


def rigid_modes_about(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    arm = points - centre
    modes = [np.broadcast_to(axis, points.shape) for axis in np.eye(3)]
    modes += [np.cross(axis, arm) for axis in np.eye(3)]
    return np.stack([m.reshape(-1) for m in modes])


def build_template(clips: list[np.ndarray], n_components: int = 32, frames_per_clip: int = 600,
                   seed: int = 0) -> tuple[FaceModel, dict]:
    """clips: list of [T,478 or 468,3] MediaPipe landmarks in pixels. Returns the template and stats."""
    rng = np.random.default_rng(seed)
    seqs = [mediapipe_to_head_axes(c[:, :N_MESH]) for c in clips]
    reference = to_canonical(seqs[0][0])
    for _ in range(4):  # generalised Procrustes: align all clips to the evolving mean
        aligned = [align_sequence(q, reference, STABLE)[0] for q in seqs]
        reference = to_canonical(np.mean([a.mean(0) for a in aligned], axis=0))
    residuals = []
    for a in aligned:
        centred = (a - a.mean(0)).reshape(len(a), -1)
        pick = rng.choice(len(a), size=min(len(a), frames_per_clip), replace=False)
        # equal weight per clip, whatever its length
        residuals.append(centred[pick] / np.sqrt(len(pick)))
    stacked = np.concatenate(residuals)
    _, sing, vt = np.linalg.svd(stacked, full_matrices=False)
    var = sing**2 / len(clips)
    k = n_components
    comps = (vt[:k] * np.sqrt(var[:k])[:, None]).reshape(k, N_MESH, 3)
    comps = remove_rigid_component(comps, reference)
    flat = comps.reshape(k, -1)
    flat *= np.sign(flat[np.arange(k), np.abs(flat).argmax(1)])[:, None]  # deterministic signs
    basis = flat.reshape(k, N_MESH, 3).astype(np.float32)
    tris = face_front(raw_triangles(), reference)
    model = FaceModel(vertices=reference.astype(np.float32), triangles=tris, uvs=cylindrical_uvs(reference),
                      basis=basis, basis_names=[f"expr_{i:02d}" for i in range(k)], model_id=MODEL_ID)
    stats = {"clips": len(clips), "frames": int(sum(len(c) for c in clips)),
             "explained_variance": float(var[:k].sum() / var.sum())}
    return model, stats
