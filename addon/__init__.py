"""Talking Head for Blender: the add-on package (stdlib + bpy (+ Blender's numpy) only; never the backend).

`register()` / `unregister()` are re-exported by the repository root's `__init__.py`, which is what Blender
loads when the repository is built as an extension (see blender_manifest.toml).
"""

from __future__ import annotations

import bpy

from . import jobs, operators, panel, preferences, properties

_CLASSES = (preferences.TalkingHeadPreferences, *operators.CLASSES, panel.TALKING_HEAD_PT_main)


def register() -> None:
    properties.register()
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    jobs.shutdown()  # kill a running backend process and remove the timer (bpy hangs at exit otherwise)
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
    properties.unregister()
