"""The training loop for MotionNet (one screen, nanoGPT style): losses, early stopping, loss curve.

Loss = w_coef * coefficient MSE
     + w_mouth * mouth-vertex MSE through the face model's basis (the lips are what people watch; a
       coefficient that moves the lips a lot should cost more than one that moves them little)
     + w_vel * MSE of frame-to-frame velocity (keeps the timing of openings/closings, discourages jitter).
Each term is divided by the value it takes when predicting the mean, so the weights are comparable.
Early stopping watches the held-out mouth terms only: the other coefficients (blinks, brows) drift between
the training and held-out parts of a 10 s clip for reasons no audio model can know, and would swamp it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from backend.core.progress import QUIET, Progress
from backend.motion import features, phonetics
from backend.motion.data import MotionClip
from backend.motion.model import MotionNet

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class TrainConfig:
    steps: int = 1200
    batch: int = 12
    crop: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.1
    w_coef: float = 0.2  # most coefficients (eyes, brows) are not in the audio: do not chase them hard
    w_mouth: float = 1.0
    w_vel: float = 0.5
    feature_noise: float = 0.3  # in standardised feature units: augmentation for ~10 s of data
    # share of training crops whose phonetic columns are blanked (set to their mean): the model must also
    # work from the MFCCs alone, so a voice the phone decoder hears badly does not derail it
    phonetic_dropout: float = 0.5
    # score each crop's error around its own mean: the model learns how the face moves with the speech, not
    # whose face it is (the 300-frame fine-tune supplies that)
    centred: bool = False
    eval_every: int = 25
    patience: int = 16  # evaluations without improvement before stopping
    seed: int = 0
    threads: int = 1  # small ops: one thread is faster than two fighting over 2 shared cores (measured)


@dataclass
class LossWeights:
    """Fixed per-run normalisers: the loss of predicting the mean is ~1 for each term."""

    mouth_basis: torch.Tensor  # [K, M*3]
    mouth_scale: float
    coef_scale: float
    vel_scale: float

    @classmethod
    def from_targets(cls, expression: np.ndarray, mouth_basis: np.ndarray) -> LossWeights:
        e = expression - expression.mean(axis=0)
        m = e @ mouth_basis
        vel = np.diff(expression, axis=0)
        return cls(torch.as_tensor(mouth_basis, dtype=torch.float32), float(np.mean(m ** 2)) + 1e-12,
                   float(np.mean(e ** 2)) + 1e-8, float(np.mean(vel ** 2)) + 1e-8)


def motion_loss(pred: torch.Tensor, true: torch.Tensor, valid: torch.Tensor, w: LossWeights,
                cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    mask = valid.float().unsqueeze(-1)
    denom = mask.sum().clamp(min=1.0)
    err = pred - true
    if cfg.centred:
        err = err - (err * mask).sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    coef = (err ** 2 * mask).sum() / denom / err.shape[-1] / w.coef_scale
    mouth_err = err @ w.mouth_basis
    mouth = (mouth_err ** 2 * mask).sum() / denom / mouth_err.shape[-1] / w.mouth_scale
    vmask = mask[:, 1:] * mask[:, :-1]
    verr = torch.diff(pred, dim=1) - torch.diff(true, dim=1)
    vel = (verr ** 2 * vmask).sum() / vmask.sum().clamp(min=1.0) / err.shape[-1] / w.vel_scale
    total = cfg.w_coef * coef + cfg.w_mouth * mouth + cfg.w_vel * vel
    return total, {"coef": coef.item(), "mouth": mouth.item(), "vel": vel.item()}


@dataclass
class History:
    steps: list[int] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    best_step: int = 0
    best_val: float = math.inf
    seconds: float = 0.0


@torch.no_grad()
def evaluate(model: MotionNet, clip: MotionClip, val: slice, w: LossWeights, cfg: TrainConfig) -> float:
    """Held-out mouth loss on frames `val`, predicted with the whole clip's audio as context (audio only:
    no targets leak)."""
    model.eval()
    pred = model(torch.from_numpy(clip.windows)[None])[:, val]
    true = torch.from_numpy(clip.expression[val])[None]
    valid = torch.from_numpy(clip.valid[val])[None]
    _, parts = motion_loss(pred, true, valid, w, cfg)
    return parts["mouth"] + cfg.w_vel / max(cfg.w_mouth, 1e-9) * parts["vel"]


def train(model: MotionNet, batches: Iterator[Batch], weights: LossWeights, cfg: TrainConfig,
          val: tuple[MotionClip, slice] | None = None, progress: Progress = QUIET,
          on_checkpoint: Callable[[int, MotionNet, torch.optim.Optimizer, History], None] | None = None,
          checkpoint_every: int = 0, start_step: int = 0, optimizer_state: dict | None = None,
          history: History | None = None) -> History:
    """Train in place. With `val`, keeps the best weights (early stopping); returns the loss history."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if optimizer_state:
        opt.load_state_dict(optimizer_state)
    hist = history or History()
    best_state, bad, running = None, 0, []
    t0 = time.monotonic()
    progress.stage("training motion model", cfg.steps - start_step)
    for step in range(start_step, cfg.steps):
        lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))  # cosine decay
        for group in opt.param_groups:
            group["lr"] = lr
        windows, expr, valid = next(batches)
        x = torch.from_numpy(windows)[..., : model.cfg.feat_dim]
        if cfg.feature_noise:
            x = x + cfg.feature_noise * model.feat_std * torch.randn_like(x)
            x = x + 0.3 * cfg.feature_noise * model.feat_std * torch.randn(x.shape[0], 1, 1, x.shape[-1])
        if cfg.phonetic_dropout and model.uses_phonetics:
            drop = torch.rand(x.shape[0]) < cfg.phonetic_dropout
            p = slice(features.FEATURE_DIM, features.FEATURE_DIM + phonetics.DIM)  # formants stay
            x[drop, ..., p] = model.feat_mean[p]
        model.train()
        loss, _ = motion_loss(model(x), torch.from_numpy(expr), torch.from_numpy(valid), weights, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running.append(loss.item())
        progress.update(1)
        done = step + 1
        if val is not None and (done % cfg.eval_every == 0 or done == cfg.steps):
            v = evaluate(model, val[0], val[1], weights, cfg)
            hist.steps.append(done)
            hist.train.append(float(np.mean(running)))
            hist.val.append(v)
            running = []
            if v < hist.best_val:
                hist.best_val, hist.best_step, bad = v, done, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
                if bad >= cfg.patience:
                    progress.message(f"early stop at step {done}: best held-out loss {hist.best_val:.3f} "
                                     f"at step {hist.best_step}")
                    break
        elif val is None and (done % cfg.eval_every == 0 or done == cfg.steps) and running:
            hist.steps.append(done)
            hist.train.append(float(np.mean(running)))
            running = []
        if on_checkpoint and checkpoint_every and done % checkpoint_every == 0:
            on_checkpoint(done, model, opt, hist)
    if best_state is not None:
        model.load_state_dict(best_state)
    hist.seconds = time.monotonic() - t0
    progress.close()
    return hist


def plot_history(hist: History, path: Path, title: str) -> None:
    """Loss curve PNG (train and held-out), written atomically."""
    plot_histories([("", hist)], path, title)


def plot_histories(runs: list[tuple[str, History]], path: Path, title: str) -> None:
    """Loss curves of one or more trainings (an ensemble's members, each labelled) in one PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from backend.core.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for i, (label, hist) in enumerate(runs):
        name = f"{label}: " if label else ""
        line = ax.plot(hist.steps, hist.train, label=f"{name}train")[0]
        if hist.val:
            style = {"color": line.get_color(), "linestyle": "--"} if len(runs) > 1 else {}
            ax.plot(hist.steps, hist.val, label=f"{name}held-out (last 15 %)", **style)
            ax.axvline(hist.best_step, color="gray", linestyle=":" if i == 0 else "-.",
                       label=f"{name}best step {hist.best_step}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (1 = predicting the mean)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=7 if len(runs) > 1 else None)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
