"""The refiner's memory of the target person (after Yi et al. 2020's memory network).

The paper's memory holds key/value pairs learned from the training frames: keys are spatial features of a
render, values identity features of the real frames; a query retrieves its top-k keys by cosine similarity,
and the keys are trained with a threshold triplet loss so that renders whose real frames look alike
(values closer than a threshold) end up near each other. Here the keys are the geometry the renderer
already knows (expression coefficients, head rotation, mouth and eye openness, each scaled by its spread
over the training frames), so "renders that should look alike are near" holds by construction and needs no
triplet training; the values are the real training frames' appearance in the mouth and eye regions
(teeth, tongue, the inside of the mouth, eyes open or shut). A query returns the distance-weighted mean of
its top-k values, which the generator receives as three more input planes: the teeth and eyes it draws come
from real frames of this person. While training, frames within `exclude` frames of the target are never
returned, so the generator learns to use a different moment's appearance, as at render time.
"""

from __future__ import annotations

import numpy as np


class Memory:
    def __init__(self, keys: np.ndarray, values: np.ndarray, scale: np.ndarray | None = None) -> None:
        """keys [N,D] raw key vectors, values [N,3,R,R] uint8; `scale` [D] (default: the keys' spread)."""
        keys = np.asarray(keys, np.float32)
        if scale is None:
            scale = keys.std(0) + 1e-3 * (keys.std(0).max() + 1e-6)
        self.scale = np.asarray(scale, np.float32)
        self.keys = keys / self.scale
        self.values = np.asarray(values, np.uint8)

    def __len__(self) -> int:
        return len(self.keys)

    def search(self, query: np.ndarray, k: int = 3, exclude: np.ndarray | None = None,
               exclude_radius: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """query [B,D] raw keys -> (indices [B,k], weights [B,k] summing to 1). `exclude` [B]: a memory
        index per query whose neighbours within `exclude_radius` are skipped (training)."""
        q = np.asarray(query, np.float32) / self.scale
        d = np.sqrt(((q[:, None] - self.keys[None]) ** 2).sum(-1))
        k = min(k, len(self))
        if exclude is not None:
            near = np.abs(np.arange(len(self))[None] - np.asarray(exclude)[:, None]) <= exclude_radius
            near[(~near).sum(1) < k] = False  # too few frames outside the window (a tiny memory): keep all
            d[near] = np.inf
        idx = np.argsort(d, axis=1, kind="stable")[:, :k]
        dist = np.take_along_axis(d, idx, 1)
        w = 1.0 / (dist + 1e-3 * (1.0 + dist[:, :1]))
        return idx, (w / w.sum(1, keepdims=True)).astype(np.float32)

    def read(self, query: np.ndarray, k: int = 3, exclude: np.ndarray | None = None,
             exclude_radius: int = 0) -> np.ndarray:
        """The retrieved appearance [B,3,R,R] float in 0..1: the weighted mean of the top-k values."""
        idx, w = self.search(query, k, exclude, exclude_radius)
        v = self.values[idx].astype(np.float32) / 255.0  # [B,k,3,R,R]
        return (v * w[:, :, None, None, None]).sum(1)

    def state(self) -> dict[str, np.ndarray]:
        return {"keys": self.keys * self.scale, "values": self.values, "scale": self.scale}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Memory:
        return cls(np.asarray(state["keys"]), np.asarray(state["values"]), np.asarray(state["scale"]))
