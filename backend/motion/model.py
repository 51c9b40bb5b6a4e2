"""The audio->expression network and its checkpoint file.

Each output frame gets its 280 ms MFCC window (backend/features.py); a small 1-D convolution summarises the
window, a bidirectional LSTM over the frame sequence adds coarticulation context (the mouth starts moving
before a sound and keeps the shape after it), and a linear head gives the K expression coefficients.
Head pose is not regressed here: it comes from the person's generative pose model (backend/motion/pose.py).

A model may be an ensemble (`MotionEnsemble`): members trained apart (the general model's plain,
vocal-tract-warped and second-seed networks, each fine-tuned on its own), whose predictions are averaged
(docs/motion.md).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from backend.core.atomic import save_torch
from backend.core.errors import UserError
from backend.motion import features, formants, phonetics

CHECKPOINT_FORMAT = "talking-head-motion"
FORMANT_FEAT_DIM = features.FEATURE_DIM + phonetics.DIM + formants.DIM
CHECKPOINT_VERSION = 2  # 2: ensembles ("members"); a single network is still written as version 1
OUTPUT_SMOOTHING_S = 0.06  # the network's frame-to-frame noise is above the lips' bandwidth (docs/motion.md)


@dataclass
class MotionConfig:
    n_expr: int
    window: int = features.WINDOW
    # MFCC + deltas, then phonetic values (older models: 39), then formants (FORMANT_FEAT_DIM; a member's choice)
    feat_dim: int = features.FEATURE_DIM + phonetics.DIM
    conv: int = 48  # channels of the window encoder
    hidden: int = 96  # per-frame embedding and total LSTM width (half per direction)
    dropout: float = 0.5  # heavy: ~10 s of data per person (measured: 0.25 -> 0.5 raised held-out r)


class MotionNet(nn.Module):
    def __init__(self, cfg: MotionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(cfg.feat_dim))
        self.register_buffer("feat_std", torch.ones(cfg.feat_dim))
        self.encoder = nn.Sequential(
            nn.Conv1d(cfg.feat_dim, cfg.conv, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(cfg.conv, cfg.conv, 5, stride=2, padding=2), nn.GELU(),
        )
        reduced = (cfg.window + 3) // 4
        self.embed = nn.Sequential(nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(cfg.conv * reduced, cfg.hidden),
                                   nn.GELU())
        self.lstm = nn.LSTM(cfg.hidden, cfg.hidden // 2, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(2 * (cfg.hidden // 2) + cfg.hidden, cfg.n_expr)

    @property
    def uses_phonetics(self) -> bool:
        """Whether the model reads backend.motion.phonetics' values after the MFCCs (models before it did not)."""
        return self.cfg.feat_dim > features.FEATURE_DIM

    @property
    def uses_formants(self) -> bool:
        """Whether the model reads backend.motion.formants' values after the phonetic columns."""
        return self.cfg.feat_dim >= FORMANT_FEAT_DIM

    def set_feature_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        d = self.cfg.feat_dim
        self.feat_mean.copy_(torch.as_tensor(mean[:d], dtype=torch.float32))
        self.feat_std.copy_(torch.as_tensor(np.maximum(std[:d], 1e-3), dtype=torch.float32))

    def embed_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """[B, T, W, F] windows -> [B, T, hidden] per-frame embeddings (no temporal context yet); feature
        columns past the model's `feat_dim` are ignored, so an MFCC-only model reads phonetic windows; missing
        or NaN columns are blank (their training mean), which the model learned to handle (phonetic dropout)."""
        windows = windows[..., : self.cfg.feat_dim]
        if windows.shape[-1] < self.cfg.feat_dim:  # MFCC-only windows: phonetic columns blank, as in training
            blank = self.feat_mean[windows.shape[-1]:].expand(*windows.shape[:-1], -1)
            windows = torch.cat([windows, blank], dim=-1)
        if windows.shape[-1] > features.FEATURE_DIM and torch.isnan(windows[..., features.FEATURE_DIM]).any():
            windows = torch.where(torch.isnan(windows), self.feat_mean, windows)  # no phone decode was run
        b, t, w, f = windows.shape
        x = (windows - self.feat_mean) / self.feat_std
        x = x.reshape(b * t, w, f).transpose(1, 2)  # Conv1d wants [N, channels, time]
        return self.embed(self.encoder(x)).reshape(b, t, -1)

    def decode(self, emb: torch.Tensor) -> torch.Tensor:
        """[B, T, hidden] embeddings -> [B, T, K] coefficients (the LSTM sees the whole sequence)."""
        ctx, _ = self.lstm(emb)
        return self.head(self.drop(torch.cat([ctx, emb], dim=-1)))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.decode(self.embed_windows(windows))

    def predict(self, blocks: Any) -> np.ndarray:
        """Inference over an iterable of [t, W, F] numpy window blocks (bounded memory for long audio)."""
        return _predict([self], blocks)


