"""What the refiner sees of one frame, from what the rasterizer knows for free.

Per frame, at the networks' resolution (uint8 [6,R,R]): the coarse render composited over the matched
background crop with everything inside the face's outline that the mesh does not cover blanked (the eye
holes: without this they show the background frame's own eyes, which at render time belong to another
moment), the face hull (the mesh's silhouette with its holes filled), the mouth cavity and the eye holes.
The memory's key (`key_vector`) is the frame's geometry: expression coefficients, head rotation, and how
open the rendered mouth and eyes are (cavity and eye-hole areas).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class FrameInput:
    coarse: np.ndarray  # [S,S,3] uint8: the blanked composite at the render size (what the output blends with)
    planes: np.ndarray  # [6,R,R] uint8: network input planes of this frame
    region: np.ndarray  # [R,R] bool: the mouth and eye regions (where the memory's values live)
    key_extra: np.ndarray  # [2]: mouth and eye openness (area fractions of the crop)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """A bool mask with its interior holes filled (the outer contours drawn solid)."""
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros_like(m)
    cv2.drawContours(out, contours, -1, 1, thickness=cv2.FILLED)
    return out.astype(bool)


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return mask.astype(bool)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def _resize(img: np.ndarray, r: int) -> np.ndarray:
    return img if img.shape[0] == r else cv2.resize(img, (r, r), interpolation=cv2.INTER_AREA)


def frame_input(composite: np.ndarray, mask: np.ndarray, cavity: np.ndarray, net_size: int,
                blank_holes: bool = True) -> FrameInput:
    """composite [S,S,3] uint8 (coarse face over the background crop), mask/cavity [S,S] bool. `blank_holes`
    False: the eye holes already hold another moment's real eyes (backend.render.inlays), kept."""
    s = composite.shape[0]
    hull = fill_holes(mask)
    holes = hull & ~mask
    coarse = composite.copy()
    if blank_holes:
        # the composite's feather blends the background a few px inside the silhouette: blank a margin too
        coarse[_dilate(holes, max(1, round(0.02 * s)))] = 0
    region = _dilate(holes | cavity, max(1, round(0.03 * s)))
    planes = np.concatenate([_resize(coarse, net_size).transpose(2, 0, 1),
                             np.stack([_resize(m.astype(np.uint8) * 255, net_size) for m in (hull, cavity, holes)])])
    area = float(s * s)
    return FrameInput(coarse=coarse, planes=planes, region=_resize(region.astype(np.uint8), net_size) > 0,
                      key_extra=np.array([cavity.sum() / area, holes.sum() / area], np.float32))


def key_vector(expression: np.ndarray, pose: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Raw (unscaled) memory key of frames: [T, E + 3 + 2] = expression, rotation (degrees), openness."""
    return np.concatenate([np.asarray(expression, np.float32), np.degrees(np.asarray(pose, np.float32)[:, :3]),
                           np.asarray(extra, np.float32)], axis=1)
