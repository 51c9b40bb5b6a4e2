"""Named MediaPipe FaceMesh landmark indices used across the project (468-point mesh + 10 iris points)."""

from __future__ import annotations

import numpy as np

N_MESH = 468
N_TRACKED = 478  # refine_landmarks=True adds 10 iris points (468-477)

LEFT_EYE_OUTER = 33  # image-left eye (the subject's right eye), outer corner
RIGHT_EYE_OUTER = 263
EYE_CORNERS = (33, 133, 362, 263)

# Points that barely move with expression: forehead/nose midline, forehead sides, eye corners (design.md 5b).
STABLE = np.array([10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 109, 338, 67, 297, 33, 133, 362, 263])

# Inner lip contour, left to right; upper/lower pairs face each other across the mouth opening.
INNER_LIP_UPPER = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308])
INNER_LIP_LOWER = np.array([78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308])
MOUTH_PAIRS = np.array([[80, 88], [81, 178], [82, 87], [13, 14], [312, 317], [311, 402], [310, 318]])
OUTER_LIPS = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146])
# Eye openings (MediaPipe's FACEMESH_LEFT_EYE / RIGHT_EYE edges chained into loops): where the mask has holes.
EYE_OPENINGS = (np.array([374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466, 263, 249, 390, 373]),
                np.array([154, 155, 133, 173, 157, 158, 159, 160, 161, 246, 33, 7, 163, 144, 145, 153]))
MOUTH = np.unique(np.concatenate([INNER_LIP_UPPER, INNER_LIP_LOWER, OUTER_LIPS]))

# Standard metric distance between the outer eye corners used to normalise every identity (metres).
IOD_METRES = 0.09


def inter_ocular(points: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners for [..., N, D] points."""
    return np.linalg.norm(points[..., RIGHT_EYE_OUTER, :] - points[..., LEFT_EYE_OUTER, :], axis=-1)
