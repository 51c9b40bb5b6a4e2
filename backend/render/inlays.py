"""Eyes and mouth interior from the target's own frames, warped into the render's holes.

The face mesh has holes at the eyes, and the mouth cavity behind the inner lips is a three-colour proxy.
Left alone, the eye holes show the matched background frame's eyes (its blinks, at its head position: on a
head turn they double or go hollow) and the mouth shows no teeth. Here each region is filled from a real
frame of the clip whose region has the shape being rendered:

- keys: the region's outline (eye opening, inner-lip ring) in head-local millimetres from the expression
  alone, so a blink finds a closed eye and an open vowel an open mouth, plus the head rotation (what of the
  eyeball and teeth a view shows), weighted by ROTATION_MM_PER_DEG;
- values: the real frame's face crop and its *tracked* outline (where the region really is in the picture);
- read: the nearest frame (top-1; a blend of several would ghost teeth and irises) is warped by the
  least-squares similarity from its tracked outline onto the rendered one and blended inside the rendered
  outline, grown by a small margin so the real lid and lip edges meet the rendered skin;
- temporal hysteresis: the previous pick is kept while it stays within HYSTERESIS of the best, so nearly
  equal neighbours do not flicker.

The memory is at most MEMORY_FRAMES frames chosen by farthest-point sampling of the keys over the clip's
valid frames (the spread of openings and views, not the most common one). It is the refiner's memory idea
(backend.render.refine.memory) without a network: geometry keys, appearance values of this person.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from backend.face.landmarks import EYE_OPENINGS
from backend.face.model import FaceModel
from backend.render.mouth import MOUTH_RING
from backend.render.pasteback import crop_points, cv_affine

REGIONS: dict[str, np.ndarray] = {"eye_left": EYE_OPENINGS[0], "eye_right": EYE_OPENINGS[1], "mouth": MOUTH_RING}
MEMORY_FRAMES = 128
ROTATION_MM_PER_DEG = 0.15  # a 10 degree view change counts as much as a 1.5 mm change of the outline
HYSTERESIS = 1.15  # keep the previous pick while its distance is within this factor of the best
GROW = 0.012  # blend margin around the rendered outline, as a fraction of the crop side
FEATHER = 0.008  # blur of the blend alpha, fraction of the crop side


@dataclass
class InlayFrame:
    """Where this output frame's regions are: the rendered outlines [R,L,2] in crop px, and its keys."""

    outlines: dict[str, np.ndarray]
    keys: dict[str, np.ndarray]


def region_keys(model: FaceModel, expression: np.ndarray, pose: np.ndarray) -> dict[str, np.ndarray]:
    """Raw keys per region [T, 2L+2]: outline relative to its centre (mm, x-y) and rotation (scaled degrees)."""
    local = model.shape(np.asarray(expression, np.float32))  # [T,V,3] metres, head-local
    rot = np.degrees(np.asarray(pose, np.float32)[:, :2]) * ROTATION_MM_PER_DEG  # pitch, yaw
    keys = {}
    for name, loop in REGIONS.items():
        xy = local[:, loop, :2] * 1000.0
        xy = xy - xy.mean(1, keepdims=True)
        keys[name] = np.concatenate([xy.reshape(len(xy), 2 * len(loop)), rot], 1).astype(np.float32)
    return keys


