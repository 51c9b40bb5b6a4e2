# pyright: reportInvalidTypeForm=false
"""Operators (`bpy.ops.talking_head.*`): analyze, generate, import_tracks, bake_tracks, render_photoreal,
export, cancel. (The backend service's own operators are in server_operators.py.)

Long ones run as a jobs.Pipeline of backend steps (a local child process, or a job on the service when a
backend URL is set): synchronously when Blender runs in background (timers never fire there, so
`blender -b --python-expr "bpy.ops.talking_head.generate(clip=..., audio=...)"` completes in the call),
timer-polled with a progress bar and Cancel in the UI. Every problem the user can fix is an ERROR report
(a RuntimeError for Python callers) and leaves the scene as it was.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from ..clients.client import make_backend
from ..data.formats import load_tracks, save_tracks
from ..data.profile import load_profile
from ..data.sound_files import sound_files
from ..errors import AddonError
from . import animation, jobs
from .preferences import get_settings, profiles_dir

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

_ANALYZE_HASH_CHUNK = 1 << 20


def _scene(context: bpy.types.Context) -> bpy.types.Scene:
    if context.scene is None:
        raise AddonError("No active scene.")
    return context.scene


def _props(context: bpy.types.Context) -> Any:
    return _scene(context).talking_head  # type: ignore[attr-defined]


def _abspath(path: str) -> str:
    return os.path.abspath(bpy.path.abspath(path)) if path else ""


def _existing_file(path: str, what: str) -> str:
    if not path:
        raise AddonError(f"No {what} given. Pick one in the Talking Head panel (or pass it to the operator).")
    path = _abspath(path)
    if not os.path.isfile(path):
        raise AddonError(f"{what.capitalize()} not found: {path}. Pick an existing file.")
    return path


def output_dir(context: bpy.types.Context) -> str:
    chosen = _props(context).output_dir
    if chosen:
        return _abspath(chosen)
    if bpy.data.filepath:
        return os.path.join(os.path.dirname(bpy.data.filepath), "talking_head")
    return os.path.join(os.path.dirname(profiles_dir(context)), "outputs")


def profile_dir_for(context: bpy.types.Context, clip: str, clip_audio: str = "") -> str:
    """Profiles are cached by the content of the clip (and of its separate speech, if any)."""
    digest = hashlib.sha256()
    for path in (clip, clip_audio):
        if path:
            with open(path, "rb") as fh:
                while chunk := fh.read(_ANALYZE_HASH_CHUNK):
                    digest.update(chunk)
        digest.update(b"\0")
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in _stem(clip))
    return os.path.join(profiles_dir(context), f"{stem[:40]}_{digest.hexdigest()[:12]}")


def _is_profile(path: str) -> bool:
    return bool(path) and os.path.isfile(os.path.join(path, "manifest.json"))


def import_files(scene: bpy.types.Scene, profile_dir: str, tracks_path: str, audio: str | None,
                 start_frame: int) -> animation.TakeResult:
    """Validate everything, then build/extend the rig (all-or-nothing, see animation.import_take)."""
    profile = load_profile(profile_dir)
    tracks = load_tracks(tracks_path)
    if audio is None:
        own = profile.tracks_path is not None and os.path.samefile(tracks_path, profile.tracks_path)
        audio = profile.audio_path if own else None
    props: Any = scene.talking_head  # type: ignore[attr-defined]
    result = animation.import_take(scene, profile, tracks, start_frame=start_frame, audio_path=audio,
                                   tracks_path=tracks_path, options=import_options(props))
    props.profile_dir, props.tracks_path = profile.directory, tracks_path
    return result


def import_options(props: Any) -> animation.ImportOptions:
    return animation.ImportOptions(mode=props.rig_mode, match_fps=props.match_fps, framing=props.framing,
                                   lighting=props.lighting, closed=props.closed_geometry)


def _take_note(result: animation.TakeResult) -> str:
    note = f"Take {result.take}: frames {result.frame_start}-{result.frame_end}, {result.mode} keys"
    return "; ".join([note, *result.notes])


def animate_args(props: Any, profile: str, audio: str, tracks: str) -> list[str]:
    """The `animate` command of Generate and of the batch (the panel's options)."""
    return ["animate", profile, audio, "-o", tracks, "--personalize", "--pose", props.pose_mode,
            "--smoothing", f"{props.smoothing:g}", "--expression-scale", f"{props.expression_scale:g}",
            "--rig", "arkit" if props.rig_mode == "ARKIT" else "pca"]


class _Reporting:
    """Turns AddonError into an ERROR report and CANCELLED, and runs pipelines blocking or timer-polled."""

    def fail(self, context: bpy.types.Context, message: str) -> set[OperatorReturnItems]:
        _props(context).error = message
        self.report({"ERROR"}, message)  # type: ignore[attr-defined]
        return {"CANCELLED"}

    def launch(self, context: bpy.types.Context, title: str, steps: list[jobs.Step], *, needs_backend: bool,
               blocking: bool = False) -> set[OperatorReturnItems]:
        settings = get_settings(context)
        backend = make_backend(settings.python_path, settings.backend_url, settings.token,
                               online_access=bool(bpy.app.online_access)) if needs_backend else None
        props = _props(context)
        props.error, props.result = "", ""
        pipeline = jobs.Pipeline(title=title, backend=backend, steps=steps, scene_name=_scene(context).name)
        blocking = blocking or bool(bpy.app.background)
        jobs.start(pipeline, blocking=blocking)
        if not blocking:
            self.report({"INFO"}, f"{title} started")  # type: ignore[attr-defined]
            return {"FINISHED"}
        if pipeline.error:
            error = pipeline.error.removeprefix(f"{title}: ")  # "Analyze failed: Analyze: ..." says it twice
            return self.fail(context, f"{title} failed: {error}")
        self.report({"INFO"}, pipeline.result or f"{title} done")  # type: ignore[attr-defined]
        return {"FINISHED"}


_WAIT = BoolProperty(name="Wait", default=False, options={"SKIP_SAVE"},
                     description="Run to completion before returning (always so in background mode)")


class TALKING_HEAD_OT_analyze(_Reporting, bpy.types.Operator):
    """Analyse the target clip (or one photo) into a profile (face model, texture, motion style); cached by content"""

    bl_idname = "talking_head.analyze"
    bl_label = "Analyze"
    bl_options = {"REGISTER"}

    clip: StringProperty(name="Clip", subtype="FILE_PATH", options={"SKIP_SAVE"})
    clip_audio: StringProperty(name="Clip speech", subtype="FILE_PATH", options={"SKIP_SAVE"})
    wait: _WAIT

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        props = _props(context)
        try:
            clip = _existing_file(self.clip or props.clip, "target clip")
            speech = self.clip_audio or props.clip_audio
            speech = _existing_file(speech, "clip speech file") if speech else ""
            out = profile_dir_for(context, clip, speech)
            args = ["analyze", clip, "-o", out] + (["--audio", speech] if speech else [])
            scene_name = _scene(context).name

            def remember() -> str:
                bpy.data.scenes[scene_name].talking_head.profile_dir = out  # type: ignore[attr-defined]
                return f"Profile ready: {out}"

            return self.launch(context, "Analyze", [jobs.Step("Analyze", args=args), jobs.Step("Profile",
                               call=remember)], needs_backend=True, blocking=self.wait)
        except AddonError as exc:
            return self.fail(context, str(exc))


def _profile_and_analysis(context: bpy.types.Context, props: Any, profile: str, clip: str
                          ) -> tuple[str, list[jobs.Step]]:
    """The profile a job works on and the Analyze step it needs first (none when the profile exists): the
    given profile, or the one of the clip (with the panel's clip audio for a silent clip)."""
    if profile:
        profile = _abspath(profile)
        if not _is_profile(profile):
            raise AddonError(f"Not a Talking Head profile (no manifest.json): {profile}. Run Analyze.")
        return profile, []
    clip = _existing_file(clip or props.clip, "target clip")
    speech = _abspath(props.clip_audio) if props.clip_audio else ""
    profile = profile_dir_for(context, clip, speech)
    if _is_profile(profile):
        return profile, []
    return profile, [jobs.Step("Analyze", args=["analyze", clip, "-o", profile]
                               + (["--audio", speech] if speech else []))]


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _take_steps(context: bpy.types.Context, props: Any, profile: str, audio: str, start: int, stamp: str,
                describe: Callable[[str], str] | None = None) -> tuple[str, list[jobs.Step]]:
    """One take's Animate and Import steps and the tracks file they write (named by profile, sound and stamp).
    ``describe`` rewords the import's note (the batch counts its takes); steps are named by the sound file
    when it is given, so a batch's progress says which take runs."""
    stem = _stem(audio)
    tracks = os.path.join(output_dir(context), f"{os.path.basename(profile)}_{stem}_{stamp}.json")
    scene_name = _scene(context).name
    label = f" {stem}" if describe else ""

    def finish() -> str:
        note = _take_note(import_files(bpy.data.scenes[scene_name], profile, tracks, audio, start))
        return describe(note) if describe else note

    return tracks, [jobs.Step("Animate" + label, args=animate_args(props, profile, audio, tracks)),
                    jobs.Step("Import" + label, call=finish)]


class TALKING_HEAD_OT_generate(_Reporting, bpy.types.Operator):
    """Analyse the clip or photo if needed, animate the audio, and import the face with keyframes and sound"""

    bl_idname = "talking_head.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}

    clip: StringProperty(name="Clip", subtype="FILE_PATH", options={"SKIP_SAVE"})
    audio: StringProperty(name="Audio", subtype="FILE_PATH", options={"SKIP_SAVE"})
    profile: StringProperty(name="Profile", subtype="DIR_PATH", options={"SKIP_SAVE"},
                            description="Use this analysed profile instead of analysing a clip")
    start_frame: IntProperty(name="Start frame", default=-1, options={"SKIP_SAVE"},
                             description="-1: the panel's start frame")
    wait: _WAIT

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        props = _props(context)
        try:
            audio = _existing_file(self.audio or props.audio, "audio file")
            profile, steps = _profile_and_analysis(context, props, self.profile, self.clip)
            start = self.start_frame if self.start_frame >= 0 else props.start_frame
            steps += _take_steps(context, props, profile, audio, start, time.strftime("%Y%m%d-%H%M%S"))[1]
            return self.launch(context, "Generate", steps, needs_backend=True, blocking=self.wait)
        except AddonError as exc:
            return self.fail(context, str(exc))


class TALKING_HEAD_OT_batch_generate(_Reporting, bpy.types.Operator):
    """One take per sound file of a folder (analysing the clip once if needed), each in its own NLA track"""

    bl_idname = "talking_head.batch_generate"
    bl_label = "Batch Generate"
    bl_options = {"REGISTER", "UNDO"}

    audio_dir: StringProperty(name="Audio folder", subtype="DIR_PATH", options={"SKIP_SAVE"})
    clip: StringProperty(name="Clip", subtype="FILE_PATH", options={"SKIP_SAVE"})
    profile: StringProperty(name="Profile", subtype="DIR_PATH", options={"SKIP_SAVE"})
    render: BoolProperty(name="Render each", default=False, options={"SKIP_SAVE"},
                         description="Also render the photoreal video of every take")
    wait: _WAIT

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        props = _props(context)
        try:
            folder = _abspath(self.audio_dir or props.audio_dir)
            if not folder or not os.path.isdir(folder):
                raise AddonError(f"Audio folder not found: {folder or '(none)'}. Pick a folder of sound files.")
            files = sound_files(folder)
            if not files:
                raise AddonError(f"No sound files in {folder} (WAV, FLAC, MP3, Ogg, M4A are recognised by "
                                 "content). Put the speech files there.")
            profile, steps = _profile_and_analysis(context, props, self.profile, self.clip)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            done: list[str] = []

            def count(note: str) -> str:
                done.append(note)
                return f"{len(done)} of {len(files)} takes: {note}"

            for audio in files:
                tracks, take = _take_steps(context, props, profile, audio, props.start_frame, stamp, count)
                steps += take
                if self.render:
                    video = os.path.splitext(tracks)[0] + ".mp4"
                    steps.append(jobs.Step(f"Render {_stem(audio)}",
                                           args=["render", profile, tracks, audio, "-o", video]))
            return self.launch(context, "Batch", steps, needs_backend=True, blocking=self.wait)
        except AddonError as exc:
            return self.fail(context, str(exc))


class TALKING_HEAD_OT_switch_take(_Reporting, bpy.types.Operator):
    """Make another take the active one (its actions, frame range and sound)"""

    bl_idname = "talking_head.switch_take"
    bl_label = "Switch Take"
    bl_options = {"REGISTER", "UNDO"}

    take: IntProperty(name="Take", default=1, min=1)

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        try:
            animation.switch_take(_scene(context), _rig(context), self.take)
        except AddonError as exc:
            return self.fail(context, str(exc))
        self.report({"INFO"}, f"Take {self.take} is active")
        return {"FINISHED"}


class TALKING_HEAD_OT_import_tracks(_Reporting, bpy.types.Operator):
    """Import a profile's face and a tracks file as keyframes (a new take when the face exists)"""

    bl_idname = "talking_head.import_tracks"
    bl_label = "Import Tracks"
    bl_options = {"REGISTER", "UNDO"}

    profile: StringProperty(name="Profile", subtype="DIR_PATH", options={"SKIP_SAVE"})
    filepath: StringProperty(name="Tracks", subtype="FILE_PATH", options={"SKIP_SAVE"},
                             description="tracks.json (empty: the profile's own tracks)")
    audio: StringProperty(name="Audio", subtype="FILE_PATH", options={"SKIP_SAVE"},
                          description="Sound strip (empty: the profile's audio for its own tracks)")
    start_frame: IntProperty(name="Start frame", default=-1, options={"SKIP_SAVE"})

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        props = _props(context)
        try:
            profile = _abspath(self.profile or props.profile_dir)
            if not profile:
                raise AddonError("No profile given. Run Analyze or pick a profile folder.")
            tracks = _abspath(self.filepath) or os.path.join(profile, "tracks.json")
            tracks = _existing_file(tracks, "tracks file")
            audio = _existing_file(self.audio, "audio file") if self.audio else None
            start = self.start_frame if self.start_frame >= 0 else props.start_frame
            result = import_files(_scene(context), profile, tracks, audio, start)
        except AddonError as exc:
            return self.fail(context, str(exc))
        props.error, props.result = "", _take_note(result)
        fps_differed = any(" fps" in note for note in result.notes)  # set from the tracks, or resampled
        self.report({"WARNING"} if fps_differed else {"INFO"}, props.result)
        return {"FINISHED"}


def _rig(context: bpy.types.Context) -> animation.Rig:
    rig = animation.find_rig(_scene(context), hint=context.active_object)
    if rig is None:
        raise AddonError("No Talking Head face in this scene. Generate or Import Tracks first.")
    return rig


def bake_to_file(context: bpy.types.Context, path: str = "") -> tuple[animation.Rig, str]:
    rig = _rig(context)
    tracks = animation.bake_take(rig)
    if not path:
        take = int(rig.head.get("th_take", 0))
        path = os.path.join(output_dir(context), f"baked_take_{take:03d}.json")
    save_tracks(tracks, _abspath(path))
    return rig, _abspath(path)


class TALKING_HEAD_OT_bake_tracks(_Reporting, bpy.types.Operator):
    """Write the current (possibly edited) face animation back to a tracks.json at the tracks' fps"""

    bl_idname = "talking_head.bake_tracks"
    bl_label = "Bake Tracks"

    filepath: StringProperty(name="Tracks", subtype="FILE_PATH", options={"SKIP_SAVE"},
                             description="Output tracks.json (empty: the output folder)")

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        try:
            _, path = bake_to_file(context, self.filepath)
        except AddonError as exc:
            return self.fail(context, str(exc))
        props = _props(context)
        props.tracks_path, props.error, props.result = path, "", f"Baked {path}"
        self.report({"INFO"}, props.result)
        return {"FINISHED"}


class TALKING_HEAD_OT_render_photoreal(_Reporting, bpy.types.Operator):
    """Bake the current animation and render the photoreal video of the target person with it"""

    bl_idname = "talking_head.render_photoreal"
    bl_label = "Render Photoreal"

    filepath: StringProperty(name="Video", subtype="FILE_PATH", options={"SKIP_SAVE"},
                             description="Output .mp4 (empty: the output folder)")
    wait: _WAIT

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        props = _props(context)
        try:
            rig, tracks = bake_to_file(context)
            action = rig.key.animation_data.action if rig.key.animation_data else None
            audio = str(action.get("th_audio_path", "")) if action else ""
            audio = _existing_file(audio or props.audio, "audio file")
            profile = str(rig.head.get("th_profile_dir", ""))
            if not _is_profile(profile):
                raise AddonError(f"The face's profile folder is gone: {profile}. Re-run Analyze.")
            take = int(rig.head.get("th_take", 0))
            out = _abspath(self.filepath) or os.path.join(output_dir(context), f"render_take_{take:03d}.mp4")
            scene_name = _scene(context).name

            def remember() -> str:
                bpy.data.scenes[scene_name].talking_head.video_path = out  # type: ignore[attr-defined]
                return f"Rendered {out}"

            steps = [jobs.Step("Render", args=["render", profile, tracks, audio, "-o", out]),
                     jobs.Step("Video", call=remember)]
            return self.launch(context, "Render photoreal", steps, needs_backend=True, blocking=self.wait)
        except AddonError as exc:
            return self.fail(context, str(exc))


EXPORT_FORMATS = [("GLB", "glTF (.glb)", "Mesh, morph targets, weights and head animation"),
                  ("FBX", "FBX (.fbx)", "Mesh, shape keys and baked animation"),
                  ("ABC", "Alembic (.abc)", "Per-frame mesh cache (no shape keys)")]
EXTENSIONS = {"GLB": ".glb", "FBX": ".fbx", "ABC": ".abc"}


class TALKING_HEAD_OT_export(_Reporting, bpy.types.Operator):
    """Export the animated face (head and mesh) with the options that keep its animation"""

    bl_idname = "talking_head.export"
    bl_label = "Export Face"

    format: EnumProperty(name="Format", items=EXPORT_FORMATS, default="GLB")
    filepath: StringProperty(name="File", subtype="FILE_PATH", options={"SKIP_SAVE"},
                             description="Output file (empty: the output folder)")

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        from .export import export_rig

        try:
            rig = _rig(context)
            ext = EXTENSIONS[self.format]
            take = int(rig.head.get("th_take", 0))
            path = _abspath(self.filepath) or os.path.join(output_dir(context), f"face_take_{take:03d}{ext}")
            if not path.lower().endswith(ext):
                path += ext
            export_rig(context, rig, self.format, path)
        except AddonError as exc:
            return self.fail(context, str(exc))
        props = _props(context)
        props.error, props.result = "", f"Exported {path}"
        self.report({"INFO"}, props.result)
        return {"FINISHED"}


class TALKING_HEAD_OT_retarget(_Reporting, bpy.types.Operator):
    """Key the character's shape keys (ARKit names or a key map) and head from the face's current take"""

    bl_idname = "talking_head.retarget"
    bl_label = "Retarget to Character"
    bl_options = {"REGISTER", "UNDO"}

    target: StringProperty(name="Mesh", options={"SKIP_SAVE"}, description="Object name (empty: the panel's)")
    keymap: StringProperty(name="Key map", subtype="FILE_PATH", options={"SKIP_SAVE"})
    head: StringProperty(name="Head", options={"SKIP_SAVE"}, description="Object name (empty: the panel's)")
    bone: StringProperty(name="Bone", options={"SKIP_SAVE"})

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        from ..data.retarget_map import load_keymap
        from .retarget import retarget_head, retarget_shapes

        props = _props(context)
        try:
            rig = _rig(context)
            mesh = bpy.data.objects.get(self.target) if self.target else props.retarget_mesh
            if mesh is None:
                raise AddonError("No character mesh chosen. Pick it under Retarget (or pass target=).")
            keymap = self.keymap or props.keymap_path
            mapping = load_keymap(_abspath(keymap)) if keymap else None
            _, unmatched = retarget_shapes(rig, mesh, mapping)
            note = f"Retargeted onto {mesh.name}"
            if unmatched:
                note += f" ({len(unmatched)} of its keys unmatched: {', '.join(unmatched[:4])}...)"
            head = bpy.data.objects.get(self.head) if self.head else props.retarget_head
            if head is not None:
                retarget_head(rig, head, self.bone or props.retarget_bone)
                note += f"; head onto {head.name}"
        except AddonError as exc:
            return self.fail(context, str(exc))
        props.error, props.result = "", note
        self.report({"INFO"}, note)
        return {"FINISHED"}


class TALKING_HEAD_OT_save_keymap(_Reporting, bpy.types.Operator):
    """Write a key map preset (JSON) listing the face's keys and the character's matches, to edit by hand"""

    bl_idname = "talking_head.save_keymap"
    bl_label = "Save Key Map"

    filepath: StringProperty(name="Key map", subtype="FILE_PATH", options={"SKIP_SAVE"})

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        from ..data.retarget_map import match, save_keymap

        props = _props(context)
        try:
            rig = _rig(context)
            mesh = props.retarget_mesh
            keys = mesh.data.shape_keys if mesh is not None and mesh.type == "MESH" else None
            targets = [b.name for b in keys.key_blocks[1:]] if keys else []
            source = [b.name for b in rig.key.key_blocks[1:]]
            pairs = match(source, targets)
            path = _abspath(self.filepath) or os.path.join(output_dir(context), "keymap.json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            save_keymap({s: pairs.get(s, ("", 1.0)) for s in source}, path)
        except AddonError as exc:
            return self.fail(context, str(exc))
        props.keymap_path, props.error, props.result = path, "", f"Key map written: {path}"
        self.report({"INFO"}, props.result)
        return {"FINISHED"}


class TALKING_HEAD_OT_cancel(bpy.types.Operator):
    """Stop the running Talking Head job"""

    bl_idname = "talking_head.cancel"
    bl_label = "Cancel"

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        if jobs.cancel():
            self.report({"WARNING"}, "Cancelled")
            return {"FINISHED"}
        self.report({"INFO"}, "Nothing is running")
        return {"CANCELLED"}


CLASSES = (TALKING_HEAD_OT_analyze, TALKING_HEAD_OT_generate, TALKING_HEAD_OT_batch_generate,
           TALKING_HEAD_OT_switch_take, TALKING_HEAD_OT_import_tracks,
           TALKING_HEAD_OT_bake_tracks, TALKING_HEAD_OT_render_photoreal, TALKING_HEAD_OT_export,
           TALKING_HEAD_OT_retarget, TALKING_HEAD_OT_save_keymap, TALKING_HEAD_OT_cancel)
