"""Defaults shared by the panel, the operators and tools/blender_batch.py. SMOOTHING equals the CLI's
`talking-head animate --smoothing` default (backend/commands/animate.py; a test checks they agree)."""

from __future__ import annotations

SMOOTHING = 0.0  # sigma in frames; the motion model's output is already smoothed over 0.06 s
