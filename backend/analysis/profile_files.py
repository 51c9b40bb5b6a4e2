"""The files every analysis writes into a profile (clip or photo alike): face model, fit arrays, texture,
lighting and the clip's own tracks (docs/formats.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from backend.core.tracks import Tracks, save_tracks
from backend.face.model import FaceModel


def write_profile_files(out: Path, model: FaceModel, landmarks: np.ndarray, valid: np.ndarray, fit: Any,
                        pose: np.ndarray, expression: np.ndarray, crops: dict[int, np.ndarray], albedo: np.ndarray,
                        sh: np.ndarray, fps: float, profile_id: str, provenance: dict[str, Any]) -> None:
    """`fit`: the raw fit (pose, expression, camera); `pose`/`expression`: the smoothed ones the profile keeps."""
    model.save(out / "face_model.npz")
    with open(out / "fit.npz", "wb") as fh:
        np.savez_compressed(fh, landmarks=landmarks, valid=valid, pose_raw=fit.pose, pose=pose,
                            expression_raw=fit.expression, expression=expression, camera=fit.camera,
                            crop_256=crops[256], crop_512=crops[512])
    cv2.imwrite(str(out / "texture.png"), cv2.cvtColor((np.clip(albedo, 0, 1) * 255).astype(np.uint8),
                                                         cv2.COLOR_RGB2BGR))
    (out / "lighting.json").write_text(json.dumps({"sh": sh.round(6).tolist(), "frame": "camera"}) + "\n")
    save_tracks(Tracks(fps=fps, basis=model.basis_names, expression=expression, pose=pose, profile_id=profile_id,
                       face_model=model.model_id, provenance=provenance), out / "tracks.json")
