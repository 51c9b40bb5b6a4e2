"""Landmarks projected from a known face-model state: ground truth for fitting tests."""

from __future__ import annotations

import numpy as np

from backend.face.model import FaceModel
from backend.face.posing import posed_vertices_np, project_np


def synthetic_landmarks(model: FaceModel, frames: int = 40, noise_px: float = 0.5, seed: int = 0,
                        width: int = 512, height: int = 512, focal: float = 600.0):
    """Return (landmarks [T,478,3] in MediaPipe px axes, expression [T,K], pose [T,6], camera)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, frames)
    pose = np.zeros((frames, 6))
    pose[:, 0] = np.radians(8) * np.sin(t)  # pitch
    pose[:, 1] = np.radians(15) * np.sin(0.7 * t + 1)  # yaw
    pose[:, 2] = np.radians(5) * np.cos(1.3 * t)  # roll
    pose[:, 3] = 0.01 * np.sin(t)
    pose[:, 4] = -0.01 + 0.005 * np.cos(t)
    pose[:, 5] = -0.45 + 0.02 * np.sin(0.5 * t)
    expression = rng.normal(0, 1.0, (frames, model.n_expr)) * np.linspace(1.5, 0.3, model.n_expr)
    expression -= expression.mean(0)  # fitted expressions are centred by construction
    camera = np.array([focal, width / 2, height / 2])
    cam = posed_vertices_np(model.vertices, model.basis, expression, pose)
    uv = project_np(cam, camera) + rng.normal(0, noise_px, (frames, cam.shape[1], 2))
    z_mp = cam[..., 2] * focal / cam[..., 2].mean(1, keepdims=True)  # relative depth, MediaPipe sign/scale
    lm = np.concatenate([uv, z_mp[..., None]], -1)
    iris = np.repeat(lm[:, :1], 10, axis=1)  # the 10 iris points are not used by the fit
    return np.concatenate([lm, iris], 1).astype(np.float32), expression, pose, camera
