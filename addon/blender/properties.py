# pyright: reportInvalidTypeForm=false
"""Per-scene settings and job state shown in the panel (`scene.talking_head`)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..data import defaults

POSE_MODES = [
    ("predicted", "Predicted", "Head motion generated from the audio in this person's style"),
    ("clip", "From clip", "Replay the target clip's own head motion (looped)"),
    ("still", "Still", "Keep the head still (the clip's average pose)"),
]

RIG_MODES = [
    ("ARKIT", "ARKit-52", "ARKit-named shape keys (jawOpen, eyeBlinkLeft, ...) keyed from the tracks; the PCA "
                          "keys carry what they do not explain"),
    ("PCA", "PCA basis", "The expression basis keys only (expr_00...)"),
]
FRAMINGS = [("FACE", "Face", "Square frame around the face (1024 px)"),
            ("CLIP", "Clip", "The clip's whole frame and resolution")]
LIGHTINGS = [("SH", "Profile lighting", "The lighting analysis found, as the world"),
             ("UNLIT", "Unlit texture", "The texture as emission: exactly the person's colours"),
             ("KEEP", "Keep scene", "Leave the scene's world and lights as they are")]


class TalkingHeadSettings(bpy.types.PropertyGroup):
    clip: StringProperty(name="Target clip", subtype="FILE_PATH",
                         description="A ~10 s video of the person talking (or a single photo)")
    clip_audio: StringProperty(name="Clip speech", subtype="FILE_PATH",
                               description="Only for a silent target clip: its speech as a separate audio file")
    audio: StringProperty(name="Audio", subtype="FILE_PATH",
                          description="The speech that drives the animation (any language, any length)")
    pose_mode: EnumProperty(name="Head pose", items=POSE_MODES, default="predicted")
    smoothing: FloatProperty(name="Smoothing", default=defaults.SMOOTHING, min=0.0, soft_max=3.0,
                             description="Extra Gaussian smoothing of the generated curves, sigma in frames "
                                         f"(default {defaults.SMOOTHING:g} = none, as the CLI: the model's "
                                         "output is already smoothed over 0.06 s)")
    rig_mode: EnumProperty(name="Controls", items=RIG_MODES, default="ARKIT")
    match_fps: BoolProperty(name="Match fps", default=True,
                            description="Set the scene's frame rate to the tracks' (off: resample the tracks "
                                        "to the scene's fps, with a warning)")
    framing: EnumProperty(name="Camera", items=FRAMINGS, default="FACE")
    lighting: EnumProperty(name="Lighting", items=LIGHTINGS, default="SH")
    closed_geometry: BoolProperty(name="Eyes and mouth", default=True,
                                  description="Add eyeballs, a mouth cavity, teeth and tongue behind the mask's "
                                              "openings (on a new face)")
    audio_dir: StringProperty(name="Audio folder", subtype="DIR_PATH",
                              description="Batch: one take per sound file in this folder")
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
    # retarget onto the user's character
    retarget_mesh: bpy.props.PointerProperty(name="Character face", type=bpy.types.Object,
                                             description="A mesh with ARKit-named (or mapped) shape keys")
    keymap_path: StringProperty(name="Key map", subtype="FILE_PATH",
                                description="JSON preset mapping our key names to the character's (optional)")
    retarget_head: bpy.props.PointerProperty(name="Head", type=bpy.types.Object,
                                             description="Object or armature that takes the head motion")
    retarget_bone: StringProperty(name="Bone", description="Pose bone of that armature (empty: the object)")
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
