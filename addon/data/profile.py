"""A profile directory as the add-on needs it: manifest, face model arrays, camera, texture path.

Uses numpy (bundled with Blender) for face_model.npz / fit.npz; no bpy, so it is testable anywhere."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import AddonError
from .formats import load_manifest


@dataclass
class Profile:
    directory: str
    manifest: dict[str, Any]
    vertices: np.ndarray  # [N, 3] float32, head-local metres
    triangles: np.ndarray  # [F, 3] int32, CCW seen from +z
    uvs: np.ndarray  # [N, 2] float32, v up
    basis: np.ndarray  # [K, N, 3] float32 metres per unit coefficient
    basis_names: list[str]
    camera: tuple[float, float, float]  # (f, cx, cy) in pixels of the clip frame

    @property
    def profile_id(self) -> str:
        return str(self.manifest.get("profile_id", ""))

    @property
    def width(self) -> int:
        return int(self.manifest["width"])

    @property
    def height(self) -> int:
        return int(self.manifest["height"])

    @property
    def fps(self) -> float:
        return float(self.manifest.get("fps") or 25.0)

    @property
    def texture_path(self) -> str | None:
        path = os.path.join(self.directory, "texture.png")
        return path if os.path.isfile(path) else None

    @property
    def audio_path(self) -> str | None:
        path = os.path.join(self.directory, "audio.wav")
        return path if os.path.isfile(path) else None

    @property
    def tracks_path(self) -> str | None:
        path = os.path.join(self.directory, "tracks.json")
        return path if os.path.isfile(path) else None


def _load_npz(path: str, what: str) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise AddonError(f"{what} missing: {path}. The profile is incomplete; re-run Analyze.")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise AddonError(f"{what} {path} could not be read ({exc}). Re-run Analyze.") from None


def load_profile(directory: str) -> Profile:
    """Load and check everything the scene needs, before anything is created in Blender."""
    directory = os.path.abspath(directory)
    manifest = load_manifest(directory)
    model_path = os.path.join(directory, "face_model.npz")
    model = _load_npz(model_path, "Face model")
    for key in ("vertices", "triangles", "uvs", "basis"):
        if key not in model:
            raise AddonError(f"{model_path} lacks '{key}'. Re-run Analyze.")
    vertices = np.asarray(model["vertices"], dtype=np.float32)
    n = vertices.shape[0] if vertices.ndim == 2 else -1
    triangles = np.asarray(model["triangles"])
    uvs = np.asarray(model["uvs"], dtype=np.float32)
    basis = np.asarray(model["basis"], dtype=np.float32)
    names = [str(s) for s in model["basis_names"]] if "basis_names" in model else list(manifest["basis_names"])
    problems = []
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        problems.append(f"vertices has shape {vertices.shape}, expected [N,3]")
    if triangles.ndim != 2 or triangles.shape[1] != 3 or not np.issubdtype(triangles.dtype, np.integer):
        problems.append(f"triangles has shape {triangles.shape} / dtype {triangles.dtype}, expected int [F,3]")
    elif triangles.size and (triangles.min() < 0 or triangles.max() >= n):
        problems.append("triangles index vertices that do not exist")
    if uvs.shape != (n, 2):
        problems.append(f"uvs has shape {uvs.shape}, expected [{n},2]")
    if basis.ndim != 3 or basis.shape[1:] != (n, 3):
        problems.append(f"basis has shape {basis.shape}, expected [K,{n},3]")
    elif basis.shape[0] != len(names):
        problems.append(f"basis has {basis.shape[0]} components but {len(names)} names")
    if names != list(manifest["basis_names"]):
        problems.append("basis_names differ between face_model.npz and manifest.json")
    if problems:
        raise AddonError(f"Profile {directory} is inconsistent: {'; '.join(problems)}. Re-run Analyze.")
    camera = _camera(directory, int(manifest["width"]), int(manifest["height"]))
    return Profile(directory=directory, manifest=manifest, vertices=vertices,
                   triangles=triangles.astype(np.int32), uvs=uvs, basis=basis, basis_names=names, camera=camera)


def _camera(directory: str, width: int, height: int) -> tuple[float, float, float]:
    """(f, cx, cy) from fit.npz; without one, f = frame width (about 53 degrees wide), centred."""
    path = os.path.join(directory, "fit.npz")
    if os.path.isfile(path):
        fit = _load_npz(path, "Fit")
        cam = np.asarray(fit.get("camera", ()), dtype=np.float64).reshape(-1)
        if cam.shape == (3,) and np.isfinite(cam).all() and cam[0] > 0:
            return float(cam[0]), float(cam[1]), float(cam[2])
    return float(width), width / 2.0, height / 2.0
