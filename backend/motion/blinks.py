"""Blinks: measured on the target clip, generated for new speech, kept as their own layer of the tracks.

A person's blinks are three numbers and a shape: how often (blinks per minute), how long (seconds from the
lid starting to close to being open again), and what a closed eye is in the expression basis (`shape`, a
[K] coefficient vector at full closure). `measure_blinks` reads them from the clip's tracked eyelids and
its fitted expressions; `generate_blinks` draws a new, seeded blink track at that rate and duration;
the tracks carry it as `layers["blink"]` (weight per frame times `shape`, docs/formats.md), so the Blender
side can key blinks apart from speech.

Eyelid opening per frame is the mean gap between upper and lower lid landmarks over the eye's width, for
both eyes. A blink is a dip of that opening below its running median (2 s): deeper than `MIN_DEPTH` of the
median, at least `REFRACTORY_S` after the previous one. When a clip shows fewer than `MIN_EVENTS` blinks
(a photo, a short clip) the rate and duration fall back to population values (`POPULATION`) and the shape
to a least-squares solve on the basis: the displacement that brings the upper lids onto the lower lids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.core.tracks import Layer

# MediaPipe FaceMesh upper/lower eyelid pairs and eye corners (image-left eye, then image-right eye).
LID_PAIRS = np.array([[159, 145], [158, 153], [160, 144], [157, 154], [161, 163],
                      [386, 374], [385, 380], [387, 373], [384, 381], [388, 390]])
EYES = ((33, 133, LID_PAIRS[:5]), (362, 263, LID_PAIRS[5:]))
MIN_DEPTH = 0.3  # a blink closes the lid gap by at least this share of its running median
REFRACTORY_S = 0.25  # two dips closer than this are one blink
MIN_EVENTS = 2  # fewer measured blinks than this: population values instead
MEDIAN_S = 2.0  # running-median window for the open-eye baseline
CLOSE_SHARE = 0.35  # a blink closes fast and opens slower (about 1:2)
MIN_GAP_S = 0.5  # the shortest open-eye interval the generator leaves between blinks
PAUSE_SEARCH_S = 0.3  # the generator moves a blink up to this far toward a pause in the speech


@dataclass(frozen=True)
class BlinkStats:
    """How a person blinks: rate, duration (full blink, close + open) and where the numbers came from."""

    rate_per_min: float
    duration_s: float
    source: str
    events: int = 0  # blinks the numbers were measured on (0 for population values)


# Spontaneous blink rate: 17/min at rest and 26/min in conversation (Bentivoglio et al. 1997, Movement
# Disorders 12(6)); a talking head sits between the two. Full-blink duration 0.1-0.4 s, typically about
# 0.25 s (Caffier et al. 2003, Eur. J. Appl. Physiol. 89).
POPULATION = BlinkStats(rate_per_min=20.0, duration_s=0.25,
                        source="population (Bentivoglio 1997: 17/min rest, 26/min talking; Caffier 2003)")


def eyelid_opening(points: np.ndarray) -> np.ndarray:
    """[T] mean lid gap over eye width of both eyes, from [T, >=468, 2|3] landmarks (px) or head-local
    vertices; measured in x, y only (the image plane, or the face's frontal plane)."""
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    out = []
    for outer, inner, pairs in EYES:
        width = np.linalg.norm(pts[:, outer] - pts[:, inner], axis=-1)
        gap = np.linalg.norm(pts[:, pairs[:, 0]] - pts[:, pairs[:, 1]], axis=-1).mean(axis=1)
        out.append(gap / np.maximum(width, 1e-9))
    return np.mean(out, axis=0)


def _running_median(x: np.ndarray, width: int) -> np.ndarray:
    half = max(1, width // 2)
    padded = np.pad(x, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.median(windows, axis=1)[: len(x)]


@dataclass
class BlinkEvents:
    """Dips found in an eyelid-opening curve."""

    peaks: np.ndarray  # [N] frame of deepest closure
    durations_s: np.ndarray  # [N] full-width time at half depth, times 2 (close + open)
    depth: np.ndarray  # [T] relative closure per frame: 1 - opening / running median (>= 0)


def find_blinks(opening: np.ndarray, fps: float) -> BlinkEvents:
    """Blinks in a [T] eyelid-opening curve at `fps`."""
    opening = np.asarray(opening, dtype=np.float64)
    baseline = _running_median(opening, int(round(MEDIAN_S * fps)))
    depth = np.clip(1.0 - opening / np.maximum(baseline, 1e-9), 0.0, None)
    refractory = max(1, int(round(REFRACTORY_S * fps)))
    peaks: list[int] = []
    durations: list[float] = []
    t = 0
    while t < len(depth):
        if depth[t] < MIN_DEPTH:
            t += 1
            continue
        end = t
        while end + 1 < len(depth) and depth[end + 1] >= MIN_DEPTH / 2:
            end += 1
        peak = t + int(np.argmax(depth[t:end + 1]))
        half = depth[peak] / 2
        lo, hi = peak, peak
        while lo > 0 and depth[lo - 1] >= half:
            lo -= 1
        while hi + 1 < len(depth) and depth[hi + 1] >= half:
            hi += 1
        if peaks and peak - peaks[-1] < refractory:
            if depth[peak] > depth[peaks[-1]]:
                peaks[-1] = peak
        else:
            peaks.append(peak)
            durations.append(2.0 * (hi - lo + 1) / fps)  # half-depth width is about half the full blink
        t = end + 1
    return BlinkEvents(peaks=np.array(peaks, dtype=np.int64), durations_s=np.array(durations), depth=depth)


def blink_shape_from_basis(identity: np.ndarray, basis: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """[K] coefficients that bring the upper lids onto the lower lids of `identity` [468, 3], with
    `basis` [K, 468, 3]; the mouth and the rest of the face are asked to stay put."""
    k = basis.shape[0]
    target = np.zeros_like(identity, dtype=np.float64)
    weight = np.full(identity.shape[0], 0.2)  # keep the rest of the face still, gently
    upper, lower = LID_PAIRS[:, 0], LID_PAIRS[:, 1]
    target[upper] = 0.9 * (identity[lower] - identity[upper])
    weight[upper] = 1.0
    weight[lower] = 1.0  # lower lids barely move in a blink
    a = (basis.reshape(k, -1).T * np.repeat(weight, 3)[:, None])
    b = target.reshape(-1) * np.repeat(weight, 3)
    scale = float(np.linalg.norm(a, axis=0).mean()) or 1.0
    lhs = a.T @ a + (ridge * scale**2) * np.eye(k)
    return np.linalg.solve(lhs, a.T @ b).astype(np.float32)


def shape_from_clip(depth: np.ndarray, expression: np.ndarray, events: BlinkEvents) -> np.ndarray:
    """[K] full-closure shape: the expressions regressed on the closure (depth scaled so a typical blink
    is 1), which is how this person's fit moves the basis when the lids close."""
    full = float(np.median(depth[events.peaks])) if len(events.peaks) else 1.0
    closure = np.clip(depth / max(full, 1e-6), 0.0, 1.0)
    c = closure - closure.mean()
    e = expression.astype(np.float64) - expression.mean(axis=0)
    return ((c @ e) / max(float(c @ c), 1e-9)).astype(np.float32)


def closure_weight(events: BlinkEvents) -> np.ndarray:
    """[T] closure in 0..1 per frame (a typical blink of the clip reaches 1); 0 away from blinks."""
    full = float(np.median(events.depth[events.peaks])) if len(events.peaks) else 1.0
    closure = np.clip(events.depth / max(full, 1e-6), 0.0, 1.0)
    # only the dips that were found are blinks; elsewhere depth is noise of the lid tracking
    keep = np.zeros(len(closure), bool)
    for p in events.peaks:
        lo = hi = int(p)
        while lo > 0 and events.depth[lo - 1] >= MIN_DEPTH / 4:
            lo -= 1
        while hi + 1 < len(closure) and events.depth[hi + 1] >= MIN_DEPTH / 4:
            hi += 1
        keep[lo:hi + 1] = True
    return np.where(keep, closure, 0.0).astype(np.float32)


def measure_blink_track(landmarks: np.ndarray, expression: np.ndarray, fps: float, identity: np.ndarray,
                        basis: np.ndarray) -> tuple[BlinkStats, np.ndarray, np.ndarray]:
    """(stats, [K] shape, [T] closure weight) of a clip's blinks from its tracked `landmarks` [T, 478, 3] and
    fitted `expression` [T, K]; population stats, the basis solve and a zero weight when the clip shows too
    few blinks. `expression - weight * shape` is the clip's face without its blinks (what speech moves)."""
    events = find_blinks(eyelid_opening(landmarks), fps)
    minutes = len(landmarks) / fps / 60.0
    if len(events.peaks) < MIN_EVENTS or minutes <= 0:
        return POPULATION, blink_shape_from_basis(identity, basis), np.zeros(len(landmarks), np.float32)
    stats = BlinkStats(rate_per_min=len(events.peaks) / minutes,
                       duration_s=float(np.clip(np.median(events.durations_s), 0.1, 0.6)),
                       source="clip", events=len(events.peaks))
    return stats, shape_from_clip(events.depth, expression, events), closure_weight(events)


def measure_blinks(landmarks: np.ndarray, expression: np.ndarray, fps: float, identity: np.ndarray,
                   basis: np.ndarray) -> tuple[BlinkStats, np.ndarray]:
    """(stats, [K] shape) of a clip's blinks from its tracked `landmarks` [T, 478, 3] and fitted
    `expression` [T, K]; population stats and the basis solve when the clip shows too few blinks."""
    stats, shape, _ = measure_blink_track(landmarks, expression, fps, identity, basis)
    return stats, shape


def blink_rate(weight: np.ndarray, fps: float) -> float:
    """Blinks per minute in a [T] generated blink weight (0..1)."""
    minutes = len(weight) / fps / 60.0
    return len(find_blinks(1.0 - 0.8 * np.asarray(weight, np.float64), fps).peaks) / minutes if minutes else 0.0


def _blink_curve(t: np.ndarray, onset: float, duration: float, amplitude: float) -> np.ndarray:
    """Closure 0..amplitude..0 over [onset, onset + duration]: fast smooth close, slower smooth open."""
    close = CLOSE_SHARE * duration
    u = np.clip((t - onset) / close, 0.0, 1.0)
    v = np.clip((t - onset - close) / (duration - close), 0.0, 1.0)
    smooth = lambda s: s * s * (3.0 - 2.0 * s)  # noqa: E731 - smoothstep
    return amplitude * np.where(t < onset + close, smooth(u), 1.0 - smooth(v))


def generate_blinks(n_frames: int, fps: float, stats: BlinkStats = POPULATION, seed: int = 0,
                    activity: np.ndarray | None = None) -> np.ndarray:
    """[T] blink weight in 0..1 at `fps`: gamma-distributed intervals (real inter-blink intervals are
    irregular, CV about 0.7) at `stats.rate_per_min`, each blink `stats.duration_s` long (+-15 %), nudged
    toward the quietest frame within PAUSE_SEARCH_S when a [T] speech `activity` is given (people blink
    at pauses), and never cut off by the clip's ends. Same seed, same blinks."""
    rng = np.random.default_rng(seed)
    duration_total = n_frames / fps
    weight = np.zeros(n_frames, dtype=np.float64)
    if n_frames == 0 or stats.rate_per_min <= 0:
        return weight.astype(np.float32)
    t = (np.arange(n_frames) + 0.0) / fps
    mean_gap = 60.0 / stats.rate_per_min
    onset = rng.uniform(0.2, max(0.3, mean_gap))
    while True:
        duration = float(np.clip(stats.duration_s * rng.lognormal(0.0, 0.15), 0.08, 0.8))
        if onset + duration > duration_total:
            break
        if activity is not None and len(activity) == n_frames:
            lo = max(0, int((onset - PAUSE_SEARCH_S) * fps))
            hi = min(n_frames - 1, int((onset + PAUSE_SEARCH_S) * fps))
            quiet = lo + int(np.argmin(activity[lo:hi + 1]))
            onset = float(np.clip(quiet / fps, 0.0, duration_total - duration))
        amplitude = rng.uniform(0.85, 1.0)
        weight = np.maximum(weight, _blink_curve(t, onset, duration, amplitude))
        gap = max(MIN_GAP_S, rng.gamma(2.0, mean_gap / 2.0) - duration)
        onset += duration + gap
    return np.clip(weight, 0.0, 1.0).astype(np.float32)


def with_blink_layer(expression: np.ndarray, weight: np.ndarray, shape: np.ndarray) -> tuple[np.ndarray, Layer]:
    """(expression with the blinks added, the tracks layer describing them): what animate writes."""
    weight = np.asarray(weight, dtype=np.float32)
    shape = np.asarray(shape, dtype=np.float32)
    return (expression + weight[:, None] * shape[None, :]).astype(np.float32), Layer(weight=weight, shape=shape)
