# pyright: reportInvalidTypeForm=false
"""Operators for the backend service: Start / Stop local backend, Refresh status.

Start launches `<backend python> -m backend serve` (addon/clients/local_server.py) and, once /api/v1/health answers,
sets the backend URL so that Analyze / Generate / Render go through it. In the UI a timer waits for the
server (Blender stays responsive); in background mode, where timers never fire, the operator waits itself.
The timer is removed when it is done, on Stop, and in `shutdown()` (unregister), which also stops the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import bpy
from bpy.props import BoolProperty

from ..clients import backend_status, local_server
from ..clients.client import resolve_python
from ..errors import AddonError
from .preferences import get_settings, set_backend_url

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

WATCH_INTERVAL_S = 0.5


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "PREFERENCES"):
                area.tag_redraw()


def starting() -> bool:
    return bpy.app.timers.is_registered(watch_tick)


def _adopt(server: local_server.LocalServer) -> backend_status.BackendStatus:
    """The server answers: point the add-on at it and show its status."""
    set_backend_url(server.url)
    return backend_status.refresh(server.url, online_access=bool(bpy.app.online_access))


def watch_tick() -> float | None:
    """Timer callback while the local server starts: the next interval, or None once it answered or failed."""
    server = local_server.current()
    if server is None:
        return None
    try:
        if not server.ready():
            return WATCH_INTERVAL_S
        _adopt(server)
    except AddonError as exc:
        local_server.stop()
        backend_status.remember(server.url, False, str(exc))
        scene = bpy.context.scene
        if scene is not None:  # the URL was never set, so the panel's error box is where this shows
            scene.talking_head.error = str(exc)  # type: ignore[attr-defined]
    _redraw()
    return None


class TALKING_HEAD_OT_start_backend(bpy.types.Operator):
    """Start the Talking Head backend service on this machine with the Backend Python and use it"""

    bl_idname = "talking_head.start_backend"
    bl_label = "Start Local Backend"

    wait: BoolProperty(name="Wait", default=False, options={"SKIP_SAVE"},
                       description="Return only once the backend answers (always so in background mode)")

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        settings = get_settings(context)
        try:
            server = local_server.start(resolve_python(settings.python_path), settings.local_port,
                                        settings.local_data_dir)
            if not (self.wait or bpy.app.background):
                backend_status.remember(server.url, False, f"Starting the local backend at {server.url}...")
                if not starting():
                    bpy.app.timers.register(watch_tick, first_interval=WATCH_INTERVAL_S)
                self.report({"INFO"}, f"Starting the local backend at {server.url}")
                return {"FINISHED"}
            try:
                server.wait_ready()
            except AddonError:
                local_server.stop()
                raise
            status = _adopt(server)
        except AddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Local backend running at {server.url}: {status.text}")
        return {"FINISHED"}


class TALKING_HEAD_OT_stop_backend(bpy.types.Operator):
    """Stop the backend service started by Start Local Backend (its queued jobs resume at the next start)"""

    bl_idname = "talking_head.stop_backend"
    bl_label = "Stop Local Backend"

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        server = local_server.current()
        if starting():
            bpy.app.timers.unregister(watch_tick)
        if server is None or not local_server.stop():
            self.report({"INFO"}, "No local backend is running")
            return {"CANCELLED"}
        if get_settings(context).backend_url.rstrip("/") == server.url:
            set_backend_url("", context)  # back to running steps locally, not to a dead URL
        backend_status.forget()
        _redraw()
        self.report({"INFO"}, f"Stopped the local backend at {server.url}")
        return {"FINISHED"}


class TALKING_HEAD_OT_refresh_backend(bpy.types.Operator):
    """Check the backend now: reachable, version, device, queue length"""

    bl_idname = "talking_head.refresh_backend"
    bl_label = "Refresh Backend Status"

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        settings = get_settings(context)
        if not settings.backend_url:
            try:
                python = resolve_python(settings.python_path)
            except AddonError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            self.report({"INFO"}, f"No backend URL: steps run locally with {python}")
            return {"FINISHED"}
        status = backend_status.refresh(settings.backend_url, settings.token, bool(bpy.app.online_access))
        _redraw()
        self.report({"INFO"} if status.ok else {"ERROR"}, status.text)
        return {"FINISHED"} if status.ok else {"CANCELLED"}


CLASSES = (TALKING_HEAD_OT_start_backend, TALKING_HEAD_OT_stop_backend, TALKING_HEAD_OT_refresh_backend)


def shutdown() -> None:
    """On unregister: no timer may stay registered (bpy hangs at exit), and the server goes with the add-on."""
    if starting():
        bpy.app.timers.unregister(watch_tick)
    server = local_server.current()
    if local_server.stop() and server is not None and get_settings().backend_url.rstrip("/") == server.url:
        set_backend_url("")
