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
        box = layout.box()  # how a take lands in the scene
        box.prop(props, "rig_mode")
        row = box.row(align=True)
        row.prop(props, "framing")
        row.prop(props, "lighting")
        row = box.row(align=True)
        row.prop(props, "match_fps")
        row.prop(props, "closed_geometry")

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
        row = col.row(align=True)
        row.prop(props, "audio_dir", text="")
        row.operator("talking_head.batch_generate", text="Batch", icon="SEQ_SEQUENCER")
        _draw_takes(col, context)
        box = layout.box()
        box.label(text="Retarget to your character", icon="ARMATURE_DATA")
        box.prop(props, "retarget_mesh")
        row = box.row(align=True)
        row.prop(props, "keymap_path")
        row.operator("talking_head.save_keymap", text="", icon="FILE_TICK")
        row = box.row(align=True)
        row.prop(props, "retarget_head")
        row.prop(props, "retarget_bone", text="")
        box.operator("talking_head.retarget", icon="MOD_DATA_TRANSFER")

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


def _draw_takes(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """One button per take (NLA track) to make it the active one."""
    from . import animation

    rig = animation.find_rig(context.scene, hint=context.active_object) if context.scene else None
    takes = animation.take_numbers(rig) if rig is not None else []
    if len(takes) < 2:
        return
    current = int(rig.head.get("th_take", 0)) if rig is not None else 0
    row = layout.row(align=True)
    for take in takes[-8:]:
        op = row.operator("talking_head.switch_take", text=str(take), depress=take == current)
        op.take = take  # type: ignore[attr-defined]


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
