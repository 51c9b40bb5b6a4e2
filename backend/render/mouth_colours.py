"""The person's own mouth-interior tint, fitted from the target clip.

The cavity (backend.render.mouth) is drawn in three key colours: teeth, tongue, throat. On the clip frames where
the mouth is open widest, render the cavity with the profile's light and fit one gain per colour channel
(least squares over the cavity's pixels) that scales all three key colours. One gain per channel keeps the
palette's structure (a dark cavity with a lighter rim under the upper lip) and adapts its tone to the person
and the clip's light; a free fit of all nine values scored 0.7 dB higher on held-out frames but turned the
cavity into a grey, lip-coloured blob (the fitted lips are a little wider open than the real ones), which
is not a plausible mouth. Figures in docs/render.md. Frames analyze held out for its quality figures are
never used.
"""

from __future__ import annotations

import json

import numpy as np

from backend.face.metrics import mouth_opening
from backend.face.profile import Profile
from backend.render.face import FaceRenderer
from backend.render.mouth import DEFAULT_COLOURS

FRAMES = 12  # calibration frames: the widest-open mouths of the clip
MIN_PIXELS = 200  # fewer cavity pixels than this in all of them: keep the defaults
GAIN_RANGE = (0.25, 2.0)  # a wild gain means the fit saw something else (bad tracking): stay near defaults


def held_out_frames(profile: Profile) -> list[int]:
    """Frames analyze kept away from the texture to measure face_psnr (quality.json); [] if unknown."""
    path = profile.path / "quality.json"
    try:
        return [int(i) for i in json.loads(path.read_text()).get("face_psnr_frames", [])]
    except (OSError, ValueError):
        return []


def pick_frames(profile: Profile, expression: np.ndarray, count: int = FRAMES) -> np.ndarray:
    """The `count` clip frames with the widest mouth opening, held-out frames excluded."""
    opening = mouth_opening(profile.face_model().shape(expression))
    opening[held_out_frames(profile)] = -np.inf
    order = np.argsort(-opening, kind="stable")
    return np.sort(order[:count][np.isfinite(opening[order[:count]])])


def fit_colours(renderer_args: tuple, expression: np.ndarray, pose: np.ndarray, cameras: np.ndarray,
                crops: np.ndarray) -> tuple[np.ndarray, int]:
    """Key colours [3,3] (DEFAULT_COLOURS times per-channel gains) that best explain the cavity pixels of
    `crops` [N,S,S,3] uint8, and the number of cavity pixels used. `renderer_args` = (model, albedo, sh, size)
    as for FaceRenderer."""
    model, albedo, sh, size = renderer_args
    drawn = FaceRenderer(model, albedo, sh, size).draw(expression, pose, cameras)
    sel = drawn.cavity
    n = int(sel.sum())
    if n < MIN_PIXELS:
        return DEFAULT_COLOURS.copy(), n
    predicted = drawn.images[sel].astype(np.float64)
    observed = crops[sel].astype(np.float64) / 255.0
    gains = (predicted * observed).sum(0) / np.maximum((predicted * predicted).sum(0), 1e-9)
    gains = np.clip(gains, GAIN_RANGE[0], GAIN_RANGE[1])
    return np.clip(DEFAULT_COLOURS * gains[None, :], 0.0, 1.0).astype(np.float32), n
