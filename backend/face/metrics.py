"""Small, precisely defined metrics shared by analysis, motion evaluation and the eval report (docs/metrics.md)."""

from __future__ import annotations

import numpy as np

from backend.face.landmarks import MOUTH_PAIRS


def rotation_degrees(pose: np.ndarray) -> np.ndarray:
    """[T,6] pose -> [T,3] unwrapped Euler angles in degrees."""
    return np.degrees(np.unwrap(np.asarray(pose, dtype=np.float64)[:, :3], axis=0))


def rotation_jerk(pose: np.ndarray) -> float:
    """Mean norm of the third finite difference of the rotation angles (degrees per frame^3)."""
    rot = rotation_degrees(pose)
    if len(rot) < 4:
        return 0.0
    return float(np.linalg.norm(np.diff(rot, n=3, axis=0), axis=1).mean())


def rotation_jitter(pose: np.ndarray) -> float:
    """Mean norm of the second finite difference of the rotation angles (degrees per frame^2)."""
    rot = rotation_degrees(pose)
    if len(rot) < 3:
        return 0.0
    return float(np.linalg.norm(np.diff(rot, n=2, axis=0), axis=1).mean())


def ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def mouth_opening(vertices: np.ndarray) -> np.ndarray:
    """Inner-lip opening of [..., 468, 3] head-local vertices: mean distance of the facing inner-lip pairs."""
    v = np.asarray(vertices)
    return np.linalg.norm(v[..., MOUTH_PAIRS[:, 0], :] - v[..., MOUTH_PAIRS[:, 1], :], axis=-1).mean(-1)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