class MotionEnsemble(nn.Module):
    """Networks trained apart whose expression predictions are averaged. Fine-tunes of one general model
    with different seeds make nearly the same errors (averaging them gained nothing); general networks
    trained on differently augmented audio or from other seeds do not (docs/motion.md, "Two general models'
    personalisations averaged", "More members")."""

    def __init__(self, members: list[MotionNet]) -> None:
        super().__init__()
        if not members or len({m.cfg.n_expr for m in members}) != 1:
            raise ValueError("ensemble members must predict the same coefficients")
        self.members = nn.ModuleList(members)

    @property
    def cfg(self) -> MotionConfig:
        return self.members[0].cfg

    @property
    def uses_phonetics(self) -> bool:
        return any(m.uses_phonetics for m in self.members)

    @property
    def uses_formants(self) -> bool:
        return any(m.uses_formants for m in self.members)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(windows) for m in self.members]).mean(dim=0)

    def predict(self, blocks: Any) -> np.ndarray:
        """MotionNet.predict averaged over the members, reading `blocks` (maybe a generator) once."""
        return _predict(list(self.members), blocks)


@torch.no_grad()
def _predict(nets: list[MotionNet], blocks: Any) -> np.ndarray:
    """[T, K] mean prediction of `nets` over window blocks read once: each block is embedded by every net,
    then each net's LSTM runs over its whole embedding sequence (tiny), so memory stays bounded.

    Runs on one thread: the LSTM is a chain of tiny steps, and two threads on a busy 2-core machine made a
    1500-frame pass 100-1000x slower (measured: 0.02 s vs 3-17 s)."""
    for net in nets:
        net.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        embs: list[list[torch.Tensor]] = [[] for _ in nets]
        for b in blocks:
            x = torch.from_numpy(np.ascontiguousarray(b))[None]
            for i, net in enumerate(nets):
                embs[i].append(net.embed_windows(x)[0])
        preds = [net.decode(torch.cat(e, dim=0)[None])[0] for net, e in zip(nets, embs, strict=True)]
        return (preds[0] if len(preds) == 1 else torch.stack(preds).mean(dim=0)).numpy()
    finally:
        torch.set_num_threads(threads)


Model = MotionNet | MotionEnsemble


def members_of(model: Model) -> list[MotionNet]:
    return list(model.members) if isinstance(model, MotionEnsemble) else [model]


def save_checkpoint(path: str | os.PathLike[str], model: Model, meta: dict[str, Any]) -> Path:
    """Write model weights + config + metadata (face model id, basis names, pose style...) atomically."""
    if isinstance(model, MotionEnsemble):
        payload = {"format": CHECKPOINT_FORMAT, "version": 2, "meta": meta,
                   "members": [{"config": asdict(m.cfg), "state": m.state_dict()} for m in model.members]}
    else:  # the version-1 layout, byte for byte: older readers keep reading single models
        payload = {"format": CHECKPOINT_FORMAT, "version": 1, "config": asdict(model.cfg),
                   "state": model.state_dict(), "meta": meta}
    return save_torch(path, payload)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Model, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"motion model not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # truncated or foreign file
        raise UserError(f"{path} is not a readable motion model ({type(exc).__name__})",
                        hint="delete it and run `talking-head personalize` / `train-general` again") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a Talking Head motion model")
    if payload.get("version", 0) > CHECKPOINT_VERSION:
        raise UserError(f"{path} was written by a newer Talking Head (motion model version {payload['version']})",
                        hint="update Talking Head")
    nets = []
    for part in payload.get("members") or [payload]:
        net = MotionNet(MotionConfig(**part["config"]))
        net.load_state_dict(part["state"])
        nets.append(net)
    model: Model = nets[0] if len(nets) == 1 else MotionEnsemble(nets)
    model.eval()
    return model, payload["meta"]
