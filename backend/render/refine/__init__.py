"""The personalised neural refiner (Yi et al. 2020, section 3.5: the memory-augmented GAN), trained on the
target clip's own frames: inputs from the rasterizer (`inputs`), the memory of the person's real mouth and
eye appearance (`memory`), the U-Net generator with an attention output and the 70x70 PatchGAN (`network`),
presets (`presets`), the checkpoint (`checkpoint`), training (`train`) and frame-by-frame application in the
video path (`apply`). See docs/render.md.
"""

from __future__ import annotations

from backend.core.lazy import lazy_exports

_EXPORTS = {
    "train_refiner": "train",
    "load_refiner": "checkpoint",
    "RefineStream": "apply",
    "preset_for": "presets",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
