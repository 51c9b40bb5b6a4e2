"""The profile directory (docs/formats.md): cache key, manifest, loading."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.errors import UserError
from backend.face.model import FaceModel

FORMAT = "talking-head-profile"
VERSION = 1
# Bump when analysis changes enough that cached profiles must be rebuilt.
ANALYSIS_VERSION = 1


def cache_key(clip_sha: str, audio_sha: str | None, fps: float, model_id: str) -> str:
    return f"{clip_sha}:{audio_sha or '-'}:{fps:g}:{model_id}:a{ANALYSIS_VERSION}"


def profile_id_for(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class Profile:
    path: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.manifest["profile_id"])

    @property
    def fps(self) -> float:
        return float(self.manifest["fps"])

    def face_model(self) -> FaceModel:
        return FaceModel.load(self.path / "face_model.npz")

    def fit(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "fit.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def lighting(self) -> np.ndarray:
        return np.asarray(json.loads((self.path / "lighting.json").read_text())["sh"], dtype=np.float32)

    @property
    def audio_path(self) -> Path | None:
        p = self.path / "audio.wav"
        return p if p.is_file() else None


def is_photo_profile(manifest: dict[str, Any] | None) -> bool:
    """True for a profile analysed from one photo (backend.analysis.photo), not from a clip."""
    return bool(manifest) and (manifest.get("source") or {}).get("kind") == "photo"  # type: ignore[union-attr]


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    file = Path(path) / "manifest.json"
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError:
        return None


def is_current_profile(out_dir: Path, key: str, force: bool) -> bool:
    """True when `out_dir` already holds the profile of these inputs (`key`: their cache key) and `force` is off,
    so analysis can reuse it. Refuses a folder that holds anything other than a Talking Head profile."""
    existing = read_manifest(out_dir)
    if existing and existing.get("cache_key") == key and not force:
        return True
    if out_dir.exists() and existing is None and any(out_dir.iterdir()):
        raise UserError(f"{out_dir} exists and is not a Talking Head profile; refusing to overwrite it",
                        hint="choose a new or empty output directory")
    return False


def load_profile(path: str | os.PathLike[str]) -> Profile:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"not a profile directory (it does not exist): {path}",
                        hint="create it with `talking-head analyze CLIP -o DIR`")
    manifest = read_manifest(path)
    if manifest is None or manifest.get("format") != FORMAT:
        raise UserError(f"not a profile directory (no valid Talking Head manifest.json): {path}",
                        hint="create it with `talking-head analyze CLIP -o DIR`")
    if int(manifest.get("version", 0)) > VERSION:
        raise UserError(f"profile {path} has format version {manifest['version']}, newer than this software "
                        f"understands ({VERSION})", hint="update Talking Head")
    return Profile(path=path, manifest=manifest)
