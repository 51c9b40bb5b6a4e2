"""Talking Head for Blender: the add-on package (stdlib + bpy (+ Blender's numpy) only; never the backend).

`register()` / `unregister()` are re-exported by the repository root's `__init__.py`, which is what Blender
loads when the repository is built as an extension (see blender_manifest.toml). bpy is imported only inside
them, so the pure packages (data/, clients/) import and test without Blender.
"""

from __future__ import annotations


def _classes() -> tuple[type, ...]:
    from .blender import operators, panel, preferences, server_operators

    return (preferences.TalkingHeadPreferences, *operators.CLASSES, *server_operators.CLASSES,
            panel.TALKING_HEAD_PT_main)


def register() -> None:
    import bpy

    from .blender import properties

    properties.register()
    for cls in _classes():
        bpy.utils.register_class(cls)


def unregister() -> None:
    import bpy

    from .blender import jobs, properties, server_operators

    jobs.shutdown()  # kill a running backend process and remove the timer (bpy hangs at exit otherwise)
    server_operators.shutdown()  # stop the local backend service and its start-up timer
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
    properties.unregister()
