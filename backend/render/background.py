"""Key-frame background matching (Yi et al. 2020, section 3.4) and compositing the face over it.

A rendered face needs a body and a background that move with it. Following the paper:

1. key frames: frames of the new tracks where a head-rotation channel reaches its extreme (max or min)
   within a short window (default +-1 s), plus the first and last frame;
2. each key frame is matched to the target-clip frame whose head pose is closest (among near-equal poses,
   the one that does not make the background race from the previous key's match);
3. between key frames the source (background) frame index is interpolated linearly, so the background
   plays forward or backward smoothly instead of jumping;

   Steps 2-3 alone made the torso judder on real clips (about half the output played backwards, holds of
   10 frames, jumps of 4-6 clip frames, see docs/render.md). `plan_background` therefore chooses the source
   frames by a Viterbi path over (clip frame, playback direction) instead (`plan_playback`): every output
   frame pays its pose mismatch, and the playback pays for holding, racing, running backwards and turning
   round, so the background plays forward at real speed unless the pose gain is worth more. Key frames
   stay in the plan (reported; `method="keyframes"` keeps the old path for comparison);
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
# Playback costs of `plan_playback`, in degrees of pose mismatch per output frame. Forward at real speed
# (+1 clip frame per output frame) is free; the pose mismatch the adjust step absorbs is a few degrees.
HOLD_COST_DEG = 6.0  # showing the same clip frame again (a still torso for one more frame)
FAST_COST_DEG = 1.0  # skipping one clip frame (+2 or -2: playback at double speed)
BACKWARD_COST_DEG = 3.0  # each frame played backwards (blinks and breaths run in reverse)
TURN_COST_DEG = 60.0  # reversing direction (the torso visibly bounces)


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


# (step in clip frames, cost) per playback direction; index 0 = forward, 1 = backward
_STEPS = (((1, 0.0), (2, FAST_COST_DEG), (0, HOLD_COST_DEG)),
          ((-1, BACKWARD_COST_DEG), (-2, BACKWARD_COST_DEG + FAST_COST_DEG), (0, HOLD_COST_DEG)))


def plan_playback(pose: np.ndarray, clip_pose: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Source clip frame for each output frame [T,6]: the path through clip frames minimising the summed
    pose distance plus the playback costs above (Viterbi over N clip frames x 2 directions, O(T N))."""
    d = pose_distance(np.asarray(pose, np.float64)[:, None], np.asarray(clip_pose, np.float64)[None])
    if allowed is not None and np.any(allowed):
        d[:, ~np.asarray(allowed, bool)] = 1e9
    t_count, n = d.shape
    cost = np.stack([d[0], d[0] + BACKWARD_COST_DEG])  # [2,N]: best cost ending at (direction, frame)
    back = np.zeros((t_count, 2, n), dtype=np.int64)  # predecessor as direction * n + frame
    frames = np.arange(n)
    for t in range(1, t_count):
        new = np.full((2, n), np.inf)
        arg = np.zeros((2, n), dtype=np.int64)
        for direction in (0, 1):
            for step, step_cost in _STEPS[direction]:
                prev = frames - step  # arriving at frame f by `step` from f - step
                ok = (prev >= 0) & (prev < n)
                for came in (0, 1):  # the direction the previous frame was played in
                    turn = TURN_COST_DEG if came != direction else 0.0
                    c = np.full(n, np.inf)
                    c[ok] = cost[came, prev[ok]] + step_cost + turn
                    better = c < new[direction]
                    new[direction][better] = c[better]
                    arg[direction][better] = came * n + prev[better]
        cost = new + d[t][None]
        back[t] = arg
    state = int(np.argmin(cost))
    out = np.zeros(t_count, dtype=np.int64)
    for t in range(t_count - 1, -1, -1):
        out[t] = state % n
        state = int(back[t, state // n, state % n])
    return out


def playback_stats(source: np.ndarray) -> dict[str, float]:
    """Judder of a background plan, per 100 output frames: `reversals` (the playback direction flips),
    `holds` (one clip frame shown 3+ frames running), `jumps` (a step of 3+ clip frames), plus the longest
    hold, the largest jump and the fraction of frames played backwards."""
    s = np.asarray(source, np.int64)
    steps = np.diff(s)
    moving = np.sign(steps[steps != 0])
    reversals = int(np.count_nonzero(np.diff(moving))) if len(moving) > 1 else 0
    runs, run = [], 1
    for step in steps:
        if step == 0:
            run += 1
        else:
            runs.append(run)
            run = 1
    runs.append(run)
    holds = sum(1 for r in runs if r >= 3)
    per = 100.0 / max(1, len(s))
    return {"reversals_per_100": round(reversals * per, 2), "holds_per_100": round(holds * per, 2),
            "jumps_per_100": round(int(np.count_nonzero(np.abs(steps) >= 3)) * per, 2),
            "longest_hold": int(max(runs)), "largest_jump": int(np.abs(steps).max()) if len(steps) else 0,
            "backward_fraction": round(float(np.mean(steps < 0)) if len(steps) else 0.0, 3)}


def plan_background(pose: np.ndarray, clip_pose: np.ndarray, fps: float, valid: np.ndarray | None = None,
                    window_s: float = WINDOW_S, method: str = "playback") -> BackgroundPlan:
    """The whole matching: key frames of `pose` [T,6], per-frame source clip frame and adjusted pose.
    `method`: "playback" (the Viterbi path, default) or "keyframes" (key matches + linear interpolation)."""
    pose = np.asarray(pose, dtype=np.float64)
    keys = key_frames(pose[:, :3], round(window_s * fps))
    if method == "keyframes":
        matched = match_key_frames(keys, pose[keys], clip_pose, valid)
        source = interpolate_source(len(pose), keys, matched)
    elif method == "playback":
        source = plan_playback(pose, clip_pose, valid)
        matched = source[keys]
    else:
        raise ValueError(f"unknown background method {method!r}")
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
