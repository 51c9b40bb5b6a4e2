"""Key-frame background matching (Yi et al. 2020, section 3.4) and compositing the face over it.

A rendered face needs a body and a background that move with it. Following the paper:

1. key frames: frames of the new tracks where a head-rotation channel reaches its extreme (max or min)
   within a short window (default +-1 s), plus the first and last frame;
2. each key frame is matched to the target-clip frame whose head pose is closest (among near-equal poses,
   the one that does not make the background race from the previous key's match);
3. between key frames the source (background) frame index is interpolated linearly, so the background
   plays forward or backward smoothly instead of jumping;
4. each frame's pose is pulled toward its background frame's pose (translation fully, rotation part way
   and never more than a few degrees apart) so the head stays attached to the torso it is drawn on;
5. the rendered face is composited over the background crop with a feathered mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WINDOW_S = 1.0  # half-width of the window in which an orientation extreme makes a key frame
ROTATION_WEIGHT = 0.5  # how far the rendered rotation moves toward the background's (0: none, 1: all)
MAX_ROTATION_GAP_DEG = 6.0  # the rendered head never turns further than this from its background's head
TRANSLATION_WEIGHT_DEG = 0.5  # matching cost: degrees of rotation worth one degree of image-plane offset
# Background playback faster than this (clip frames per output frame) between key frames makes the torso
# race; each unit of speed above it costs as much as this many degrees of pose mismatch.
MAX_SPEED = 2.0
SPEED_COST_DEG = 0.5


@dataclass
class BackgroundPlan:
    """Which clip frame backs each output frame, and the pose to render there."""

    keys: np.ndarray  # [K] key frames of the output
    matched: np.ndarray  # [K] the clip frame matched to each key frame
    source: np.ndarray  # [T] clip frame index behind each output frame
    pose: np.ndarray  # [T,6] adjusted pose to render


def key_frames(rotation: np.ndarray, window: int) -> np.ndarray:
    """Frames where any rotation channel of [T,C] is the max or min of its +-`window` neighbourhood.

    Ties (flat stretches) count once, at their first frame. The first and last frames are always keys.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    t = len(rotation)
    keys = {0, t - 1}
    w = max(1, int(window))
    for c in range(rotation.shape[1]):
        x = rotation[:, c]
        for i in range(1, t - 1):
            lo, hi = max(0, i - w), min(t, i + w + 1)
            seg = x[lo:hi]
            if seg.max() == seg.min():
                continue  # a perfectly flat window has no extreme
            # extreme of its window, and not a continuation of a flat run (first of equal values)
            if int(np.argmax(seg)) + lo == i or int(np.argmin(seg)) + lo == i:
                keys.add(i)
    return np.array(sorted(keys), dtype=np.int64)


def pose_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (degrees) between poses a [...,6] and b [...,6]: rotation difference plus image-plane offset."""
    rot = np.degrees(np.linalg.norm(a[..., :3] - b[..., :3], axis=-1))
    # Translation as the direction to the head (x/z, y/z), i.e. where it sits in the picture.
    da = a[..., 3:5] / np.abs(a[..., 5:6]).clip(1e-6)
    db = b[..., 3:5] / np.abs(b[..., 5:6]).clip(1e-6)
    return rot + TRANSLATION_WEIGHT_DEG * np.degrees(np.linalg.norm(da - db, axis=-1))


def match_frames(query: np.ndarray, clip_pose: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """For each query pose [K,6], the index of the clip frame [N,6] with the closest pose (among `allowed`)."""
    d = pose_distance(np.asarray(query, np.float64)[:, None], np.asarray(clip_pose, np.float64)[None])
    if allowed is not None and np.any(allowed):
        d[:, ~np.asarray(allowed, bool)] = np.inf
    return np.argmin(d, axis=1).astype(np.int64)


def match_key_frames(keys: np.ndarray, query: np.ndarray, clip_pose: np.ndarray,
                     allowed: np.ndarray | None = None) -> np.ndarray:
    """`match_frames` for key frames in order, with a penalty on background playback faster than MAX_SPEED
    from the previous key's match: among near-equal poses the one that keeps the torso calm wins."""
    d = pose_distance(np.asarray(query, np.float64)[:, None], np.asarray(clip_pose, np.float64)[None])
    if allowed is not None and np.any(allowed):
        d[:, ~np.asarray(allowed, bool)] = np.inf
    out = np.zeros(len(keys), dtype=np.int64)
    candidates = np.arange(d.shape[1])
    for k in range(len(keys)):
        cost = d[k]
        if k > 0:
            speed = np.abs(candidates - out[k - 1]) / max(1, keys[k] - keys[k - 1])
            cost = cost + SPEED_COST_DEG * np.maximum(0.0, speed - MAX_SPEED)
        out[k] = int(np.argmin(cost))
    return out


def interpolate_source(count: int, keys: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """Clip frame index for every output frame: linear between key frames, rounded to the nearest frame."""
    return np.rint(np.interp(np.arange(count), keys, matched)).astype(np.int64)


def adjust_pose(pose: np.ndarray, background_pose: np.ndarray, rotation_weight: float = ROTATION_WEIGHT,
                max_gap_deg: float = MAX_ROTATION_GAP_DEG) -> np.ndarray:
    """Pull each pose toward its background frame's pose: translation taken from the background (the head
    must sit on that torso), rotation moved `rotation_weight` of the way and clamped to `max_gap_deg`."""
    pose = np.asarray(pose, dtype=np.float64)
    bg = np.asarray(background_pose, dtype=np.float64)
    gap = (1 - rotation_weight) * (pose[:, :3] - bg[:, :3])
    limit = np.radians(max_gap_deg)
    gap = np.clip(gap, -limit, limit)
    return np.concatenate([bg[:, :3] + gap, bg[:, 3:]], axis=1).astype(np.float32)


def plan_background(pose: np.ndarray, clip_pose: np.ndarray, fps: float, valid: np.ndarray | None = None,
                    window_s: float = WINDOW_S) -> BackgroundPlan:
    """The whole matching: key frames of `pose` [T,6], their clip matches, per-frame source and pose."""
    pose = np.asarray(pose, dtype=np.float64)
    keys = key_frames(pose[:, :3], round(window_s * fps))
    matched = match_key_frames(keys, pose[keys], clip_pose, valid)
    source = interpolate_source(len(pose), keys, matched)
    return BackgroundPlan(keys=keys, matched=matched, source=source,
                          pose=adjust_pose(pose, np.asarray(clip_pose)[source]))


def feather_mask(mask: np.ndarray, feather_px: float) -> np.ndarray:
    """Bool mask [H,W] -> float alpha [H,W] in [0,1]: eroded by ~feather_px/2 and blurred, so the blend
    ramp lies just inside the rendered silhouette (no background halo around the face)."""
    m = np.asarray(mask, dtype=np.uint8)
    if feather_px <= 0:
        return m.astype(np.float32)
    r = max(1, round(feather_px / 2))
    m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return cv2.GaussianBlur(m.astype(np.float32), (0, 0), sigmaX=feather_px / 3.0)


def composite(face: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Alpha-blend face [H,W,3] (float 0..1 or uint8) over background [H,W,3] uint8 -> uint8."""
    f = face.astype(np.float32) * (255.0 if face.dtype != np.uint8 else 1.0)
    a = alpha[..., None].astype(np.float32)
    out = a * f + (1 - a) * background.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
