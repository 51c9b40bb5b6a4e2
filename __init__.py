"""Blender extension entry point: the repository root is the extension package (blender_manifest.toml);
the add-on itself lives in addon/."""

from .addon import register, unregister

__all__ = ["register", "unregister"]
