"""Camera framing: a square crop of the clip frame around the face, as a lens and shift of the clip's own
camera (same position and perspective, so the face's look is the clip's; only the field of view narrows)."""

from __future__ import annotations

import numpy as np

SENSOR_MM = 36.0
MARGIN = 1.35  # crop side over the face's larger extent


def euler_xyz(angles: np.ndarray) -> np.ndarray:
    """R = Rz @ Ry @ Rx (Blender 'XYZ')."""
    x, y, z = (float(a) for a in angles)
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def project(vertices: np.ndarray, pose: np.ndarray, camera: tuple[float, float, float]) -> np.ndarray:
    """[N, 2] clip pixels (origin top-left, y down) of head-local `vertices` at `pose`."""
    f, cx, cy = camera
    p = vertices.astype(np.float64) @ euler_xyz(pose[:3]).T + np.asarray(pose[3:], np.float64)
    depth = np.maximum(-p[:, 2], 1e-6)
    return np.stack([cx + f * p[:, 0] / depth, cy - f * p[:, 1] / depth], 1)


def face_crop(vertices: np.ndarray, pose: np.ndarray, camera: tuple[float, float, float],
              margin: float = MARGIN) -> tuple[float, float, float]:
    """(x0, y0, side) of the square crop, in clip pixels."""
    px = project(vertices, pose, camera)
    lo, hi = px.min(0), px.max(0)
    side = float(max(hi - lo) * margin)
    centre = (lo + hi) / 2
    return float(centre[0] - side / 2), float(centre[1] - side / 2), side


def lens_and_shift(camera: tuple[float, float, float], crop: tuple[float, float, float]) -> tuple[float, float, float]:
    """(lens mm, shift_x, shift_y) of a square-sensor camera whose frame is exactly `crop`."""
    f, cx, cy = camera
    x0, y0, side = crop
    return SENSOR_MM * f / side, (x0 + side / 2 - cx) / side, (cy - y0 - side / 2) / side
