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


MAX_LAG = 5  # frames searched by sync_offset_frames
SILENCE_MARGIN_S = 0.15  # a frame is silent when no voice activity lies within this of it
CLOSED_SHARE = 0.25  # closed: opening below p10 + this share of the (p10..p90) range of the true opening


def sync_offset(pred: np.ndarray, true: np.ndarray, max_lag: int = MAX_LAG) -> int:
    """Lag (frames, within +-max_lag) of the peak cross-correlation: positive when the prediction is late
    (pred[t + lag] matches true[t])."""
    best, best_r = 0, -np.inf
    n = min(len(pred), len(true))
    for lag in range(-max_lag, max_lag + 1):
        a = pred[max(lag, 0): n + min(lag, 0)]
        b = true[max(-lag, 0): n - max(lag, 0)]
        if len(a) > 8:
            r = pearson(a, b)
            if r > best_r:
                best, best_r = lag, r
    return best


def silent_frames(activity: np.ndarray, fps: float) -> np.ndarray:
    """[T] bool: no voice activity within SILENCE_MARGIN_S (pauses, not the gaps between syllables)."""
    from scipy.ndimage import maximum_filter1d

    radius = max(1, int(round(SILENCE_MARGIN_S * fps)))
    return ~maximum_filter1d(np.asarray(activity) > 0, size=2 * radius + 1, mode="nearest")


def closed_share(opening: np.ndarray, true_opening: np.ndarray, silent: np.ndarray) -> float | None:
    """Share of the silent frames whose opening counts as closed (CLOSED_SHARE); None without silent frames."""
    if not silent.any():
        return None
    lo, hi = np.quantile(true_opening, [0.1, 0.9])
    return round(float(np.mean(opening[silent] <= lo + CLOSED_SHARE * (hi - lo))), 4)


def motion_report(mouth: MouthModel, pred_expr: np.ndarray, true_expr: np.ndarray, pred_pose: np.ndarray,
                  true_pose: np.ndarray, baseline_expr: np.ndarray, activity: np.ndarray | None = None,
                  fps: float = 25.0, pred_blink_rate: float | None = None,
                  true_blink_rate: float | None = None) -> dict:
    """All metrics for predicted vs true tracks over the same T frames; `baseline_expr` is [K] (e.g. the
    profile's mean expression) for mouth_lmd_baseline; `activity` [T] (voice activity of the test audio)
    gives the silent-frame shares; the blink rates (per minute) give blink_rate_ratio."""
    n = min(len(pred_expr), len(true_expr), len(pred_pose), len(true_pose))
    pe, te, pp, tp = pred_expr[:n], true_expr[:n], pred_pose[:n], true_pose[:n]
    true_std = tp.std(axis=0)
    scale = np.maximum(true_std, 1e-9)
    pred_open, true_open = mouth.opening(pe), mouth.opening(te)
    lmd = mouth.lmd(pe, te)
    base = mouth.lmd(np.broadcast_to(baseline_expr, te.shape), te)
    out = {
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
        "sync_offset_frames": sync_offset(pred_open, true_open),
    }
    if activity is not None:
        silent = silent_frames(np.asarray(activity)[:n], fps)
        out["silent_frames"] = int(silent.sum())
        out["silent_closed_share"] = closed_share(pred_open, true_open, silent)
        out["silent_closed_share_true"] = closed_share(true_open, true_open, silent)
    if pred_blink_rate is not None and true_blink_rate is not None:
        out["blink_rate_per_min"] = round(pred_blink_rate, 2)
        out["blink_rate_per_min_true"] = round(true_blink_rate, 2)
        out["blink_rate_ratio"] = round(pred_blink_rate / true_blink_rate, 3) if true_blink_rate > 0 else None
    return out
