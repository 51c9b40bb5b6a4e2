"""The face model and its geometry, shared by every stage: MediaPipe's 468-point topology (`landmarks`,
`topology`), the template and shared expression basis (`model.FaceModel`, `load_template`; `template` builds
it), rotations and posing (vertices from identity + expression + pose, pinhole projection), similarity
alignment, the stable crops, face measures (mouth opening, rotation jerk/jitter, Pearson correlation) and the
profile directory (`profile`: a person's face model plus what analysis measured, docs/formats.md).

No stage lives here: analysis, motion, render and export all build on this package.
"""

from __future__ import annotations

from backend.core.lazy import lazy_exports

_EXPORTS = {
    "FaceModel": "model",
    "load_template": "model",
    "models_dir": "model",
    "Profile": "profile",
    "load_profile": "profile",
    "read_manifest": "profile",
    "posed_vertices": "posing",
    "posed_vertices_np": "posing",
    "project_np": "posing",
    "euler_to_matrix": "rotation",
    "crop_camera": "crops",
    "mouth_opening": "metrics",
    "pearson": "metrics",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
