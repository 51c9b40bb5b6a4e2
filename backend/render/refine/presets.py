"""Refiner presets: `draft` (CPU, minutes) and `full` (GPU), chosen from the device and overridable."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from backend.core.errors import UserError


@dataclass(frozen=True)
class RefinerConfig:
    net_size: int = 128  # the networks run at this many px; the output is blended at the render size
    out_size: int = 256  # crop size the training targets are cut at (the render's --size)
    width: int = 16  # U-Net channels at full resolution (doubled per level)
    levels: int = 4  # U-Net down-sampling levels
    d_width: int = 16  # PatchGAN channels of its first layer
    steps: int = 600
    batch: int = 4
    lr: float = 2e-4
    l1_weight: float = 100.0  # pix2pix's weighting of L1 against the adversarial term
    region_weight: float = 4.0  # extra L1 weight on the mouth and eye regions
    adv_weight: float = 1.0
    fm_weight: float = 10.0  # discriminator feature matching
    adv_start: float = 0.3  # fraction of the steps trained with L1 only before the GAN terms start
    memory: bool = True  # retrieve the person's real mouth/eye appearance (False: the ablation)
    top_k: int = 3
    exclude_frames: int = 6  # in training the memory never returns frames this close to the target frame
    # the input's eyes and mouth interior are inlaid from other clip frames (backend.render.inlays) instead of
    # blanked; checkpoints from before this field were trained on blanked eyes (checkpoint.config_from)
    inlays: bool = True
    # what the training frames are composited over: "own" (their own background crop: the network learns to
    # leave the background alone) or "matched" (the nearest other training frame in pose, at least
    # exclude_frames away: the mismatch a held-out frame's matched background has at render time)
    background: str = "own"
    checkpoint_every: int = 250

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS = {
    "draft": RefinerConfig(),
    "full": RefinerConfig(net_size=256, width=32, levels=5, d_width=64, steps=6000, batch=8, top_k=3),
}


def preset_for(name: str | None, device: str, **overrides: Any) -> RefinerConfig:
    """The named preset ("auto"/None: `full` on CUDA, `draft` on the CPU) with `overrides` applied."""
    if name in (None, "auto"):
        name = "full" if device.startswith("cuda") else "draft"
    if name not in PRESETS:
        raise UserError(f"unknown refiner preset {name!r}", hint=f"use one of {', '.join(PRESETS)} or auto")
    cfg = replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
    if cfg.net_size % (2 ** cfg.levels) or cfg.net_size < 2 ** (cfg.levels + 2):
        raise UserError(f"refiner net size {cfg.net_size} does not fit {cfg.levels} U-Net levels",
                        hint=f"use a multiple of {2 ** cfg.levels} of at least {2 ** (cfg.levels + 2)}")
    return cfg
