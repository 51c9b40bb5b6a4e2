"""Stable face-crop transforms: where the 256/512 px face crop of each frame lies in the full frame.

The crop's size is fixed for the whole clip (from the median face extent) and its centre follows the face
through a heavy temporal Gaussian, so crops do not shake; renders made in crop space are pasted back with
the inverse of the same affine map.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

CROP_SIZES = (256, 512)
# Side of the crop relative to the face's landmark extent: leaves room for hair, jaw motion and some neck.
CROP_SCALE = 1.6
CENTRE_SMOOTHING_S = 0.3
VERTICAL_SHIFT = -0.08  # move the crop up by this fraction of its side: the mesh has no forehead top


def crop_boxes(landmarks_xy: np.ndarray, fps: float) -> tuple[np.ndarray, float]:
    """[T,N,2] px -> smoothed crop centres [T,2] px and the clip-wide side length in px."""
    lo, hi = landmarks_xy.min(1), landmarks_xy.max(1)
    centre = 0.5 * (lo + hi)
    side = float(np.median((hi - lo).max(1))) * CROP_SCALE
    sigma = max(CENTRE_SMOOTHING_S * fps, 1e-6)
    centre = gaussian_filter1d(centre, sigma, axis=0, mode="nearest")
    centre[:, 1] += VERTICAL_SHIFT * side
    return centre, side


def crop_affines(centres: np.ndarray, side: float, size: int) -> np.ndarray:
    """[T,2,3] affine maps full-frame px -> crop px for a square crop of `size` px."""
    scale = size / side
    out = np.zeros((len(centres), 2, 3), dtype=np.float32)
    out[:, 0, 0] = out[:, 1, 1] = scale
    out[:, :, 2] = size / 2.0 - scale * centres
    return out


def crop_camera(camera: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Intrinsics (f, cx, cy) of the full frame -> those of the crop given by a [2,3] similarity affine."""
    scale = float(affine[0, 0])
    return np.array([camera[0] * scale, camera[1] * scale + affine[0, 2], camera[2] * scale + affine[1, 2]],
                    dtype=np.float32)
