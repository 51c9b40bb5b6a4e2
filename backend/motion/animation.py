"""Animate a personalised profile from speech: expression from the model (speech only, scaled to the
person's mouth range, easing to the closed rest face in pauses), blinks as their own layer in the person's
rhythm, head pose from the person's pose style (or the clip's own poses, or a still head), packed as Tracks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from backend import __version__
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.core.tracks import Layer, Tracks
from backend.motion import features
from backend.motion.blinks import POPULATION, BlinkStats, generate_blinks, with_blink_layer
from backend.motion.data import read_manifest
from backend.motion.model import Model, load_checkpoint
from backend.motion.personalization import GAIN_RANGE, MODEL_FILE, general_model_path, smoothed_prediction
from backend.motion.pose import PoseStyle, sample_pose

if TYPE_CHECKING:
    from backend.motion.phonetics import PhoneticDecode

POSE_MODES = ("predicted", "clip", "still")
MIN_GAIN_FRAMES = 50  # speaking frames needed to measure a recording's own range (2 s at 25 fps)
SILENCE_HOLD_S = 0.3  # pauses shorter than 2x this keep the predicted mouth (people pause mouth-open)


def uses_prior(profile: Path, model_path: Path | None = None) -> bool:
    """Motion comes from the training-free prior (backend.motion.prior) for a photo profile, and for a clip
    profile with no personal model when no general checkpoint exists either (nothing to start one from)."""
    from backend.face.profile import is_photo_profile
    from backend.face.profile import read_manifest as profile_manifest

    if is_photo_profile(profile_manifest(profile)):
        return True
    return model_path is None and not (profile / MODEL_FILE).is_file() and not general_model_path().is_file()


def animate_prior(profile: Path, samples: np.ndarray, fps: float, pose_mode: str, seed: int,
                  expression_scale: float, smoothing: float, progress: Progress,
                  decode: PhoneticDecode | None, blinks: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """(expression, pose, layers) from the prior on the profile's identity; rest face and base pose from
    its fit (the photo's own face and pose, or a clip's closed-mouth frames and mean pose). `pose_mode`
    "still" keeps the head at the base pose; otherwise the prior's prosody-driven motion. `blinks=False`
    leaves the population blinks out (and no blink layer)."""
    from backend.face.profile import load_profile
    from backend.motion.mouth import MouthModel
    from backend.motion.prior import prior_motion

    p = load_profile(profile)
    fit, face = p.fit(), p.face_model()
    opening = MouthModel.load(profile / "face_model.npz").opening(fit["expression"])
    rest = fit["expression"][opening <= np.quantile(opening, 0.1)].mean(axis=0)
    motion = prior_motion(samples, fps, face.vertices, face.basis, fit["pose"].mean(axis=0), rest=rest, seed=seed,
                          decode=decode, progress=progress)
    blink = motion.layers["blink"]
    blink_expr = blink.weight[:, None] * blink.shape[None]
    expr, pose = motion.expression - blink_expr, motion.pose  # scale and smooth speech only: the layer stays exact
    if pose_mode == "still":
        pose = np.tile(fit["pose"].mean(axis=0), (len(pose), 1))
    expr = rest + expression_scale * (expr - rest)
    if smoothing > 0:
        expr = gaussian_filter1d(expr, sigma=smoothing, axis=0, mode="nearest")
        pose = gaussian_filter1d(pose, sigma=smoothing, axis=0, mode="nearest")
    if not blinks:
        return expr.astype(np.float32), pose.astype(np.float32), {}
    return (expr + blink_expr).astype(np.float32), pose.astype(np.float32), motion.layers


def no_model_error(profile: Path) -> UserError:
    return UserError(f"profile {profile} has no trained motion model ({MODEL_FILE})",
                     hint=f"run `talking-head personalize {profile}` first (about a minute on a laptop CPU), "
                          "or add --personalize to do it now")


def load_personal(profile: Path, model_path: Path | None = None) -> tuple[Model, dict]:
    path = model_path or profile / MODEL_FILE
    if not path.is_file():
        raise no_model_error(profile)
    model, meta = load_checkpoint(path)
    if meta.get("kind") != "personal":
        raise UserError(f"{path} is a general motion model, not a personalised one",
                        hint=f"run `talking-head personalize {profile}`")
    return model, meta


def speech_gate(activity: np.ndarray, fps: float) -> np.ndarray:
    """[T] 1 within SILENCE_HOLD_S of speech, easing to 0 over ~0.1 s in longer silences (mouth relaxes)."""
    radius = max(1, int(round(SILENCE_HOLD_S * fps)))
    near = maximum_filter1d((activity > 0).astype(np.float64), size=2 * radius + 1, mode="constant")
    return np.clip(gaussian_filter1d(near, sigma=0.04 * fps, mode="nearest"), 0.0, 1.0)


def clip_pose_replay(clip_pose: np.ndarray, clip_fps: float, n_frames: int, fps: float) -> np.ndarray:
    """The clip's own poses for any length: played forward then backward (no jump), resampled to fps."""
    n = len(clip_pose)
    t = np.arange(n_frames) * (clip_fps / fps)
    period = max(2 * (n - 1), 1)
    phase = np.mod(t, period)
    idx = np.where(phase <= n - 1, phase, period - phase)
    return np.stack([np.interp(idx, np.arange(n), clip_pose[:, k]) for k in range(6)], axis=1)


