"""The linear face model: identity (neutral) shape + shared expression basis on the MediaPipe topology.

vertices(e) = neutral + sum_k e_k * basis[k]   (head-local metres; see docs/formats.md)

The expression basis is defined once, in a canonical identity-normalised frame (every face scaled to the
same eye-corner distance), and shared by every profile of the same model id: a coefficient means the same
displacement on every person, which is what lets a general audio->motion model transfer between people.
The template (mean face, basis, UVs) is a model file in models/ built by `talking-head build-face-model`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from backend.core.errors import UserError
from backend.face.landmarks import INNER_LIP_LOWER, INNER_LIP_UPPER, MOUTH_PAIRS

MODEL_ID = "mp468-pca32-v1"
TEMPLATE_FILE = "face_mp468_v1.npz"


def models_dir() -> Path:
    """The model store: $TALKING_HEAD_MODELS, else the repository's models/ folder."""
    env = os.environ.get("TALKING_HEAD_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


@dataclass
class FaceModel:
    vertices: np.ndarray  # [V,3] neutral (identity) shape, metres
    triangles: np.ndarray  # [F,3] int32, counter-clockwise seen from +z
    uvs: np.ndarray  # [V,2] in [0,1], v up
    basis: np.ndarray  # [K,V,3] metres per unit coefficient
    basis_names: list[str]
    model_id: str = MODEL_ID

    @property
    def n_expr(self) -> int:
        return int(self.basis.shape[0])

    def shape(self, expression: np.ndarray) -> np.ndarray:
        """[..., K] coefficients -> [..., V, 3] vertices."""
        e = np.asarray(expression, dtype=np.float32)
        return self.vertices + np.tensordot(e, self.basis, axes=([-1], [0]))

    def with_identity(self, vertices: np.ndarray) -> FaceModel:
        return FaceModel(vertices.astype(np.float32), self.triangles, self.uvs, self.basis, self.basis_names,
                         self.model_id)

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, vertices=self.vertices.astype(np.float32), triangles=self.triangles.astype(np.int32),
                     uvs=self.uvs.astype(np.float32), basis=self.basis.astype(np.float32),
                     basis_names=np.array(self.basis_names), model_id=np.array(self.model_id),
                     mouth_inner=np.concatenate([INNER_LIP_UPPER, INNER_LIP_LOWER]).astype(np.int32),
                     mouth_pairs=MOUTH_PAIRS.astype(np.int32))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FaceModel:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"face model file not found: {path}")
        with np.load(path, allow_pickle=False) as z:
            return cls(vertices=z["vertices"], triangles=z["triangles"], uvs=z["uvs"], basis=z["basis"],
                       basis_names=[str(n) for n in z["basis_names"]], model_id=str(z["model_id"]))


@lru_cache(maxsize=2)
def load_template(path: str | None = None) -> FaceModel:
    """The built-in template: mean face, shared expression basis, UVs, triangles."""
    file = Path(path) if path else models_dir() / TEMPLATE_FILE
    if not file.is_file():
        raise UserError(f"the face model template is missing: {file}",
                        hint="it ships in models/; rebuild it with `talking-head build-face-model CLIPS...`")
    return FaceModel.load(file)
