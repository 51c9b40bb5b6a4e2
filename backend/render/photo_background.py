"""The background of a video made from one photo: the photo itself, the head moving with the tracks.

A clip profile gets its backgrounds by key-frame matching (backend.render.background); a photo has a
single frame. Its head region (face, hair, ears: the face's outline grown sideways and upward) is cut
out as a soft layer and moved every frame by the 2D similarity that best maps the face's stable points
from the photo's pose to the frame's pose; behind it, a plate where that region is inpainted from its
surroundings (OpenCV's Telea inpainting at reduced size, so the fill is smooth colour, not smeared
texture) shows wherever the head has moved away. The rendered face is then composited over it as for a
clip. Out-of-plane turns are only approximated by the 2D move: docs/render.md says how far the head may
turn before that shows.
"""

from __future__ import annotations

import cv2
import numpy as np

from backend.core.errors import UserError
from backend.face.landmarks import EYE_OPENINGS
from backend.face.model import FaceModel
from backend.face.posing import posed_vertices_np, project_np
from backend.face.profile import Profile
from backend.render.background import BackgroundPlan

# Points that move rigidly with the skull (nose bridge, eye corners, forehead), for the 2D head motion.
STABLE = np.array([1, 4, 5, 6, 9, 10, 151, 168, 197, 33, 133, 362, 263, 70, 300, 105, 334])
HEAD_GROW_X = 1.45  # the head layer's width relative to the face outline's (ears, hair at the sides)
HEAD_GROW_UP = 0.6  # and its extra height above the face, relative to the face's height (hair)
INPAINT_SIDE = 192  # inpaint at this size: a smooth, plausible fill, fast on a CPU
FEATHER = 0.06  # head-layer edge softness relative to the face height


class PhotoBackground:
    """Per-frame full-resolution backgrounds for a photo profile."""

    def __init__(self, profile: Profile, model: FaceModel, fit: dict[str, np.ndarray]) -> None:
        bgr = cv2.imread(str(profile.path / str(profile.manifest["source"].get("photo", "photo.png"))))
        if bgr is None:
            raise UserError(f"photo profile {profile.path} has no readable photo.png",
                            hint="re-run `talking-head analyze PHOTO` into this profile")
        self.photo = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self.model, self.camera = model, fit["camera"]
        self.rest = self._project(fit["pose"][0])
        face_pts = self.rest.astype(np.float32)
        hull = cv2.convexHull(face_pts).reshape(-1, 2)
        self.alpha = self._head_alpha(hull)
        self.plate = self._fill(self.photo, self.alpha > 0.02)
        self.head = self._fill(self.photo, self._face_without_eyes(hull))

    def _face_without_eyes(self, hull: np.ndarray) -> np.ndarray:
        """Where the moving head layer drops the photo's own face: the face hull, except the eye openings.
        Where a turned face no longer covers the hull, the fill from hair, ears and neck shows instead of a
        second, old face (docs/render.md); the eyes stay, because the mask has holes there and the photo's
        own eyes are what shows through them."""
        face = np.zeros(self.photo.shape[:2], np.uint8)
        cv2.fillConvexPoly(face, hull.astype(np.int32), 1)
        face = cv2.dilate(face, np.ones((5, 5), np.uint8))
        for loop in EYE_OPENINGS:
            eye = self.rest[loop].astype(np.float32)
            grow = max(2, round(0.15 * float(np.ptp(eye[:, 0]))))  # a margin: the lids move with a blink
            hole = np.zeros_like(face)
            cv2.fillPoly(hole, [eye.astype(np.int32)], 1)
            face[cv2.dilate(hole, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0] = 0
        return face > 0

    def _project(self, pose: np.ndarray) -> np.ndarray:
        verts = posed_vertices_np(self.model.vertices, self.model.basis, np.zeros((1, self.model.n_expr)),
                                  np.asarray(pose, np.float64)[None])[0]
        return project_np(verts, self.camera)

    def _head_alpha(self, hull: np.ndarray) -> np.ndarray:
        h, w = self.photo.shape[:2]
        lo, hi = hull.min(0), hull.max(0)
        centre, height = 0.5 * (lo + hi), float(hi[1] - lo[1])
        grown = hull.astype(np.float64).copy()
        top = grown[:, 1] < centre[1]  # the upper half grows sideways (ears, hair) and upward (hair)
        grown[top, 0] = centre[0] + HEAD_GROW_X * (grown[top, 0] - centre[0])
        grown[top, 1] = centre[1] + (1 + 2 * HEAD_GROW_UP) * (grown[top, 1] - centre[1])
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(grown.astype(np.int32)), 255)
        sigma = max(1.0, FEATHER * height)
        alpha = np.clip(cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma) * 1.3, 0, 1)
        # below the chin the neck and body stay where they are: the layer fades out over the jaw
        y = np.arange(h, dtype=np.float64)[:, None]
        fade = np.clip((hi[1] - y) / max(1.0, 0.12 * height), 0.0, 1.0)
        return (alpha * fade).astype(np.float32)

    @staticmethod
    def _fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """`image` with the `hole` region filled from its surroundings."""
        h, w = image.shape[:2]
        s = min(1.0, INPAINT_SIDE / max(h, w))
        small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(hole.astype(np.uint8) * 255, small.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
        filled = cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA)
        fill = cv2.GaussianBlur(cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 2.0)
        a = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), 2.0)[..., None]
        return (image * (1 - a) + fill * a).astype(np.uint8)

    def head_motion(self, pose: np.ndarray) -> np.ndarray:
        """[2,3] similarity moving the photo's head to where `pose` puts it."""
        m, _ = cv2.estimateAffinePartial2D(self.rest[STABLE].astype(np.float32),
                                           self._project(pose)[STABLE].astype(np.float32))
        return m if m is not None else np.array([[1, 0, 0], [0, 1, 0]], np.float64)

    def frame(self, pose: np.ndarray) -> np.ndarray:
        """[H,W,3] uint8 background for a frame rendered at `pose`."""
        h, w = self.photo.shape[:2]
        m = self.head_motion(pose)
        head = cv2.warpAffine(self.head, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        a = cv2.warpAffine(self.alpha, m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
        return (self.plate * (1 - a) + head * a + 0.5).astype(np.uint8)


def photo_plan(pose: np.ndarray) -> BackgroundPlan:
    """Every output frame is backed by the one photo and rendered at its own pose."""
    n = len(pose)
    return BackgroundPlan(keys=np.array([0, max(0, n - 1)]), matched=np.zeros(2, np.int64),
                          source=np.zeros(n, np.int64), pose=np.asarray(pose, np.float32))
