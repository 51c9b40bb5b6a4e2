"""Stage 3, rendering: tracks + profile (+ the target clip) to video. Our differentiable rasterizer
(`raster`, `shading`: rasterize, interpolate, texture, SH shade), the texture unwrap analysis uses (`texture`),
the mouth cavity and its colours (`mouth`, `mouth_colours`), the face crop renderer (`face`), the paper's
key-frame background matching (`background`), paste-back into the full frame (`pasteback`) and the whole
video path (`video.render_video`). A neural refiner goes in `render/refine/` (docs/architecture.md).
"""

from __future__ import annotations

from backend.core.lazy import lazy_exports

_EXPORTS = {
    "render_video": "video",
    "FaceRenderer": "face",
    "estimate_texture": "texture",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
