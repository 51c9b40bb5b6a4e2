"""Paste a square face crop back into the full-resolution frame with the inverse of its crop affine.

Coordinates are continuous pixels (pixel i covers [i, i+1), centre i + 0.5), as the rasterizer and
`crops.crop_camera` use them. OpenCV's warps address pixel centres by their index, so `cv_affine` converts
a map before every warp; crop -> paste-back is then exact to interpolation accuracy, and a face rendered
with `crop_camera(camera, affine)` lands on the pixels a full-frame render would cover.

Only the crop's bounding box in the frame is warped and blended (cost grows with the crop, not the frame).
Blending: a feathered alpha (default: a ramp along the crop's border, or the caller's crop-space alpha),
or Poisson cloning (cv2.seamlessClone), which also evens out colour differences along the boundary.
"""

from __future__ import annotations

import cv2
import numpy as np

BORDER_FEATHER = 0.08  # default blend ramp along the crop border, as a fraction of the crop side


def cv_affine(affine: np.ndarray) -> np.ndarray:
    """[2,3] map in continuous pixel coordinates -> the same map on pixel indices (OpenCV's convention)."""
    a = np.asarray(affine, dtype=np.float64)
    out = a.copy()
    out[:, 2] = a[:, 2] + 0.5 * a[:, :2].sum(1) - 0.5
    return out


def invert(affine: np.ndarray) -> np.ndarray:
    """Inverse of a [2,3] affine map."""
    return cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64))


def crop_frame(frame: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """The size x size crop of `frame` that `affine` (full px -> crop px) defines (bilinear, edges repeated)."""
    return cv2.warpAffine(frame, cv_affine(affine), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def crop_points(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Full-frame pixel points [N,2] -> their crop pixels under `affine` [2,3]."""
    a = np.asarray(affine, np.float64)
    return (np.asarray(points, np.float64) @ a[:, :2].T + a[:, 2]).astype(np.float32)


def border_alpha(size: int, feather: float = BORDER_FEATHER) -> np.ndarray:
    """[size,size] alpha: 1 inside, falling linearly to 0 at the crop border over feather*size px."""
    ramp = max(1.0, feather * size)
    d = np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5)
    a = np.clip(d / ramp, 0, 1).astype(np.float32)
    return np.minimum(a[:, None], a[None, :])


def _roi(affine: np.ndarray, size: int, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer box (x0, y0, x1, y1) of the frame the crop covers, clipped; None if it misses the frame."""
    inv = invert(affine)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ inv.T
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def paste_back(frame: np.ndarray, crop: np.ndarray, affine: np.ndarray, alpha: np.ndarray | None = None,
               mode: str = "feather") -> np.ndarray:
    """Blend `crop` [S,S,3] uint8 into a copy of `frame` [H,W,3] uint8 where `affine` (frame -> crop) says.

    `alpha` [S,S] float in [0,1] in crop space says how much of the crop to take (default `border_alpha`).
    mode "feather": alpha blend; "poisson": cv2.seamlessClone over the region where alpha > 0.5.
    """
    if mode not in ("feather", "poisson"):
        raise ValueError(f"unknown paste-back mode {mode!r}")
    size = crop.shape[0]
    h, w = frame.shape[:2]
    out = frame.copy()
    box = _roi(affine, size, w, h)
    if box is None:
        return out
    x0, y0, x1, y1 = box
    # frame -> crop map for the ROI's own pixel grid: shift the frame origin to (x0, y0)
    a = np.asarray(affine, dtype=np.float64).copy()
    a[:, 2] += a[:, :2] @ np.array([x0, y0], dtype=np.float64)
    m = cv_affine(a)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(crop, m, (x1 - x0, y1 - y0), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    alpha = border_alpha(size) if alpha is None else np.asarray(alpha, dtype=np.float32)
    wa = cv2.warpAffine(alpha, m, (x1 - x0, y1 - y0), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    roi = out[y0:y1, x0:x1]
    if mode == "poisson":
        mask = (wa > 0.5).astype(np.uint8) * 255
        if mask.any():
            # seamlessClone places the mask's bounding-box centre at `center`: use that centre, so nothing moves.
            ys, xs = np.nonzero(mask)
            centre = ((int(xs.min()) + int(xs.max()) + 1) // 2, (int(ys.min()) + int(ys.max()) + 1) // 2)
            pad = 2  # seamlessClone needs the mask off the image border
            big = cv2.copyMakeBorder(roi, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            src = cv2.copyMakeBorder(warped, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            mk = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            cloned = cv2.seamlessClone(src, big, mk, (centre[0] + pad, centre[1] + pad), cv2.NORMAL_CLONE)
            out[y0:y1, x0:x1] = cloned[pad:-pad, pad:-pad]
        return out
    wa = wa[..., None]
    out[y0:y1, x0:x1] = np.clip(wa * warped.astype(np.float32) + (1 - wa) * roi.astype(np.float32) + 0.5,
                                0, 255).astype(np.uint8)
    return out
