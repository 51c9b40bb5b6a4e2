"""A motion prior that needs no training data: speech -> expression, head pose and blinks by rule.

Used for photo profiles (one frame says nothing about how the person moves) and whenever no general
motion checkpoint exists. Three parts, each from what is known about talking faces rather than learned:

- **mouth**: the phone decoder's articulatory values (backend.motion.phonetics: jaw opening, rounding,
  spreading, lip closure, lip-teeth contact per 10 ms) are turned into mouth shapes of the shared basis.
  Each shape is a least-squares solve on the person's own identity: the basis coefficients whose
  displacement best matches a geometric target (the jaw dropping, the corners drawing in and the lips
  pushing forward, the corners pulled out, the inner lips meeting, the lower lip raised to the teeth), the
  upper face asked to stay still. Coarticulation: the lips lead the sound (ANTICIPATION_S) and blend over
  neighbouring phones (Gaussian), while closures (p b m) dominate their neighbours so the lips really meet
  even on a 60 ms /b/. The jaw opening is scaled by loudness (louder syllables open wider).
- **head**: prosody drives it: a short nod on stressed syllables (loudness peaks that stand out from
  their neighbours), a slow sway (band-limited noise per axis) that is larger while speaking and almost
  still in pauses.
- **blinks**: backend.motion.blinks at population rate and duration, nudged toward pauses, written as the
  tracks' `blink` layer.

Amplitudes are set so the statistics (mouth-opening std, head-rotation std per axis, blink rate) fall
within those measured on the real clips of shared/data/video (docs/motion.md, "The motion prior").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from backend.core.progress import QUIET, Progress
from backend.core.tracks import Layer
from backend.motion import features
from backend.motion.blinks import POPULATION, blink_shape_from_basis, generate_blinks, with_blink_layer
from backend.motion.clock import FEATURE_RATE
from backend.motion.phonetics import ARTICULATORY, PhoneticDecode

MM = 1e-3
# Geometric targets of the mouth shapes at full strength (head-local metres; x right, y up, z forward).
JAW_DROP_M = 10 * MM  # lower lip and chin at a wide-open "aa"
ROUND_IN = 0.28  # share of the mouth half-width the corners draw in for "oo"
ROUND_FORWARD_M = 5 * MM
SPREAD_OUT = 0.14  # share of the half-width the corners pull out for "ee"
LABIO_UP_M = 3 * MM  # lower lip up to the upper teeth for f/v
RIDGE = 0.1  # keeps the shapes within what the basis learnt from real faces (no extreme coefficients)
ANTICIPATION_S = 0.04  # the lips reach a shape slightly before it is heard
COARTICULATION_S = 0.035  # sigma of the blend between neighbouring phones
CLOSURE_S = 0.02  # closures are blended less and dominate (a /b/ must close the lips)
PAUSE_CLOSURE = 0.7  # in pauses the lips relax toward closed (from the rest face, which may be parted)
PAUSE_S = 0.08  # how fast they get there
LOUDNESS_FLOOR = 0.3  # jaw opening on the quietest voiced frame relative to the loudest
# Head: degrees (pitch = nod, yaw = turn, roll = tilt).
SWAY_DEG = np.array([2.4, 2.6, 1.3])  # std of the slow sway while speaking, per axis
SWAY_S = 0.7  # sigma of the sway's smoothing (its time scale)
PAUSE_SHARE = 0.3  # sway amplitude in pauses relative to speech
NOD_DEG = 3.0  # a nod's depth on the most stressed syllable
NOD_S = 0.4  # a nod's length
NOD_MIN_GAP_S = 0.6


@dataclass
class MouthShapes:
    """[K] basis coefficients at full strength of each articulatory channel the prior animates."""

    open: np.ndarray
    round: np.ndarray
    spread: np.ndarray
    closed: np.ndarray
    labiodental: np.ndarray


@dataclass
class PriorMotion:
    expression: np.ndarray  # [T, K] with the blinks included
    pose: np.ndarray  # [T, 6]
    layers: dict[str, Layer]
    jaw: np.ndarray  # [T] 0..1 jaw opening the mouth was driven with (for tests and figures)


# MediaPipe FaceMesh ids: inner lips (upper, lower), outer lower lip, mouth corners, chin and jaw.
UPPER_INNER = np.array([13, 82, 81, 80, 191, 312, 311, 310, 415])
LOWER_INNER = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324])
CORNERS = np.array([61, 291, 78, 308])
STILL = np.array([1, 4, 5, 6, 33, 133, 362, 263, 9, 10, 151, 168, 197, 195, 70, 300, 105, 334, 159, 386, 145, 374])


def basis_solve(identity: np.ndarray, basis: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """[K] coefficients whose displacement best matches `target` [V,3] under per-vertex `weight` [V]."""
    k = basis.shape[0]
    w = np.repeat(weight, 3)
    a = basis.reshape(k, -1).T.astype(np.float64) * w[:, None]
    b = target.reshape(-1) * w
    scale = float(np.linalg.norm(a, axis=0).mean()) or 1.0
    return np.linalg.solve(a.T @ a + RIDGE * scale**2 * np.eye(k), a.T @ b).astype(np.float32)


def mouth_shapes(identity: np.ndarray, basis: np.ndarray) -> MouthShapes:
    """The prior's mouth shapes on this identity [V,3] with the shared basis [K,V,3]."""
    v = identity.astype(np.float64)
    corner_y = float(v[CORNERS, 1].mean())
    centre_x = float(v[CORNERS, 0].mean())
    half_width = float(np.abs(v[CORNERS[:2], 0] - centre_x).mean())
    # 0 from the corners up (the upper lip stays with the skull), 1 from the lower lip down (it rides the jaw)
    below = np.clip((corner_y - v[:, 1] + 1 * MM) / (4 * MM), 0.0, 1.0)
    jaw_w = below * below * (3 - 2 * below) * np.exp(-((v[:, 0] - centre_x) / (2.5 * half_width)) ** 2)
    near_mouth = np.exp(-(((v[:, 0] - centre_x) / (1.6 * half_width)) ** 2 + ((v[:, 1] - corner_y) / half_width) ** 2))
    weight = np.zeros(len(v))
    weight[near_mouth > 0.05] = 1.0
    weight[jaw_w > 0.05] = 1.0
    weight[STILL] = 1.0
    lips = np.union1d(UPPER_INNER, LOWER_INNER)

    def solve(target: np.ndarray, w: np.ndarray = weight) -> np.ndarray:
        return basis_solve(v, basis, target, w)

    t = np.zeros_like(v)  # jaw: everything below the mouth drops and slightly back (a rotation's arc)
    t[:, 1] = -JAW_DROP_M * jaw_w
    t[:, 2] = -0.25 * JAW_DROP_M * jaw_w
    jaw = solve(t)
    t = np.zeros_like(v)  # round: lips drawn toward the centre line and pushed forward
    t[:, 0] = -ROUND_IN * (v[:, 0] - centre_x) * near_mouth
    t[:, 2] = ROUND_FORWARD_M * near_mouth
    rnd = solve(t)
    t = np.zeros_like(v)  # spread: lips pulled out sideways, slightly up
    t[:, 0] = SPREAD_OUT * (v[:, 0] - centre_x) * near_mouth
    t[:, 1] = 0.5 * MM * near_mouth
    spread = solve(t)
    t = np.zeros_like(v)  # closed: the inner lips meet at their midpoint
    mid = 0.5 * (v[UPPER_INNER] + v[LOWER_INNER])
    t[UPPER_INNER] = mid - v[UPPER_INNER]
    t[LOWER_INNER] = mid - v[LOWER_INNER]
    w = weight.copy()
    w[lips] = 4.0
    closed = solve(t, w)
    t = np.zeros_like(v)  # lip-teeth: the lower lip rises and tucks back
    t[LOWER_INNER, 1] = LABIO_UP_M + 0.5 * float(np.mean(v[UPPER_INNER, 1] - v[LOWER_INNER, 1]))
    t[LOWER_INNER, 2] = -2 * MM
    labio = solve(t, w)
    return MouthShapes(open=jaw, round=rnd, spread=spread, closed=closed, labiodental=labio)


