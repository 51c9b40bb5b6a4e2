"""Exports of an animated face for pipelines outside Blender: glTF 2.0 binary (`export_glb`) with the
face mesh, its morph targets and the head animation.
"""

from __future__ import annotations

from backend.core.lazy import lazy_exports

_EXPORTS = {
    "export_glb": "gltf",
    "build_gltf": "gltf",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
