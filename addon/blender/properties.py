# pyright: reportInvalidTypeForm=false
"""Per-scene settings and job state shown in the panel (`scene.talking_head`)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

POSE_MODES = [
    ("predicted", "Predicted", "Head motion generated from the audio in this person's style"),
    ("clip", "From clip", "Replay the target clip's own head motion (looped)"),
    ("still", "Still", "Keep the head still (the clip's average pose)"),
]


class TalkingHeadSettings(bpy.types.PropertyGroup):
    clip: StringProperty(name="Target clip", subtype="FILE_PATH",
                         description="A ~10 s video of the person talking (or a single photo)")
    clip_audio: StringProperty(name="Clip speech", subtype="FILE_PATH",
                               description="Only for a silent target clip: its speech as a separate audio file")
    audio: StringProperty(name="Audio", subtype="FILE_PATH",
                          description="The speech that drives the animation (any language, any length)")
    pose_mode: EnumProperty(name="Head pose", items=POSE_MODES, default="predicted")
    smoothing: FloatProperty(name="Smoothing", default=0.5, min=0.0, soft_max=1.0,
                             description="Temporal smoothing of the generated motion (0 = none)")
    expression_scale: FloatProperty(name="Expression scale", default=1.0, min=0.0, soft_max=2.0,
                                    description="Multiply the expression coefficients (1 = as predicted)")
    start_frame: IntProperty(name="Start frame", default=1, min=0,
                             description="Scene frame of the first audio sample / tracks frame")
    profile_dir: StringProperty(name="Profile", subtype="DIR_PATH",
                                description="The analysed target (written by Analyze)")
    tracks_path: StringProperty(name="Tracks", subtype="FILE_PATH",
                                description="The last generated or baked tracks.json")
    output_dir: StringProperty(name="Output folder", subtype="DIR_PATH",
                               description="Where tracks, videos and exports go (default: //talking_head "
                                           "next to the .blend, or the profiles folder when unsaved)")
    video_path: StringProperty(name="Video", subtype="FILE_PATH", description="The last photoreal render")
    # job state, written by the running job
    running: BoolProperty(name="Running", default=False)
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    stage: StringProperty(name="Stage")
    error: StringProperty(name="Error")
    result: StringProperty(name="Result")


def register() -> None:
    bpy.utils.register_class(TalkingHeadSettings)
    bpy.types.Scene.talking_head = bpy.props.PointerProperty(type=TalkingHeadSettings)  # type: ignore[attr-defined]


def unregister() -> None:
    del bpy.types.Scene.talking_head  # type: ignore[attr-defined]
    bpy.utils.unregister_class(TalkingHeadSettings)