def blink_stats(meta: dict) -> tuple[BlinkStats, np.ndarray | None]:
    """The person's blink statistics and [K] shape from a personal model's metadata (None: none stored)."""
    b = meta.get("blink")
    if not b:
        return POPULATION, None
    return (BlinkStats(float(b["rate_per_min"]), float(b["duration_s"]), str(b["source"]), int(b.get("events", 0))),
            np.asarray(b["shape"], np.float32))


def recording_gain(meta: dict, expr: np.ndarray, centre: np.ndarray, activity: np.ndarray) -> float:
    """The gain that gives this recording's predicted opening the person's std while speaking (clipped to
    GAIN_RANGE); with under MIN_GAIN_FRAMES speaking frames the gain measured on the clip; 1 for models
    without the range (before issue 12)."""
    speaking = np.asarray(activity) > 0
    if "mouth_open_grad" not in meta or speaking.sum() < MIN_GAIN_FRAMES:
        return float(meta.get("mouth_gain", 1.0))
    opening = (expr[speaking] - centre) @ np.asarray(meta["mouth_open_grad"], np.float32)
    return float(np.clip(float(meta["mouth_open_std"]) / max(float(opening.std()), 1e-9), *GAIN_RANGE))


def frame_gains(meta: dict, expr: np.ndarray, centre: np.ndarray, rest: np.ndarray, gain: float) -> np.ndarray:
    """[T] per-frame gain: `gain`, except that a closing frame is scaled only as far as the rest face's
    opening (never below 1): scaled past it the lips would cross and the opening, a distance, grow again."""
    out = np.full(len(expr), float(gain), np.float32)
    if "mouth_open_grad" not in meta or gain <= 1.0:
        return out
    grad = np.asarray(meta["mouth_open_grad"], np.float32)
    d = (expr - centre) @ grad  # linearised opening change of each frame
    r = float((rest - centre) @ grad)  # and of the rest face (negative: rest is more closed)
    closing = d < 0
    if r < 0:
        out[closing] = np.clip(r / np.minimum(d[closing], -1e-12), 1.0, gain)
    return out


GAIN_DIRECTIONS = ("all", "opening")


def scale_mouth(expr: np.ndarray, centre: np.ndarray, gains: np.ndarray, meta: dict,
                direction: str = "all") -> np.ndarray:
    """The prediction with its opening scaled by the per-frame `gains` around `centre`. "all" scales the
    whole deviation from the centre (every coefficient, brows and lip shape included); "opening" adds only
    the part of the prediction that goes with its opening: the recording's own regression of the deviation
    on the opening (speaking and silent frames alike), so the opening scales by the same gain and the rest
    of the shape keeps the network's estimate."""
    dev = expr - centre
    if direction == "all" or "mouth_open_grad" not in meta:
        return centre + gains[:, None] * dev
    grad = np.asarray(meta["mouth_open_grad"], np.float32)
    d = dev @ grad
    dc = d - d.mean()
    var = float(dc @ dc)
    if var <= 1e-12:
        return expr
    v = (dev - dev.mean(0)).T @ dc / var  # [K] expression change per unit of opening; v @ grad == 1
    return expr + ((gains - 1.0) * d)[:, None] * v[None, :]


