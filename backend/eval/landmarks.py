"""Mouth landmarks re-tracked on videos (MediaPipe, tracking mode) and the landmark distance `lmd_px`
between an output face-crop video and the real one (docs/metrics.md)."""

from __future__ import annotations

import numpy as np

from backend.analysis.tracking import FaceTracker
from backend.core.native_logs import filtered_native_stderr
from backend.face.landmarks import MOUTH, MOUTH_PAIRS


def retrack(frames: np.ndarray) -> np.ndarray:
    """[T,H,W,3] uint8 -> [T,478,2] px landmarks (NaN where no face was found), fed in order like a video."""
    out = np.full((len(frames), 478, 2), np.nan, dtype=np.float32)
    with filtered_native_stderr():
        tracker = FaceTracker(max_faces=1)
        try:
            for i, rgb in enumerate(frames):
                found = tracker.process(rgb)
                if found is not None:
                    out[i] = found[:, :2]
        finally:
            tracker.close()
    return out


def lmd_px(output_lm: np.ndarray, real_lm: np.ndarray, centred: bool = False) -> tuple[float, float]:
    """Mean Euclidean distance (px) between the 40 lip landmarks (`landmarks.MOUTH`) of output and real frames,
    over frames where both were tracked. `centred`: subtract each frame's lip centroid first (shape only,
    not position). Returns (distance, fraction of frames used)."""
    n = min(len(output_lm), len(real_lm))
    a, b = output_lm[:n, MOUTH], real_lm[:n, MOUTH]
    ok = np.isfinite(a).all(axis=(1, 2)) & np.isfinite(b).all(axis=(1, 2))
    if not ok.any():
        return float("nan"), 0.0
    a, b = a[ok].astype(np.float64), b[ok].astype(np.float64)
    if centred:
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
    return float(np.linalg.norm(a - b, axis=-1).mean()), float(ok.mean())


def mouth_opening_px(lm: np.ndarray) -> np.ndarray:
    """[T,478,2] px -> [T] inner-lip opening: mean distance of the facing upper/lower inner-lip pairs."""
    return np.linalg.norm(lm[:, MOUTH_PAIRS[:, 0]] - lm[:, MOUTH_PAIRS[:, 1]], axis=-1).mean(axis=-1)

