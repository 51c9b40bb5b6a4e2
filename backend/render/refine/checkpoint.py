"""The refiner checkpoint PROFILE/refiner.pt: weights, optimiser state (resume), the memory, and the
profile and face model it was trained for (a refiner only knows its own person)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from backend.core.atomic import save_torch
from backend.core.errors import UserError
from backend.face.profile import Profile
from backend.render.refine.memory import Memory
from backend.render.refine.network import FRAME_CHANNELS, Generator, PatchDiscriminator
from backend.render.refine.presets import RefinerConfig

FORMAT = "talking-head-refiner"
VERSION = 1
FILENAME = "refiner.pt"


@dataclass
class Refiner:
    config: RefinerConfig
    generator: Generator
    memory: Memory
    meta: dict[str, Any]


def config_from(d: dict[str, Any]) -> RefinerConfig:
    known = {f.name for f in fields(RefinerConfig)}
    d = {"inlays": False, **d}  # saved before the inlays existed: trained on blanked eye holes
    return RefinerConfig(**{k: v for k, v in d.items() if k in known})


def build(cfg: RefinerConfig) -> tuple[Generator, PatchDiscriminator]:
    return Generator(cfg.width, cfg.levels), PatchDiscriminator(FRAME_CHANNELS, cfg.d_width)


def save(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    return save_torch(path, {"format": FORMAT, "version": VERSION, **payload})


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        raise UserError(f"{path} is not a readable refiner checkpoint ({type(exc).__name__})",
                        hint="delete it and re-run `talking-head personalize PROFILE --refiner`") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path} is not a Talking Head refiner checkpoint",
                        hint="re-run `talking-head personalize PROFILE --refiner`")
    if int(data.get("version", 0)) > VERSION:
        raise UserError(f"refiner {path} has format version {data['version']}, newer than this software "
                        f"understands ({VERSION})", hint="update Talking Head")
    return data


def check_owner(data: dict[str, Any], profile: Profile, path: Path) -> None:
    """Refuse a refiner trained for another profile or face model: it would paint someone else's face."""
    if data.get("profile_id") != profile.id:
        raise UserError(f"refiner {path} was trained for profile {data.get('profile_id')}, not for {profile.path} "
                        f"(profile {profile.id})",
                        hint="train this profile's own refiner with `talking-head personalize PROFILE --refiner`, "
                             "or render with --no-refine")
    if data.get("face_model") != profile.manifest.get("face_model"):
        raise UserError(f"refiner {path} was trained with face model {data.get('face_model')!r}, the profile uses "
                        f"{profile.manifest.get('face_model')!r}",
                        hint="re-train it with `talking-head personalize PROFILE --refiner`")


def load_refiner(profile: Profile, path: str | os.PathLike[str] | None = None) -> Refiner | None:
    """The profile's trained refiner, or None when it has none (or only an unfinished training run)."""
    path = Path(path) if path else profile.path / FILENAME
    if not path.is_file():
        return None
    data = read(path)
    check_owner(data, profile, path)
    if not data.get("complete"):
        return None
    cfg = config_from(data["config"])
    gen, _ = build(cfg)
    gen.load_state_dict(data["generator"])
    gen.eval()
    return Refiner(config=cfg, generator=gen, memory=Memory.from_state(data["memory"]),
                   meta={k: data.get(k) for k in ("profile_id", "face_model", "step", "seconds", "preset")})