def _per_frame(values: np.ndarray, n_frames: int, fps: float, shift_s: float = 0.0) -> np.ndarray:
    """[N, C] values on the 100 Hz grid -> [n_frames, C], the mean over each frame's span, read `shift_s` later."""
    c = np.cumsum(np.concatenate([np.zeros((1, values.shape[1])), values]), axis=0)
    t = (np.arange(n_frames + 1) / fps + shift_s) * FEATURE_RATE - 0.5 * FEATURE_RATE / fps
    edges = np.clip(np.round(t).astype(np.int64), 0, len(values))
    lo, hi = edges[:-1], np.maximum(edges[1:], edges[:-1] + 1)
    hi = np.minimum(hi, len(values))
    lo = np.minimum(lo, hi - 1).clip(0)
    return (c[hi] - c[lo]) / np.maximum(hi - lo, 1)[:, None]


def loudness(samples: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """[T] 0..1 loudness of loudness-normalised speech per frame (0 at -50 dBFS and below, 1 at -15)."""
    normalised, _ = features.normalize_loudness(samples)
    db = features.frame_levels_db(normalised)
    return np.clip(_per_frame(((db + 50.0) / 35.0)[:, None], n_frames, fps)[:, 0], 0.0, 1.0)


def articulation(rows: np.ndarray, samples: np.ndarray, n_frames: int, fps: float) -> dict[str, np.ndarray]:
    """Coarticulated [T] curves per channel from the decoder's [N, DIM] rows, the jaw scaled by loudness."""
    idx = {name: i for i, name in enumerate(ARTICULATORY)}
    frames = _per_frame(rows, n_frames, fps, shift_s=ANTICIPATION_S)
    blend = COARTICULATION_S * fps
    closed = np.clip(2.0 * gaussian_filter1d(frames[:, idx["closed"]], CLOSURE_S * fps, mode="nearest"), 0, 1)
    pause = gaussian_filter1d(frames[:, idx["silence"]], PAUSE_S * fps, mode="nearest")
    closed = np.maximum(closed, PAUSE_CLOSURE * pause)
    free = 1.0 - closed  # a closure dominates: the other shapes give way to it
    loud = gaussian_filter1d(loudness(samples, n_frames, fps), 0.02 * fps, mode="nearest")
    curves = {name: gaussian_filter1d(frames[:, idx[name]], blend, mode="nearest")
              for name in ("open", "round", "spread", "labiodental")}
    curves["open"] = curves["open"] * free * (LOUDNESS_FLOOR + (1 - LOUDNESS_FLOOR) * loud)
    curves["round"] *= free
    curves["spread"] *= free
    curves["labiodental"] *= free
    curves["closed"] = closed
    return curves


def stressed_syllables(loud: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(frames, strength 0..1) of loudness peaks that stand out: the stressed syllables."""
    env = gaussian_filter1d(loud, 0.05 * fps, mode="nearest")
    peaks, props = find_peaks(env, prominence=0.12, distance=max(1, int(NOD_MIN_GAP_S * fps)))
    if not len(peaks):
        return peaks, np.zeros(0)
    strength = props["prominences"] / max(float(props["prominences"].max()), 1e-6)
    keep = strength >= 0.35
    return peaks[keep], strength[keep]


def head_motion(loud: np.ndarray, activity: np.ndarray, fps: float, base_pose: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """[T, 6] pose: `base_pose` plus sway (larger while speaking) and nods on stressed syllables."""
    n = len(loud)
    speaking = np.clip(gaussian_filter1d(activity.astype(np.float64), 0.4 * fps, mode="nearest") * 1.5, 0, 1)
    amp = PAUSE_SHARE + (1 - PAUSE_SHARE) * speaking
    pad = int(3 * SWAY_S * fps)  # the filter needs room at the ends, or the sway would flatten there
    noise = gaussian_filter1d(rng.standard_normal((n + 2 * pad, 3)), SWAY_S * fps, axis=0)[pad:pad + n]
    noise /= max(float(noise.std()), 1e-9) if n > 1 else 1.0
    # the noise's std is 1 over the whole clip; scale so speech frames get SWAY_DEG on average
    rot = np.radians(SWAY_DEG)[None] * noise * (amp / max(float(amp.mean()), 1e-6))[:, None]
    t = np.arange(n) / fps
    for peak, s in zip(*stressed_syllables(loud, fps), strict=True):
        start = peak / fps - 0.1 * NOD_S  # the nod starts just before the stressed vowel
        u = np.clip((t - start) / NOD_S, 0.0, 1.0)
        rot[:, 0] += np.radians(NOD_DEG * s) * np.sin(np.pi * u) ** 2 * ((t >= start) & (t <= start + NOD_S))
    pose = np.tile(np.asarray(base_pose, np.float64), (n, 1))
    pose[:, :3] += rot
    return pose.astype(np.float32)


def prior_motion(samples: np.ndarray, fps: float, identity: np.ndarray, basis: np.ndarray, base_pose: np.ndarray,
                 rest: np.ndarray | None = None, seed: int = 0, decode: PhoneticDecode | None = None,
                 progress: Progress = QUIET) -> PriorMotion:
    """16 kHz mono speech -> expression (rest + mouth shapes + blinks), pose and the blink layer at `fps`."""
    progress.stage("audio features")
    feats = features.speech_features(samples, phonetic=True, decode=decode)
    n = features.frame_count(feats.duration_s, fps)
    progress.stage("motion prior")
    shapes = mouth_shapes(identity, basis)
    curves = articulation(feats.phonetic, samples, n, fps)
    k = basis.shape[0]
    expr = np.zeros((n, k), np.float64) if rest is None else np.tile(np.asarray(rest, np.float64), (n, 1))
    for name in ("open", "round", "spread", "closed", "labiodental"):
        expr += curves[name][:, None] * getattr(shapes, name)[None].astype(np.float64)
    activity = feats.frame_activity(n, fps)
    rng = np.random.default_rng(seed)
    pose = head_motion(loudness(samples, n, fps), activity, fps, base_pose, rng)
    weight = generate_blinks(n, fps, POPULATION, seed=seed, activity=activity)
    expr, blink = with_blink_layer(expr.astype(np.float32), weight, blink_shape_from_basis(identity, basis))
    return PriorMotion(expression=expr, pose=pose, layers={"blink": blink}, jaw=curves["open"])
