"""Mouth geometry through the face model: which vertices are the mouth, inner-lip opening, mouth distance.

Definitions (also in docs/motion.md), all pose-free, in the model's head-local metres:

- vertices(e) = neutral + sum_k e_k basis[k]
- inner-lip opening(e) = mean over the model's `mouth_pairs` (upper, lower inner-lip vertex) of the
  Euclidean distance between the two vertices
- mouth vertices: the 40 MediaPipe lip vertices (inner and outer contours) on the 468-vertex topology,
  else the model's `mouth_inner`
- mouth_lmd(e_pred, e_true) = mean over frames and mouth vertices of |v_pred - v_true|
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# MediaPipe FACEMESH_LIPS vertex ids (inner + outer contours), valid for the 468-vertex topology.
LIPS_468 = np.array([0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
                     267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415])


@dataclass
class MouthModel:
    neutral: np.ndarray  # [M, 3] neutral mouth vertices
    basis: np.ndarray  # [K, M, 3] their expression displacements
    pair_rows: np.ndarray  # [P, 2] rows of `neutral` forming upper/lower inner-lip pairs

    @classmethod
    def from_arrays(cls, vertices: np.ndarray, basis: np.ndarray, mouth_pairs: np.ndarray,
                    mouth_inner: np.ndarray) -> MouthModel:
        ids = LIPS_468 if vertices.shape[0] == 468 else np.asarray(mouth_inner)
        ids = np.union1d(ids, np.asarray(mouth_pairs).ravel())
        row = {int(v): i for i, v in enumerate(ids)}
        pairs = np.array([[row[int(a)], row[int(b)]] for a, b in np.asarray(mouth_pairs)], dtype=np.int64)
        return cls(vertices[ids].astype(np.float64), basis[:, ids].astype(np.float64), pairs)

    @classmethod
    def load(cls, face_model_npz: str | Path) -> MouthModel:
        with np.load(face_model_npz, allow_pickle=False) as z:
            return cls.from_arrays(z["vertices"], z["basis"], z["mouth_pairs"], z["mouth_inner"])

    def vertices(self, expression: np.ndarray) -> np.ndarray:
        """[T, K] -> [T, M, 3] mouth vertices."""
        return self.neutral + np.tensordot(np.asarray(expression, np.float64), self.basis, axes=([-1], [0]))

    def opening(self, expression: np.ndarray) -> np.ndarray:
        """[T] inner-lip opening in metres."""
        v = self.vertices(expression)
        return np.linalg.norm(v[:, self.pair_rows[:, 0]] - v[:, self.pair_rows[:, 1]], axis=-1).mean(axis=1)

    def lmd(self, pred: np.ndarray, true: np.ndarray) -> float:
        """Mean 3D distance (metres) between predicted and true mouth vertices over frames and vertices."""
        return float(np.linalg.norm(self.vertices(pred) - self.vertices(true), axis=-1).mean())

    def flat_basis(self) -> np.ndarray:
        """[K, M*3] linear map from coefficients to mouth-vertex displacements (for the training loss)."""
        return self.basis.reshape(self.basis.shape[0], -1)
