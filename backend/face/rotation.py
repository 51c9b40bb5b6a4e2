"""Rotation conventions used everywhere: Euler XYZ in radians, R = Rz @ Ry @ Rx (Blender's 'XYZ' mode).

numpy versions for data handling, torch versions (differentiable) for fitting and rendering.
"""

from __future__ import annotations

import numpy as np
import torch


def euler_to_matrix_np(euler: np.ndarray) -> np.ndarray:
    """[..., 3] Euler XYZ radians -> [..., 3, 3] rotation matrices."""
    euler = np.asarray(euler, dtype=np.float64)
    x, y, z = euler[..., 0], euler[..., 1], euler[..., 2]
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    r = np.empty(euler.shape[:-1] + (3, 3))
    r[..., 0, 0] = cy * cz
    r[..., 0, 1] = sx * sy * cz - cx * sz
    r[..., 0, 2] = cx * sy * cz + sx * sz
    r[..., 1, 0] = cy * sz
    r[..., 1, 1] = sx * sy * sz + cx * cz
    r[..., 1, 2] = cx * sy * sz - sx * cz
    r[..., 2, 0] = -sy
    r[..., 2, 1] = sx * cy
    r[..., 2, 2] = cx * cy
    return r


def matrix_to_euler_np(r: np.ndarray) -> np.ndarray:
    """[..., 3, 3] rotation matrices -> [..., 3] Euler XYZ radians (inverse of euler_to_matrix_np)."""
    r = np.asarray(r, dtype=np.float64)
    sy = np.clip(-r[..., 2, 0], -1.0, 1.0)
    y = np.arcsin(sy)
    x = np.arctan2(r[..., 2, 1], r[..., 2, 2])
    z = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    return np.stack([x, y, z], axis=-1)


def euler_to_matrix(euler: torch.Tensor) -> torch.Tensor:
    """Differentiable torch version of euler_to_matrix_np: [..., 3] -> [..., 3, 3]."""
    x, y, z = euler[..., 0], euler[..., 1], euler[..., 2]
    cx, sx, cy, sy, cz, sz = x.cos(), x.sin(), y.cos(), y.sin(), z.cos(), z.sin()
    row0 = torch.stack([cy * cz, sx * sy * cz - cx * sz, cx * sy * cz + sx * sz], dim=-1)
    row1 = torch.stack([cy * sz, sx * sy * sz + cx * cz, cx * sy * sz - sx * cz], dim=-1)
    row2 = torch.stack([-sy, sx * cy, cx * cy], dim=-1)
    return torch.stack([row0, row1, row2], dim=-2)


def unwrap_euler(euler: np.ndarray) -> np.ndarray:
    """Remove 2*pi jumps along time (axis 0) so curves stay continuous for smoothing and keyframes."""
    return np.unwrap(np.asarray(euler, dtype=np.float64), axis=0)
