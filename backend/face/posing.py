"""Face-model state -> camera-frame vertices (torch, differentiable; batched over frames)."""

from __future__ import annotations

import numpy as np
import torch

from backend.face.rotation import euler_to_matrix


def posed_vertices(identity: torch.Tensor, basis: torch.Tensor, expression: torch.Tensor,
                   pose: torch.Tensor) -> torch.Tensor:
    """identity [V,3], basis [K,V,3], expression [T,K], pose [T,6] -> camera-frame vertices [T,V,3]."""
    local = identity + torch.einsum("tk,kvc->tvc", expression, basis)
    return local @ euler_to_matrix(pose[:, :3]).transpose(1, 2) + pose[:, None, 3:]


def posed_vertices_np(identity: np.ndarray, basis: np.ndarray, expression: np.ndarray,
                      pose: np.ndarray) -> np.ndarray:
    t = [torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in (identity, basis, expression, pose)]
    return posed_vertices(*t).numpy()


def project_np(vertices_cam: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """[...,3] camera-frame points -> [...,2] image pixels (x right, y down)."""
    f, cx, cy = camera
    z = -vertices_cam[..., 2]
    return np.stack([cx + f * vertices_cam[..., 0] / z, cy - f * vertices_cam[..., 1] / z], axis=-1)
