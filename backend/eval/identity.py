"""Identity similarity of output frames to real frames with dlib's 128-d face descriptor (the ResNet that
face_recognition_models ships; docs/metrics.md). The face box comes from re-tracked landmarks, not from a
detector, so tight face crops (where dlib's HOG detector often finds nothing) still get a descriptor."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from backend.core.errors import UserError


def _models_dir() -> Path:
    # importing face_recognition_models pulls pkg_resources (deprecated): find its folder without importing it
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("identity_cos needs the face_recognition_models package",
                        hint="pip install face_recognition_models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@lru_cache(maxsize=1)
def _dlib_models() -> tuple[object, object]:
    import dlib

    d = _models_dir()
    return (dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat")),
            dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat")))


def descriptor(rgb: np.ndarray, landmarks_xy: np.ndarray) -> np.ndarray | None:
    """128-d descriptor of the face whose [478,2] landmarks are given (None when they are missing)."""
    import dlib

    if not np.isfinite(landmarks_xy).all():
        return None
    predictor, net = _dlib_models()
    lo, hi = landmarks_xy[:468].min(0), landmarks_xy[:468].max(0)
    rect = dlib.rectangle(int(lo[0]), int(lo[1]), int(np.ceil(hi[0])), int(np.ceil(hi[1])))
    image = np.ascontiguousarray(rgb)
    shape = predictor(image, rect)  # type: ignore[operator]
    return np.asarray(net.compute_face_descriptor(image, shape), dtype=np.float64)  # type: ignore[attr-defined]


def sample_indices(n: int, count: int) -> np.ndarray:
    """`count` frame indices spread evenly over n frames (all when n <= count)."""
    return np.unique(np.linspace(0, n - 1, min(n, count)).round().astype(int)) if n else np.zeros(0, int)


def descriptors(frames: np.ndarray, landmarks: np.ndarray, indices: np.ndarray) -> dict[int, np.ndarray]:
    out = {}
    for i in indices.tolist():
        d = descriptor(frames[i], landmarks[i])
        if d is not None:
            out[i] = d
    return out


def identity_cos(output: dict[int, np.ndarray], real: dict[int, np.ndarray]) -> tuple[float, int]:
    """Mean cosine similarity of output and real descriptors of the same frames; (value, frames used)."""
    common = sorted(set(output) & set(real))
    if not common:
        return float("nan"), 0
    cos = [float(output[i] @ real[i] / (np.linalg.norm(output[i]) * np.linalg.norm(real[i]))) for i in common]
    return float(np.mean(cos)), len(common)
