"""Talking Head backend: analysis, motion, rendering, CLI and service. Never imports bpy."""

__version__ = "0.1.0"