def animate_samples(model: Model, meta: dict, samples: np.ndarray, fps: float, pose_mode: str = "predicted",
                    smoothing: float = 0.0, expression_scale: float = 1.0, seed: int = 0,
                    progress: Progress = QUIET, phonetics: bool = True,
                    decode: PhoneticDecode | None = None, blinks: bool = True,
                    layers: dict[str, Layer] | None = None, mouth_gain: float | None = None,
                    gain_direction: str = "opening") -> tuple[np.ndarray, np.ndarray]:
    """16 kHz mono speech -> (expression [T,K], pose [T,6]) at `fps`. `phonetics=False` skips the phone
    decoder (about 2x faster; the model then reads the MFCCs alone, see docs/motion.md); `decode` is that
    decoder already started on these samples (`features.start_phonetics`). With `blinks`, seeded blinks in
    the person's rhythm are added and described in `layers["blink"]` (when a dict is passed).
    `mouth_gain` overrides the personal model's measured gain (1: the network's raw range);
    `gain_direction` is what the gain scales (`scale_mouth`)."""
    if pose_mode not in POSE_MODES:
        raise UserError(f"unknown pose mode {pose_mode!r}", hint=f"use one of {', '.join(POSE_MODES)}")
    progress.stage("audio features")
    feats = features.speech_features(samples, phonetic=phonetics and model.uses_phonetics, decode=decode,
                                     formants=model.uses_formants)
    n = features.frame_count(feats.duration_s, fps)
    progress.stage("predicting expression")
    expr = smoothed_prediction(model, feats.iter_windows(n, fps), fps)
    activity = feats.frame_activity(n, fps)
    rest = np.asarray(meta["rest_expression"], np.float32)
    centre = np.asarray(meta.get("mouth_centre", rest), np.float32)
    gain = recording_gain(meta, expr, centre, activity) if mouth_gain is None else mouth_gain
    expr = scale_mouth(expr, centre, frame_gains(meta, expr, centre, rest, gain), meta, gain_direction)  # the range
    gate = speech_gate(activity, fps)[:, None]
    expr = rest + expression_scale * gate * (expr - rest)
    style = PoseStyle.from_dict(meta["pose_style"])
    if pose_mode == "predicted":
        pose = sample_pose(style, n, fps, activity, np.random.default_rng(seed))
    elif pose_mode == "clip":
        pose = clip_pose_replay(np.asarray(meta["clip_pose"], np.float64), float(meta["fps"]), n, fps)
    else:
        pose = np.tile(np.asarray(style.mean), (n, 1))
    if smoothing > 0:
        expr = gaussian_filter1d(expr, sigma=smoothing, axis=0, mode="nearest")
        pose = gaussian_filter1d(pose, sigma=smoothing, axis=0, mode="nearest")
    stats, shape = blink_stats(meta)
    if blinks and shape is not None:
        # seeded apart from the head motion (seed + 1): turning blinks off leaves the pose as it was
        weight = generate_blinks(n, fps, stats, seed=seed + 1, activity=activity)
        expr, layer = with_blink_layer(expr, weight, shape)
        if layers is not None:
            layers["blink"] = layer
    return expr.astype(np.float32), pose.astype(np.float32)


def animate(profile: str | Path, speech: str | Path, pose_mode: str = "predicted", smoothing: float = 0.0,
            expression_scale: float = 1.0, seed: int = 0, fps: float | None = None,
            model_path: Path | None = None, progress: Progress = QUIET, phonetics: bool = True,
            samples: np.ndarray | None = None, decode: PhoneticDecode | None = None, blinks: bool = True) -> Tracks:
    """Tracks for `speech`; `samples` (its 16 kHz mono decode) and `decode` (`features.start_phonetics` on
    them) may be passed when the caller started on them early."""
    profile = Path(profile)
    manifest = read_manifest(profile)
    prior = uses_prior(profile, model_path)
    if not prior:
        model, meta = load_personal(profile, model_path)
    fps = float(fps or manifest["fps"])
    progress.stage("decoding audio")
    if samples is None:
        samples = features.load_speech(speech)
    if samples.size < features.SR // 50:
        raise UserError(f"{speech} holds only {samples.size / features.SR * 1000:.0f} ms of audio",
                        hint="pass a recording of at least a few frames' length")
    layers: dict[str, Layer] = {}
    if prior:
        expr, pose, layers = animate_prior(profile, samples, fps, pose_mode, seed, expression_scale, smoothing,
                                           progress, decode, blinks=blinks)
        init, phonetics, names, face_model = "prior", True, manifest["basis_names"], manifest["face_model"]
    else:
        expr, pose = animate_samples(model, meta, samples, fps, pose_mode, smoothing, expression_scale, seed,
                                     progress, phonetics, decode, blinks=blinks, layers=layers)
        init = meta.get("init")
        names = manifest.get("basis_names") or meta["basis_names"]
        face_model = manifest.get("face_model", meta["face_model"])
    from backend.media import sha256_file

    return Tracks(fps=fps, basis=list(names), expression=expr,
                  pose=pose, profile_id=str(manifest.get("profile_id", "")), layers=layers,
                  face_model=str(face_model),
                  provenance={"source": "animate", "software_version": __version__, "model": init,
                              "options": {"pose": pose_mode, "smoothing": smoothing, "phonetics": phonetics,
                                          "expression_scale": expression_scale, "seed": seed, "blinks": blinks}},
                  audio={"sha256": sha256_file(speech), "duration_s": round(samples.size / features.SR, 4)})
