"""Motion quality metrics (definitions in docs/motion.md): mouth correlation and distance, pose spread and
smoothness of predicted versus true tracks over the same frames."""

from __future__ import annotations

import numpy as np

from backend.core.tracks import POSE_CHANNELS
from backend.face import metrics
from backend.motion.mouth import MouthModel


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """backend.face.metrics.pearson, but 0 (no correlation) when either side is constant (e.g. a still mouth)."""
    r = metrics.pearson(a, b)
    return 0.0 if np.isnan(r) else r


def jerk(pose: np.ndarray, scale: np.ndarray) -> float:
    """Mean |third difference| of the pose, each axis divided by `scale` (the true std) so axes in
    radians and metres weigh alike; per frame^3."""
    if len(pose) < 4:
        return 0.0
    return float(np.mean(np.abs(np.diff(np.asarray(pose, np.float64) / scale, n=3, axis=0))))


def motion_report(mouth: MouthModel, pred_expr: np.ndarray, true_expr: np.ndarray, pred_pose: np.ndarray,
                  true_pose: np.ndarray, baseline_expr: np.ndarray) -> dict:
    """All metrics for predicted vs true tracks over the same T frames; `baseline_expr` is [K] (e.g. the
    profile's mean expression) for mouth_lmd_baseline."""
    n = min(len(pred_expr), len(true_expr), len(pred_pose), len(true_pose))
    pe, te, pp, tp = pred_expr[:n], true_expr[:n], pred_pose[:n], true_pose[:n]
    true_std = tp.std(axis=0)
    scale = np.maximum(true_std, 1e-9)
    pred_open, true_open = mouth.opening(pe), mouth.opening(te)
    lmd = mouth.lmd(pe, te)
    base = mouth.lmd(np.broadcast_to(baseline_expr, te.shape), te)
    return {
        "frames": int(n),
        "mouth_corr": round(pearson(pred_open, true_open), 4),
        "mouth_lmd": lmd,
        "mouth_lmd_baseline": base,
        "mouth_lmd_reduction": round(1.0 - lmd / base, 4) if base > 0 else 0.0,
        "mouth_lmd_mm": round(1000 * lmd, 3),
        "mouth_lmd_baseline_mm": round(1000 * base, 3),
        "mouth_open_std_ratio": round(float(pred_open.std() / max(true_open.std(), 1e-12)), 4),
        "pose_std_ratio": {c: round(float(pp[:, i].std() / scale[i]), 4) for i, c in enumerate(POSE_CHANNELS)},
        "jerk_ratio": round(jerk(pp, scale) / max(jerk(tp, scale), 1e-12), 4),
    }
