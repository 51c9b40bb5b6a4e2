"""The "Talking Head" sidebar panel in the 3D Viewport (N panel)."""

from __future__ import annotations

from typing import Any

import bpy

from ..clients import local_server
from ..clients.backend_status import last as last_status
from ..clients.client import resolve_python
from ..errors import AddonError
from . import jobs, server_operators
from .preferences import get_settings


def backend_status(context: bpy.types.Context) -> tuple[bool, str]:
    """A cheap line for the panel: no process is started and nothing is asked over the network while drawing
    (the service's status is the last Refresh; see backend_status.py)."""
    settings = get_settings(context)
    if settings.backend_url:
        status = last_status(settings.backend_url)
        if status is None:
            return True, f"Service {settings.backend_url} (not checked: Refresh)"
        return status.ok, f"Service {status.url}: {status.text}" if status.ok else status.text
    try:
        return True, f"Local: {resolve_python(settings.python_path)}"
    except AddonError as exc:
        return False, str(exc)


def draw_backend(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    ok, status = backend_status(context)
    server = local_server.current()
    if server is not None and server_operators.starting():
        ok, status = True, f"Starting the local backend at {server.url}..."
    box = layout.box()
    lines = _wrap(status)
    row = box.row()
    row.alert = not ok
    row.label(text=lines[0], icon="CHECKMARK" if ok else "ERROR")
    for line in lines[1:]:
        sub = box.row()
        sub.alert = not ok
        sub.label(text=line)
    row = box.row(align=True)
    if server is not None and server.running:
        row.operator("talking_head.stop_backend", icon="PAUSE")
    else:
        row.operator("talking_head.start_backend", icon="PLAY")
    row.operator("talking_head.refresh_backend", text="", icon="FILE_REFRESH")


class TALKING_HEAD_PT_main(bpy.types.Panel):
    bl_idname = "TALKING_HEAD_PT_main"
    bl_label = "Talking Head"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Talking Head"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        if layout is None:
            return
        props: Any = context.scene.talking_head  # type: ignore[attr-defined]
        draw_backend(layout, context)

        col = layout.column(align=True)
        col.prop(props, "clip")
        col.prop(props, "clip_audio")
        col.prop(props, "audio")
        box = layout.box()
        box.prop(props, "pose_mode")
        box.prop(props, "smoothing")
        box.prop(props, "expression_scale")
        box.prop(props, "start_frame")
        box.prop(props, "output_dir")

        busy = props.running and jobs.active() is not None
        col = layout.column(align=True)
        col.enabled = not busy
        row = col.row(align=True)
        row.operator("talking_head.analyze", icon="VIEWZOOM")
        row.operator("talking_head.generate", icon="PLAY")
        row = col.row(align=True)
        row.operator("talking_head.import_tracks", icon="IMPORT")
        row.operator("talking_head.bake_tracks", icon="KEYINGSET")
        row = col.row(align=True)
        row.operator("talking_head.render_photoreal", icon="RENDER_ANIMATION")
        row.operator_menu_enum("talking_head.export", "format", text="Export", icon="EXPORT")

        if busy:
            row = layout.row(align=True)
            row.progress(factor=props.progress, type="BAR", text=props.stage or "working")
            row.operator("talking_head.cancel", text="", icon="CANCEL")
        if props.error:
            box = layout.box()
            box.alert = True
            for line in _wrap(props.error):
                box.label(text=line)
        elif props.result:
            layout.label(text=props.result, icon="INFO")
        if props.profile_dir:
            layout.label(text=f"Profile: {bpy.path.basename(props.profile_dir.rstrip('/'))}")
        if props.video_path:
            layout.label(text=f"Video: {bpy.path.basename(props.video_path)}")


def _wrap(text: str, width: int = 48) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for word in paragraph.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
    return lines
