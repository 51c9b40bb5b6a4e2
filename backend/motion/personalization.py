"""Personalise the motion model on one profile: fine-tune from the general model when one fits, else train
from scratch; fit the person's pose style, rest (closed-mouth) expression, blinks and mouth range; write
motion.pt + loss PNG.

Mouth range: a model trained with squared errors predicts the conditional mean, whose opening varies less
than the truth (0.5 of its std on unseen people: the mumbled look), and less still for a voice it was not
fine-tuned on. Personalize stores the person's true opening std while speaking and the opening's gradient
in the basis; animate scales each recording's predicted speech motion around its mean so that the opening
std matches the person's (docs/motion.md gives the measured effect)."""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from backend import __version__
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.face.model import models_dir
from backend.motion.data import (
    MotionClip,
    feature_stats,
    load_clip,
    read_manifest,
    sample_batch,
    split_train_val,
)
from backend.motion.model import (
    OUTPUT_SMOOTHING_S,
    Model,
    MotionConfig,
    MotionNet,
    load_checkpoint,
    members_of,
    save_checkpoint,
)
from backend.motion.pose import fit_pose_style
from backend.motion.train import History, LossWeights, TrainConfig, plot_histories, train

MODEL_FILE = "motion.pt"
LOSS_PNG = "motion_loss.png"
# From scratch: strong weight decay, dropout, feature noise and early stopping suit ~10 s of data.
SCRATCH = TrainConfig()
# From the general model: smaller steps so the shared mapping is adapted, not overwritten.
FINETUNE = TrainConfig(steps=600, lr=1e-3, weight_decay=0.01, patience=10)
GAIN_RANGE = (1.0, 2.5)  # never shrink, and never blow noise up more than this
REST_BAND = 0.1  # closed: within this share of the opening range above the minimum
REST_QUANTILE = 0.1


def general_model_path() -> Path:
    return models_dir() / MODEL_FILE


@dataclass
class PersonalizeResult:
    path: Path
    init: str  # "scratch" or "general:<sha256 prefix>"
    history: History  # the first member's (the only one's, for a single network)
    train_frames: int
    seconds: float
    histories: list[History]  # one per ensemble member


def _general_start(clip: MotionClip, general: Path | None, progress: Progress) -> tuple[Model | None, str]:
    path = general if general is not None else general_model_path()
    if not path.is_file():
        if general is not None:
            raise UserError(f"general motion model not found: {general}")
        return None, "scratch"
    model, meta = load_checkpoint(path)
    if meta.get("face_model") != clip.face_model or model.cfg.n_expr != clip.expression.shape[1]:
        progress.message(f"general model {path} is for face model {meta.get('face_model')!r}, the profile uses "
                         f"{clip.face_model!r}: training from scratch instead")
        return None, "scratch"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return model, f"general:{digest}"


def rest_expression(clip: MotionClip, band: float = REST_BAND) -> np.ndarray:
    """What silence looks like on this person: the mean expression of the frames whose lips are closed, those
    within `band` of the clip's opening range above its (2nd-percentile) minimum and among the REST_QUANTILE
    most closed, at least 3 frames. Not the
    mean face nor the silent frames' mean: a person whose average face is an open smile, and who keeps
    it open through most pauses, still has a closed rest face, and that is what silence should show."""
    opening = clip.mouth.opening(clip.expression)
    lo, q10, hi = np.quantile(opening, [0.02, REST_QUANTILE, 0.9])
    closed = (opening <= lo + band * (hi - lo)) & (opening <= q10)
    if closed.sum() < 3:
        closed = np.zeros(len(opening), bool)
        closed[np.argsort(opening)[:3]] = True
    return clip.expression[closed].mean(axis=0)


def smoothed_prediction(model: Model, blocks: Any, fps: float) -> np.ndarray:
    """[T, K] the model's expression for window blocks (`SpeechFeatures.iter_windows`, or [clip.windows]),
    smoothed by OUTPUT_SMOOTHING_S as animate does."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(model.predict(blocks), sigma=OUTPUT_SMOOTHING_S * fps, axis=0, mode="nearest")


@dataclass
class MouthRange:
    """What animate needs to give any recording this person's mouth range (module docstring)."""

    gain: float  # true / predicted opening std on the clip's own speech (the fallback for short audio)
    centre: np.ndarray  # [K] predicted mean expression while speaking: the gain scales around it
    open_std: float  # std of the true inner-lip opening over the clip's speaking frames (metres)
    open_grad: np.ndarray  # [K] d opening / d expression at the centre (opening is close to linear there)


