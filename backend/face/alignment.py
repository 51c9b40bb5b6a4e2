"""Similarity (Umeyama) alignment of point sets and MediaPipe-to-head-space conversion."""

from __future__ import annotations

import numpy as np


def mediapipe_to_head_axes(points_px: np.ndarray) -> np.ndarray:
    """MediaPipe (x right, y down, z away from camera; px) -> x right, y up, z toward camera (px)."""
    out = np.asarray(points_px, dtype=np.float64).copy()
    out[..., 1] *= -1
    out[..., 2] *= -1
    return out


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Best s, R, t with dst ~= s * R @ src + t (least squares). src, dst: [N, 3]."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    dmat = np.diag([1.0, 1.0, d])
    rot = u @ dmat @ vt
    var_s = (w * (xs**2).sum(1)).sum()
    scale = float((sig * np.diag(dmat)).sum() / var_s)
    trans = mu_d - scale * rot @ mu_s
    return scale, rot, trans


def align_sequence(points: np.ndarray, reference: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Align every frame of points [T,N,3] to reference [N,3] on the indices idx.

    Returns aligned points [T,N,3] (in the reference frame) and per-frame (scale [T], R [T,3,3], t [T,3])
    of the map frame -> reference.
    """
    n = len(points)
    aligned = np.empty_like(points, dtype=np.float64)
    scales, rots, trans = np.empty(n), np.empty((n, 3, 3)), np.empty((n, 3))
    for i in range(n):
        s, r, t = umeyama(points[i, idx], reference[idx])
        aligned[i] = s * points[i] @ r.T + t
        scales[i], rots[i], trans[i] = s, r, t
    return aligned, scales, rots, trans
