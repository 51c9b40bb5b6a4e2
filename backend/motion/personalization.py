"""Personalise the motion model on one profile: fine-tune from the general model when one fits, else train
from scratch; fit the person's pose style and rest (closed-mouth) expression; write motion.pt + loss PNG."""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

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
from backend.motion.model import MotionConfig, MotionNet, load_checkpoint, save_checkpoint
from backend.motion.pose import fit_pose_style
from backend.motion.train import History, LossWeights, TrainConfig, plot_history, train

MODEL_FILE = "motion.pt"
LOSS_PNG = "motion_loss.png"
# From scratch: strong weight decay, dropout, feature noise and early stopping suit ~10 s of data.
SCRATCH = TrainConfig()
# From the general model: smaller steps so the shared mapping is adapted, not overwritten.
FINETUNE = TrainConfig(steps=600, lr=1e-3, weight_decay=0.01, patience=10)


def general_model_path() -> Path:
    return models_dir() / MODEL_FILE


@dataclass
class PersonalizeResult:
    path: Path
    init: str  # "scratch" or "general:<sha256 prefix>"
    history: History
    train_frames: int
    seconds: float


def _general_start(clip: MotionClip, general: Path | None, progress: Progress) -> tuple[MotionNet | None, str]:
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


def rest_expression(clip: MotionClip, quantile: float = 0.1) -> np.ndarray:
    """Mean expression over the frames with the most closed mouth: what silence looks like on this person."""
    opening = clip.mouth.opening(clip.expression)
    closed = opening <= np.quantile(opening, quantile)
    return clip.expression[closed].mean(axis=0)


def personalize(profile: str | Path, out: str | Path | None = None, train_frames: int | None = None,
                general: Path | None = None, scratch: bool = False, cfg: TrainConfig | None = None,
                model_cfg: MotionConfig | None = None, seed: int = 0, progress: Progress = QUIET) -> PersonalizeResult:
    """Train the profile's motion model on its first `train_frames` frames (all by default)."""
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
    rng = random.Random(seed)

    def batches():
        while True:
            yield sample_batch([train_clip], cfg.batch, cfg.crop, rng)

    hist = train(model, batches(), weights, cfg, val=(clip, va), progress=progress)
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
        "pose_style": fit_pose_style(clip.pose, clip.fps, clip.activity).to_dict(),
        "clip_pose": clip.pose.tolist(),
        "best_step": hist.best_step,
        "best_val": hist.best_val,
        "software_version": __version__,
    }
    save_checkpoint(out_path, model, meta)
    plot_history(hist, out_path.with_name(LOSS_PNG), f"motion model, {profile.name} ({init})")
    return PersonalizeResult(out_path, init, hist, len(clip), time.monotonic() - t0)
