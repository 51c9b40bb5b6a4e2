"""Frame-level video metrics for the eval report (definitions in docs/metrics.md): PSNR, SSIM and the
temporal-difference ratio of an output face-crop video against the real held-out crops."""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def _pairs(output: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if output.shape[1:] != real.shape[1:]:
        raise ValueError(f"frame shapes differ: {output.shape[1:]} vs {real.shape[1:]}")
    n = min(len(output), len(real))
    return output[:n], real[:n]


def psnr(output: np.ndarray, real: np.ndarray) -> float:
    """Mean over frames of per-frame PSNR (dB, peak 255) of [T,H,W,3] uint8 frames; an identical frame counts
    as 100 dB so one perfect frame cannot make the mean infinite."""
    out, ref = _pairs(output, real)
    values = []
    for a, b in zip(out, ref, strict=True):
        mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
        values.append(100.0 if mse == 0 else float(peak_signal_noise_ratio(b, a, data_range=255)))
    return float(np.mean(values)) if values else float("nan")


def ssim(output: np.ndarray, real: np.ndarray) -> float:
    """Mean over frames of SSIM (scikit-image defaults: 7x7 uniform window, K1 0.01, K2 0.03) over the RGB
    channels of [T,H,W,3] uint8 frames."""
    out, ref = _pairs(output, real)
    values = [structural_similarity(b, a, channel_axis=-1, data_range=255) for a, b in zip(out, ref, strict=True)]
    return float(np.mean(values)) if values else float("nan")


def temporal_diff(frames: np.ndarray) -> float:
    """Mean absolute difference between consecutive frames (grey levels 0-255, RGB averaged)."""
    if len(frames) < 2:
        return 0.0
    grey = frames.astype(np.float32).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=0)).mean())


def temporal_diff_ratio(output: np.ndarray, real: np.ndarray) -> float:
    """temporal_diff(output) / temporal_diff(real) over the same frames: 1 = as much frame-to-frame change as
    the real video; > 1 flicker or jitter; < 1 a video stiller than the real one."""
    out, ref = _pairs(output, real)
    base = temporal_diff(ref)
    return float(temporal_diff(out) / base) if base > 0 else float("nan")
