"""Stage 1, analysis: a target clip (or its frames) to a profile directory. `analyze` streams frames
(backend.media), tracks MediaPipe landmarks (`tracking`), fits identity, per-frame expression and pose
(`fitting`), smooths pose and expression (`smoothing`), unwraps the texture and fits SH lighting through the
renderer (backend.render.texture: analysis by synthesis), measures fit quality and draws the overlay video.
"""

from __future__ import annotations

from backend.core.lazy import lazy_exports

_EXPORTS = {
    "analyze": "pipeline",
    "track_frames": "tracking",
    "fit_sequence": "fitting",
    "FitConfig": "fitting",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
