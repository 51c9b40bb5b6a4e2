# pyright: reportInvalidTypeForm=false
"""Add-on preferences: where the backend is and how to start it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import bpy
from bpy.props import StringProperty

# The add-on's module name: the extension package (root shim) when installed, "addon" when imported directly.
_PKG = __package__ or "addon"
ADDON_ID = _PKG[: -len(".addon")] if _PKG.endswith(".addon") else _PKG
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

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "python_path")
        layout.prop(self, "profiles_dir")
        layout.prop(self, "backend_url")
        layout.prop(self, "token")


@dataclass
class Settings:
    backend_url: str = ""
    token: str = ""
    python_path: str = ""
    profiles_dir: str = ""


def get_settings(context: bpy.types.Context | None = None) -> Settings:
    """The preferences as plain values (defaults when the add-on is not registered as such, e.g. in tests)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID) if context.preferences else None
    prefs: Any = addon.preferences if addon is not None else None
    if prefs is None:
        return Settings()
    return Settings(backend_url=prefs.backend_url, token=prefs.token,
                    python_path=bpy.path.abspath(prefs.python_path) if prefs.python_path else "",
                    profiles_dir=bpy.path.abspath(prefs.profiles_dir) if prefs.profiles_dir else "")


def profiles_dir(context: bpy.types.Context | None = None) -> str:
    return get_settings(context).profiles_dir or DEFAULT_PROFILES_DIR
