"""Mouth interior: cavity geometry behind the inner-lip ring, so an open mouth renders as a dark cavity.

The MediaPipe face mesh has a hole bounded by the 20-vertex inner-lip ring. We close it with a short tube
(the ring pulled inward and back) and a fan to one back-wall vertex. The new vertices are computed from the
ring of the *posed expression* shape in head-local coordinates, so the cavity opens and closes with the
lips; when the mouth is shut the lips cover it. Colours come from a small patch painted into an unused
corner of the UV square (face UVs never go below v = 0.15), so the cavity goes through the same textured,
SH-shaded rasterizer as the skin: the upper wall is a teeth proxy, the lower wall a dark tongue, the back
wall nearly black.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from backend.face.landmarks import INNER_LIP_LOWER, INNER_LIP_UPPER
from backend.face.rotation import euler_to_matrix

# Closed inner-lip loop: upper lip left to right, then lower lip right to left (corners once).
MOUTH_RING = np.concatenate([INNER_LIP_UPPER, INNER_LIP_LOWER[-2:0:-1]])
INSET = 0.75  # inner ring radius relative to the lip ring (about the mouth centre)
WALL_DEPTH = 0.006  # metres: how far behind the lips the inner ring sits (teeth just behind the lips)
BACK_DEPTH = 0.022  # metres: the back wall (throat) behind the lip-ring centre
# Patch in texture UV space (u0, u1, v0, v1), below every face UV: the cavity samples only its centre column.
PATCH = (0.44, 0.56, 0.01, 0.13)
TEETH = (0.72, 0.68, 0.62)
TONGUE = (0.22, 0.07, 0.07)
THROAT = (0.03, 0.01, 0.01)
# Default key colours (rows: teeth, tongue, throat); `backend.render.mouth_colours` fits a person's own from the clip.
DEFAULT_COLOURS = np.array([TEETH, TONGUE, THROAT], dtype=np.float32)
# Patch rows (as a fraction from the patch's top, v1) holding each colour; interpolation runs between them.
V_TEETH, V_TONGUE, V_THROAT = 0.1, 0.5, 0.9


@dataclass
class CavityMesh:
    """The face mesh extended with the cavity: `triangles` [F+Fc,3], `uvs` [V+Vc,2]; `n_face` face triangles."""

    triangles: np.ndarray
    uvs: np.ndarray
    n_face_vertices: int
    n_face: int


def _patch_v(frac: float) -> float:
    return PATCH[3] - frac * (PATCH[3] - PATCH[2])


def cavity_mesh(vertices: np.ndarray, triangles: np.ndarray, uvs: np.ndarray) -> CavityMesh:
    """Triangles and UVs of face + cavity. New vertices (see `cavity_vertices`): a copy of the lip ring, the
    inner ring, the back vertex. The copy keeps the face's own vertex normals (and so the lips' shading)
    untouched and lets the walls take the cavity colours right up to the lip edge."""
    n = len(MOUTH_RING)
    v0 = len(uvs)
    outer, inner, back = v0 + np.arange(n), v0 + n + np.arange(n), v0 + 2 * n
    # Wind every cavity triangle counter-clockwise as seen from the front, like the face (normals toward
    # the viewer): the ring's orientation in the head-local x-y plane decides the vertex order.
    ring_xy = np.asarray(vertices)[MOUTH_RING, :2]
    x, y = ring_xy[:, 0], ring_xy[:, 1]
    ccw = float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) > 0
    tris = []
    for k in range(n):
        a, b = outer[k], outer[(k + 1) % n]
        ia, ib = inner[k], inner[(k + 1) % n]
        tris += [(a, b, ib), (a, ib, ia), (back, ia, ib)]
    cav = np.asarray(tris, dtype=np.int64)
    if not ccw:
        cav = cav[:, ::-1]
    uc = (PATCH[0] + PATCH[1]) / 2
    upper = np.isin(MOUTH_RING, INNER_LIP_UPPER[1:-1])
    wall_v = np.where(upper, _patch_v(V_TEETH), _patch_v(V_TONGUE))
    wall = np.stack([np.full(n, uc), wall_v], -1)
    cav_uv = np.concatenate([wall, wall, [[uc, _patch_v(V_THROAT)]]])
    return CavityMesh(triangles=np.concatenate([np.asarray(triangles, dtype=np.int64), cav]),
                      uvs=np.concatenate([uvs, cav_uv]).astype(np.float32), n_face_vertices=v0,
                      n_face=len(triangles))


def cavity_vertices(local: torch.Tensor) -> torch.Tensor:
    """Head-local face vertices [T,V,3] -> [T,V+2n+1,3]: lip-ring copy, inner ring, back vertex appended."""
    ring = local[:, torch.as_tensor(MOUTH_RING)]                       # [T,n,3]
    centre = ring.mean(1, keepdim=True)
    back_dir = local.new_tensor([0.0, 0.0, -1.0])                     # into the head (head-local -z)
    inner = centre + INSET * (ring - centre) + WALL_DEPTH * back_dir
    back = centre + BACK_DEPTH * back_dir
    return torch.cat([local, ring, inner, back], dim=1)


def posed_with_cavity(identity: torch.Tensor, basis: torch.Tensor, expression: torch.Tensor,
                      pose: torch.Tensor) -> torch.Tensor:
    """Like posing.posed_vertices, with the cavity vertices appended before posing: [T,V+Vc,3] camera frame."""
    local = identity + torch.einsum("tk,kvc->tvc", expression, basis)
    local = cavity_vertices(local)
    return local @ euler_to_matrix(pose[:, :3]).transpose(1, 2) + pose[:, None, 3:]


def paint_patch(albedo: np.ndarray, colours: np.ndarray = DEFAULT_COLOURS) -> np.ndarray:
    """Copy of the albedo [S,S,3] (row 0 is v = 1) with the cavity patch painted: a vertical gradient through
    the key `colours` [3,3] (rows: teeth, tongue, throat; an identity matrix paints the blend weights)."""
    colours = np.asarray(colours, dtype=np.float32)
    out = np.array(albedo, dtype=np.float32, copy=True)
    s_h, s_w = out.shape[:2]
    r0, r1 = int(np.floor((1 - PATCH[3]) * s_h)), int(np.ceil((1 - PATCH[2]) * s_h))
    c0, c1 = int(np.floor(PATCH[0] * s_w)), int(np.ceil(PATCH[1] * s_w))
    # Vertical gradient through the three colours at their rows; flat beyond the end rows.
    v = 1 - (np.arange(r0, r1) + 0.5) / s_h                            # texel-centre v of each row
    frac = (PATCH[3] - v) / (PATCH[3] - PATCH[2])
    keys = np.array([V_TEETH, V_TONGUE, V_THROAT])
    rows = np.stack([np.interp(frac, keys, colours[:, c]) for c in range(colours.shape[1])], -1)
    out[r0:r1, c0:c1] = rows[:, None, :]
    return out
