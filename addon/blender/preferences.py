# pyright: reportInvalidTypeForm=false
"""Add-on preferences: where the backend is and how to start it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import bpy
from bpy.props import IntProperty, StringProperty

from ..clients.local_server import DEFAULT_PORT, default_data_dir

# The add-on's module name: the extension package (root shim) when installed, "addon" when imported directly.
# This module is <package>.addon.blender.preferences, so the add-on's id is __package__ without ".addon.blender".
_PKG = (__package__ or "addon.blender").removesuffix(".blender")
ADDON_ID = _PKG.removesuffix(".addon") if _PKG.endswith(".addon") else _PKG
DEFAULT_PROFILES_DIR = os.path.join(os.path.expanduser("~"), ".cache", "talking-head", "profiles")


class TalkingHeadPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    backend_url: StringProperty(name="Backend URL", default="",
                                description="URL of a running `talking-head serve` (e.g. http://127.0.0.1:8765). "
                                            "Empty: run the backend locally with the Python below")
    token: StringProperty(name="Token", subtype="PASSWORD", default="",
                          description="Access token of the backend service (needed beyond loopback)")
    python_path: StringProperty(name="Backend Python", subtype="FILE_PATH", default="",
                                description="Python of the environment with the Talking Head backend installed. "
                                            "Empty: $TALKING_HEAD_PYTHON or the project's .venv")
    profiles_dir: StringProperty(name="Profiles folder", subtype="DIR_PATH", default="",
                                 description=f"Where analysed targets are cached (empty: {DEFAULT_PROFILES_DIR})")
    local_port: IntProperty(name="Local backend port", default=DEFAULT_PORT, min=0, max=65535,
                            description="Port of the backend started by Start local backend (0: any free port)")
    local_data_dir: StringProperty(name="Local backend data", subtype="DIR_PATH", default="",
                                   description="Job store of the local backend (empty: "
                                               f"{default_data_dir()})")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "python_path")
        layout.prop(self, "profiles_dir")
        box = layout.box()
        box.label(text="Backend service (empty URL: run each step with the Python above)")
        box.prop(self, "backend_url")
        box.prop(self, "token")
        row = box.row()
        row.prop(self, "local_port")
        row.prop(self, "local_data_dir")
        row = box.row()
        row.operator("talking_head.start_backend", icon="PLAY")
        row.operator("talking_head.stop_backend", icon="PAUSE")


@dataclass
class Settings:
    backend_url: str = ""
    token: str = ""
    python_path: str = ""
    profiles_dir: str = ""
    local_port: int = DEFAULT_PORT
    local_data_dir: str = ""


# The backend URL when the add-on has no preferences entry (its classes registered without enabling it as
# an add-on, e.g. by a script): Start local backend still gets its URL used.
_session_url = ""


def _prefs(context: bpy.types.Context | None = None) -> Any:
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID) if context.preferences else None
    return addon.preferences if addon is not None else None


def get_settings(context: bpy.types.Context | None = None) -> Settings:
    """The preferences as plain values (defaults when the add-on is not registered as such, e.g. in tests)."""
    prefs = _prefs(context)
    if prefs is None:
        return Settings(backend_url=_session_url)
    return Settings(backend_url=prefs.backend_url.strip(), token=prefs.token,
                    python_path=bpy.path.abspath(prefs.python_path) if prefs.python_path else "",
                    profiles_dir=bpy.path.abspath(prefs.profiles_dir) if prefs.profiles_dir else "",
                    local_port=int(prefs.local_port),
                    local_data_dir=bpy.path.abspath(prefs.local_data_dir) if prefs.local_data_dir else "")


def set_backend_url(url: str, context: bpy.types.Context | None = None) -> None:
    global _session_url
    prefs = _prefs(context)
    if prefs is None:
        _session_url = url
    else:
        prefs.backend_url = url


def profiles_dir(context: bpy.types.Context | None = None) -> str:
    return get_settings(context).profiles_dir or DEFAULT_PROFILES_DIR
