"""overlay.mp4: the fitted mesh (wireframe) and the tracked landmarks drawn over the frames."""

from __future__ import annotations

import cv2
import numpy as np

EDGE_COLOUR = (80, 220, 255)
LANDMARK_COLOUR = (255, 60, 60)


def unique_edges(triangles: np.ndarray) -> np.ndarray:
    e = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def draw_overlay(rgb: np.ndarray, projected: np.ndarray, edges: np.ndarray, landmarks: np.ndarray,
                 scale: float = 1.0) -> np.ndarray:
    """Draw the fitted mesh edges and landmarks (both [N,2] px in the original frame) onto a scaled frame."""
    out = rgb.copy()
    pts = np.round(projected * scale * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    lines = [np.stack([pts[a], pts[b]]) for a, b in edges]
    cv2.polylines(out, lines, False, EDGE_COLOUR, 1, cv2.LINE_AA, shift=2)
    for x, y in np.round(landmarks * scale * 4).astype(np.int32):
        cv2.circle(out, (int(x), int(y)), 4, LANDMARK_COLOUR, -1, cv2.LINE_AA, shift=2)
    return out
