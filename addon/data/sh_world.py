"""The profile's lighting (lighting.json: second-order SH radiance in the camera frame, the convention of
backend/render/shading.py) as an equirectangular environment for Blender's world, so a Lambertian face in
Cycles is lit as the analysis found it. Blender's equirect: u = -atan2(y, x) / 2pi + 0.5,
v = atan2(z, hypot(x, y)) / pi + 0.5 over world directions; world = Rx(+90 deg) camera (the TH_root turn)."""

from __future__ import annotations

import math

import numpy as np

C0 = 0.5 * math.sqrt(1.0 / math.pi)
C1 = math.sqrt(3.0 / (4.0 * math.pi))
C2 = 0.5 * math.sqrt(15.0 / math.pi)
C20 = 0.25 * math.sqrt(5.0 / math.pi)
C22 = 0.25 * math.sqrt(15.0 / math.pi)


def sh_basis(d: np.ndarray) -> np.ndarray:
    """[..., 9] real SH (same order and constants as backend/render/shading.py) of unit directions [..., 3]."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return np.stack([np.full_like(x, C0), C1 * y, C1 * z, C1 * x, C2 * x * y, C2 * y * z,
                     C20 * (3 * z * z - 1), C2 * x * z, C22 * (x * x - y * y)], -1)


def equirect(sh: np.ndarray, width: int = 64, height: int = 32) -> np.ndarray:
    """[height, width, 4] float RGBA radiance, row 0 at the bottom (Blender's pixel order), clamped >= 0."""
    u = (np.arange(width, dtype=np.float64) + 0.5) / width
    v = (np.arange(height, dtype=np.float64) + 0.5) / height
    phi = (0.5 - u[None, :]) * 2 * math.pi
    theta = (v[:, None] - 0.5) * math.pi
    world = np.stack([np.cos(phi) * np.cos(theta), np.sin(phi) * np.cos(theta),
                      np.sin(theta) * np.ones_like(phi)], -1).astype(np.float64)
    cam = np.stack([world[..., 0], world[..., 2], -world[..., 1]], -1)  # Rx(-90 deg): world -> camera frame
    rgb = np.clip(sh_basis(cam) @ np.asarray(sh, np.float64).reshape(9, 3), 0.0, None)
    return np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,))], -1).astype(np.float32)


def read_sh(path: str) -> np.ndarray | None:
    """[9, 3] from lighting.json, or None when absent or malformed (the world then stays as it is)."""
    import json
    import os

    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            sh = np.asarray(json.load(fh).get("sh"), dtype=np.float64)
    except (ValueError, TypeError, AttributeError, OSError):
        return None
    return sh if sh.shape == (9, 3) and np.isfinite(sh).all() else None