def farthest_points(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of `count` rows of `points` spread over their range (greedy farthest-point sampling)."""
    n = len(points)
    if n <= count:
        return np.arange(n)
    chosen = [int(np.argmin(((points - points.mean(0)) ** 2).sum(1)))]
    dist = ((points - points[chosen[0]]) ** 2).sum(1)
    for _ in range(count - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((points - points[nxt]) ** 2).sum(1))
    return np.sort(np.asarray(chosen))


def choose_memory(model: FaceModel, expression: np.ndarray, pose: np.ndarray, valid: np.ndarray,
                  count: int = MEMORY_FRAMES) -> np.ndarray:
    """Clip frames to keep as the memory: valid frames spread over every region's key."""
    ok = np.flatnonzero(np.asarray(valid, bool))
    if len(ok) == 0:
        return ok
    keys = region_keys(model, expression[ok], pose[ok])
    joined = np.concatenate([k / (k.std(0).mean() + 1e-6) for k in keys.values()], 1)
    return ok[farthest_points(joined, count)]


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The least-squares similarity [2,3] taking points src [N,2] onto dst [N,2] (Umeyama, no reflection)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    var = float((a ** 2).sum())
    if var < 1e-9:
        return np.array([[1.0, 0.0, md[0] - ms[0]], [0.0, 1.0, md[1] - ms[1]]])
    cov = b.T @ a / len(a)
    u, s, vt = np.linalg.svd(cov)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    scale = float((s * np.diag(d)).sum() / (var / len(a)))
    t = md - scale * r @ ms
    return np.concatenate([scale * r, t[:, None]], 1)


class Inlays:
    """The memory of real eyes and mouths, and its read into rendered crops. Stateful (the hysteresis):
    one instance per video, frames in order."""

    def __init__(self, model: FaceModel, crops: np.ndarray, expression: np.ndarray, pose: np.ndarray,
                 landmarks_crop: np.ndarray, frame_ids: np.ndarray | None = None) -> None:
        """crops [M,S,S,3] uint8 real crops of the memory frames, expression [M,K], pose [M,6] their fitted
        tracks, landmarks_crop [M,468+,2] their tracked landmarks in crop px, frame_ids [M] their clip frames
        (for `avoid`; default 0..M-1)."""
        self.model = model
        pts = np.asarray(landmarks_crop, np.float32)[..., :2]
        size = crops.shape[1] if len(crops) else 0
        # a frame whose tracked outlines are degenerate or leave the crop cannot show its eyes and mouth
        ok = np.ones(len(pts), bool)
        for loop in REGIONS.values():
            ring = pts[:, loop]
            ok &= (np.ptp(ring[..., 0], axis=1) > 2.0) & (ring.min((1, 2)) >= 0) & (ring.max((1, 2)) <= size)
        self.crops = np.asarray(crops, np.uint8)[ok]
        self.frame_ids = (np.arange(len(pts)) if frame_ids is None else np.asarray(frame_ids))[ok]
        expression, pose, pts = np.asarray(expression)[ok], np.asarray(pose)[ok], pts[ok]
        raw = region_keys(model, expression, pose)
        self.scale = {k: float(v.std(0).mean() + 1e-6) if len(v) else 1.0 for k, v in raw.items()}
        self.keys = {k: v / self.scale[k] for k, v in raw.items()}
        self.outlines = {k: pts[:, loop] for k, loop in REGIONS.items()}
        self.previous: dict[str, int] = {}
        self.picks: dict[str, list[int]] = {k: [] for k in REGIONS}

    @classmethod
    def from_fit(cls, model: FaceModel, fit: dict[str, np.ndarray], memory: np.ndarray, crops: np.ndarray,
                 affines: np.ndarray) -> Inlays:
        """The memory of clip frames `memory` from a profile's fit: crops [M,S,S,3] their real crops cut with
        affines [N,2,3] (every clip frame's crop placement); their tracked landmarks moved into crop px."""
        pts = (np.stack([crop_points(fit["landmarks"][j, :, :2], affines[j]) for j in memory]) if len(memory)
               else np.zeros((0, fit["landmarks"].shape[1], 2), np.float32))
        return cls(model, crops, fit["expression"][memory], fit["pose"][memory], pts, frame_ids=memory)

    def __len__(self) -> int:
        return len(self.crops)

    def frames(self, expression: np.ndarray, pose: np.ndarray, vertices_crop: np.ndarray) -> list[InlayFrame]:
        """Per output frame of a batch: vertices_crop [B,V,2] the rendered vertices in crop px."""
        if not len(self):
            return [InlayFrame(outlines={}, keys={}) for _ in range(len(expression))]
        keys = region_keys(self.model, expression, pose)
        return [InlayFrame(outlines={k: vertices_crop[b, loop] for k, loop in REGIONS.items()},
                           keys={k: keys[k][b] / self.scale[k] for k in REGIONS}) for b in range(len(expression))]

    def pick(self, name: str, key: np.ndarray, avoid: int | None = None, radius: int = 0) -> int:
        """The memory frame for this region's key; `avoid`: a clip frame whose neighbours within `radius`
        are never returned (training the refiner: its input must show another moment's eyes)."""
        d = np.sqrt(((self.keys[name] - key) ** 2).sum(1))
        if avoid is not None:
            near = np.abs(self.frame_ids - avoid) <= radius
            if not near.all():
                d = np.where(near, np.inf, d)
        best = int(np.argmin(d))
        prev = self.previous.get(name)
        if prev is not None and np.isfinite(d[prev]) and d[prev] <= HYSTERESIS * d[best] + 1e-6:
            best = prev
        self.previous[name] = best
        self.picks[name].append(best)
        return best

    def apply(self, crop: np.ndarray, frame: InlayFrame, avoid: int | None = None, radius: int = 0) -> np.ndarray:
        """The crop [S,S,3] uint8 with each region filled from its memory frame (`avoid`: see `pick`)."""
        if not len(self):
            return crop
        s = crop.shape[0]
        out = crop.astype(np.float32)
        grow = max(1, round(GROW * s))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        for name in REGIONS:
            dst = frame.outlines[name]
            j = self.pick(name, frame.keys[name], avoid, radius)
            region = np.zeros((s, s), np.uint8)
            # points are continuous pixel coordinates (docs in backend.render.pasteback); OpenCV takes indices
            cv2.fillPoly(region, [np.round((dst - 0.5) * 4).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=2)
            if cv2.contourArea(dst.astype(np.float32)) < 1.0 or not region.any():  # closed: lids or lips cover it
                continue
            x0, y0 = np.floor(dst.min(0)).astype(int) - 3 * grow
            x1, y1 = np.ceil(dst.max(0)).astype(int) + 3 * grow
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, s), min(y1, s)
            if x1 <= x0 or y1 <= y0:
                continue
            warp = cv_affine(similarity(self.outlines[name][j], dst))
            warp[:, 2] -= (x0, y0)  # warp straight into the box
            patch = cv2.warpAffine(self.crops[j], warp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
            alpha = cv2.dilate(region[y0:y1, x0:x1], kernel).astype(np.float32)
            alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, FEATHER * s))[..., None]
            box = out[y0:y1, x0:x1]
            out[y0:y1, x0:x1] = alpha * patch + (1 - alpha) * box
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