def mouth_range(model: Model, clip: MotionClip) -> MouthRange:
    pred = smoothed_prediction(model, [clip.windows], clip.fps)
    speaking = np.asarray(clip.activity) > 0
    if speaking.sum() < 16:
        speaking = np.ones(len(clip), bool)
    p_std = float(clip.mouth.opening(pred[speaking]).std())
    t_std = float(clip.mouth.opening(clip.expression[speaking]).std())
    centre = pred[speaking].mean(axis=0)
    eps = 1e-3
    base = clip.mouth.opening(centre[None])[0]
    grad = np.array([(clip.mouth.opening((centre + eps * np.eye(len(centre))[k])[None])[0] - base) / eps
                     for k in range(len(centre))])
    return MouthRange(float(np.clip(t_std / max(p_std, 1e-9), *GAIN_RANGE)), centre, t_std, grad)


def personalize(profile: str | Path, out: str | Path | None = None, train_frames: int | None = None,
                general: Path | None = None, scratch: bool = False, cfg: TrainConfig | None = None,
                model_cfg: MotionConfig | None = None, seed: int = 0, progress: Progress = QUIET,
                calibrate: bool = True) -> PersonalizeResult:
    """Train the profile's motion model on its first `train_frames` frames (all by default); `calibrate`
    measures the mouth gain (else 1: the model's own range)."""
    t0 = time.monotonic()
    profile = Path(profile)
    manifest = read_manifest(profile)
    from backend.face.profile import is_photo_profile

    if is_photo_profile(manifest):
        raise UserError(f"profile {profile} was made from one photo: there is no motion of the person to learn",
                        hint=f"skip personalize: `talking-head animate {profile} SPEECH` uses the motion prior")
    progress.stage("loading profile audio and tracks")
    clip = load_clip(profile)
    if train_frames is not None:
        if train_frames > len(clip):
            raise UserError(f"--train-frames {train_frames} is more than the profile's {len(clip)} frames")
        clip = clip.slice(0, train_frames)
    tr, va = split_train_val(len(clip))
    model, init = (None, "scratch") if scratch else _general_start(clip, general, progress)
    if model is None:
        import torch

        torch.manual_seed(seed)  # the initial weights too: same clip and seed, same model
        model = MotionNet(replace(model_cfg, n_expr=clip.expression.shape[1]) if model_cfg
                          else MotionConfig(n_expr=clip.expression.shape[1]))
        model.set_feature_stats(*feature_stats([clip.slice(tr.start, tr.stop)]))
        cfg = cfg or SCRATCH
    else:
        cfg = cfg or FINETUNE
    cfg = replace(cfg, seed=seed)
    progress.message(f"personalising on {len(clip)} frames ({va.stop - va.start} held out), start: {init}")
    train_clip = clip.slice(tr.start, tr.stop)
    weights = LossWeights.from_targets(train_clip.expression, clip.mouth.flat_basis())

    def batches():
        rng = random.Random(seed)
        while True:
            yield sample_batch([train_clip], cfg.batch, cfg.crop, rng)

    # each member of an ensemble is fine-tuned on its own, with its own early stop: the measured variant
    # (averaging members fine-tuned together would let them co-adapt)
    hists = [train(net, batches(), weights, cfg, val=(clip, va), progress=progress) for net in members_of(model)]
    hist = hists[0]
    rng_ = mouth_range(model, clip) if calibrate else None
    out_path = Path(out) if out else profile / MODEL_FILE
    meta = {
        "kind": "personal",
        "init": init,
        "face_model": clip.face_model,
        "basis_names": clip.basis_names,
        "profile_id": manifest.get("profile_id", ""),
        "fps": clip.fps,
        "train_frames": len(clip),
        "rest_expression": rest_expression(clip).tolist(),
        **({"mouth_gain": rng_.gain, "mouth_centre": rng_.centre.tolist(), "mouth_open_std": rng_.open_std,
            "mouth_open_grad": rng_.open_grad.tolist()} if rng_ else {}),
        "blink": {**asdict(clip.blink_stats), "shape": np.asarray(
            clip.blink_shape if clip.blink_shape is not None else np.zeros(clip.expression.shape[1])).tolist()},
        "pose_style": fit_pose_style(clip.pose, clip.fps, clip.activity).to_dict(),
        "clip_pose": clip.pose.tolist(),
        "best_step": hist.best_step,
        "best_val": hist.best_val,
        **({"member_best_steps": [h.best_step for h in hists]} if len(hists) > 1 else {}),
        "software_version": __version__,
    }
    save_checkpoint(out_path, model, meta)
    plot_histories([(f"member {i + 1}" if len(hists) > 1 else "", h) for i, h in enumerate(hists)],
                   out_path.with_name(LOSS_PNG), f"motion model, {profile.name} ({init})")
    return PersonalizeResult(out_path, init, hist, len(clip), time.monotonic() - t0, hists)
