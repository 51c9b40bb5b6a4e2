"""Temporal smoothing of fitted tracks: remove tracker jitter, keep speech.

Savitzky-Golay filters preserve peaks (mouth closures, plosives) far better than moving averages at the
same noise reduction. The head moves slowly, so pose gets a long window; expression carries speech
(syllables at 4-6 Hz) and gets a short one. Windows are given in seconds so they mean the same at any fps.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter

POSE_WINDOW_S = 0.36
EXPRESSION_WINDOW_S = 0.12


def _window(fps: float, seconds: float, order: int) -> int:
    n = int(round(seconds * fps))
    n += 1 - n % 2  # odd
    return max(n, order + 2 + (order % 2 == 0))


def savgol(x: np.ndarray, fps: float, seconds: float, order: int = 2) -> np.ndarray:
    """Savitzky-Golay along axis 0; sequences shorter than the window are returned unchanged."""
    x = np.asarray(x, dtype=np.float64)
    window = _window(fps, seconds, order)
    if seconds <= 0 or len(x) < window:
        return x.copy()
    return savgol_filter(x, window, order, axis=0, mode="interp")


def smooth_pose(pose: np.ndarray, fps: float, seconds: float = POSE_WINDOW_S) -> np.ndarray:
    out = np.asarray(pose, dtype=np.float64).copy()
    out[:, :3] = np.unwrap(out[:, :3], axis=0)
    return savgol(out, fps, seconds).astype(np.float32)


def smooth_expression(expression: np.ndarray, fps: float, seconds: float = EXPRESSION_WINDOW_S) -> np.ndarray:
    return savgol(expression, fps, seconds, order=2).astype(np.float32)
