"""The job kinds: what a client may ask for (request models, which give the OpenAPI spec its schemas) and how
each kind breaks into steps that run the product's CLI stages.

  analyze  : clip [+ audio]                 -> profile id   (profiles cached by content hash, shared)
  animate  : profile + audio + options      -> tracks.json   (personalize, animate)
  render   : profile + tracks + audio       -> video.mp4
  generate : clip + audio + options         -> profile id, tracks.json, video.mp4
                                               (analyze, personalize, animate, render)

personalize trains the profile's motion model once (PROFILE/motion.pt); later jobs on the profile skip it.

A step is one CLI stage (`talking-head <command> ...`) run by the worker in a child process. Steps write only
into the job's work/ folder and are then moved into place by `complete`, so a step either finished (and is
recorded in the job's done_steps) or left nothing behind: that is what lets an interrupted job resume at its
first unfinished step.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend import __version__
from backend.core.numbers import ANALYZE_FPS, EXPRESSION_SCALE, SMOOTHING
from backend.face.profile import ANALYSIS_VERSION, is_photo_profile, read_manifest
from backend.service.jobstore import Job, JobStore

PROFILE_ID = re.compile(r"^[0-9a-f]{16}$")
# Which CLI command each step runs, and the file a finished job offers as its main result.
STEP_COMMANDS = {"analyze": "analyze", "personalize": "personalize", "animate": "animate", "render": "render"}
KIND_STEPS = {"analyze": ["analyze"], "animate": ["personalize", "animate"], "render": ["render"],
              "generate": ["analyze", "personalize", "animate", "render"]}
MOTION_MODEL = "motion.pt"  # what personalize adds to a profile (backend/motion/personalization.py)
PRIMARY_RESULT = {"animate": "tracks.json", "render": "video.mp4", "generate": "video.mp4"}

UploadId = Annotated[str, Field(min_length=1, max_length=64, description="id returned by POST /api/v1/uploads")]
ProfileId = Annotated[str, Field(pattern=PROFILE_ID.pattern, description="id from a finished analyze job")]


class _Request(BaseModel):
    # strict: "1.0" is not a number and 1 is not a boolean; numbers carry no NaN/infinity (core/numbers)
    model_config = ConfigDict(extra="forbid", strict=True)


class AnimateOptions(_Request):
    pose: Literal["predicted", "clip", "still"] | None = Field(
        None, description="head motion: predicted from the audio in the person's style, replayed from the clip, "
                          "or still (default: the stage's own default)")
    smoothing: float | None = Field(None, **SMOOTHING.field(), description="temporal smoothing strength")
    expression_scale: float | None = Field(None, **EXPRESSION_SCALE.field(),
                                           description="scale on the predicted expressions")
    rig: Literal["pca", "arkit"] | None = Field(
        None, description="'arkit': also write ARKit-52 blendshape weights in the tracks (format version 2)")


class RenderOptions(_Request):
    size: Literal[256, 512] | None = Field(None, description="face crop size rendered and refined")
    refine: bool = Field(True, description="run the GAN refinement (false: the raw textured render)")
    inlays: bool = Field(True, description="fill the eyes and mouth interior from the clip's own frames of the same "
                                           "shape (false: the mesh's eye holes and the proxy mouth)")


class AnalyzeRequest(_Request):
    kind: Literal["analyze"]
    clip: UploadId = Field(description="upload id of a ~10 s video of the target person talking, or one photo")
    audio: UploadId | None = Field(None, description="upload id of the clip's speech when the clip has none")
    fps: float | None = Field(None, **ANALYZE_FPS.field(), description="analysis frame rate (default: the clip's)")
    overlay: bool = Field(True, description="also write overlay.mp4 (the fit drawn over the clip)")


class AnimateRequest(_Request):
    kind: Literal["animate"]
    profile: ProfileId
    audio: UploadId = Field(description="upload id of the speech to lip-sync (audio, or a video with sound)")
    options: AnimateOptions = AnimateOptions()


class RenderRequest(_Request):
    kind: Literal["render"]
    profile: ProfileId
    audio: UploadId = Field(description="upload id of the speech muxed into the video")
    tracks: UploadId | None = Field(None, description="upload id of a tracks.json (e.g. edited in Blender)")
    tracks_job: str | None = Field(None, max_length=64,
                                   description="id of a finished animate job whose tracks to render "
                                               "(instead of `tracks`)")
    options: RenderOptions = RenderOptions()


class GenerateRequest(_Request):
    kind: Literal["generate"]
    clip: UploadId = Field(description="upload id of the target person's video, or one photo of them")
    clip_audio: UploadId | None = Field(None, description="the clip's own speech when the clip has none")
    audio: UploadId = Field(description="upload id of the new speech")
    fps: float | None = Field(None, **ANALYZE_FPS.field())
    animate: AnimateOptions = AnimateOptions()
    render: RenderOptions = RenderOptions()


JobRequest = Annotated[AnalyzeRequest | AnimateRequest | RenderRequest | GenerateRequest,
                       Field(discriminator="kind")]


def stage_available(step: str) -> bool:
    """Whether this installation has the CLI command behind a step (animate/render arrive over time)."""
    return importlib.util.find_spec(f"backend.commands.{STEP_COMMANDS[step]}") is not None


def analysis_input_key(clip_sha: str, audio_sha: str | None, fps: float | None) -> str:
    """Profiles are shared by content: the same clip, audio and settings on the same analysis version."""
    data = json.dumps([clip_sha, audio_sha, fps, ANALYSIS_VERSION, __version__])
    return hashlib.sha256(data.encode()).hexdigest()


@dataclass
class StepPlan:
    """How to run one step: `argv` for `talking-head --progress json ...`, or `cached` when nothing needs
    running; `complete` moves the step's outputs into place and returns what it adds to the job's result."""

    argv: list[str] | None
    complete: Callable[[], dict[str, Any]]
    cached: dict[str, Any] | None = None


def plan_step(store: JobStore, job: Job, step: str) -> StepPlan:
    folder = store.job_dir(job.id)
    inputs, work, out = folder / "inputs", folder / "work", folder / "out"
    p = job.params
    if step == "analyze":
        return _plan_analyze(store, job, inputs, work)
    profile_id = p.get("profile") or job.result.get("profile_id")
    profile = store.profile_dir(str(profile_id))
    audio = inputs / "audio"
    if step == "personalize":
        if (profile / MOTION_MODEL).is_file():
            return StepPlan(None, dict, cached={"personalized": True})
        if is_photo_profile(read_manifest(profile)):  # nothing to learn from one photo: animate uses the prior
            return StepPlan(None, dict, cached={"personalized": False, "motion": "prior"})

        def personalized() -> dict[str, Any]:
            if not (profile / MOTION_MODEL).is_file():
                raise RuntimeError(f"personalize finished without writing {MOTION_MODEL}")
            return {"personalized": True}

        # The model belongs to the profile (shared by every job on it); the stage writes it there atomically.
        # The refiner (minutes on a CPU) is not trained by a job yet: renders stay unrefined unless the
        # profile already has one (`talking-head personalize PROFILE` trains it).
        return StepPlan(["personalize", str(profile), "--no-refiner"], personalized)
    if step == "animate":
        opts = p.get("options") or p.get("animate") or {}
        target = work / "tracks.json"
        argv = ["animate", str(profile), str(audio), "-o", str(target)]
        if opts.get("pose"):
            argv += ["--pose", opts["pose"]]
        if opts.get("smoothing") is not None:
            argv += ["--smoothing", f"{opts['smoothing']:g}"]
        if opts.get("expression_scale") is not None:
            argv += ["--expression-scale", f"{opts['expression_scale']:g}"]
        if opts.get("rig"):
            argv += ["--rig", opts["rig"]]
        return StepPlan(argv, lambda: _publish(target, out, "tracks.json"))
    if step == "render":
        opts = p.get("options") or p.get("render") or {}
        tracks = inputs / "tracks" if (inputs / "tracks").is_file() else out / "tracks.json"
        target = work / "video.mp4"
        argv = ["render", str(profile), str(tracks), str(audio), "-o", str(target)]
        if store.profile_clip(str(profile_id)).is_file():
            argv += ["--clip", str(store.profile_clip(str(profile_id)))]
        if opts.get("size"):
            argv += ["--size", str(opts["size"])]
        if opts.get("refine") is False:
            argv.append("--no-refine")
        if opts.get("inlays") is False:
            argv.append("--no-inlays")
        return StepPlan(argv, lambda: _publish(target, out, "video.mp4"))
    raise ValueError(f"unknown step {step!r}")


def _plan_analyze(store: JobStore, job: Job, inputs: Path, work: Path) -> StepPlan:
    p = job.params
    key = analysis_input_key(p["clip_sha256"], p.get("audio_sha256"), p.get("fps"))
    cached = store.cached_profile(key)
    if cached:
        return StepPlan(None, lambda: {"profile_id": cached}, cached={"profile_id": cached, "profile_cached": True})
    target = work / "profile"
    argv = ["analyze", str(inputs / "clip"), "-o", str(target)]
    if (inputs / "clip_audio").is_file():
        argv += ["--audio", str(inputs / "clip_audio")]
    if p.get("fps"):
        argv += ["--fps", f"{p['fps']:g}"]
    if p.get("overlay") is False:
        argv.append("--no-overlay")

    def complete() -> dict[str, Any]:
        manifest = read_manifest(target)
        if manifest is None:
            raise RuntimeError("analyze finished without writing a profile")
        profile_id = str(manifest["profile_id"])
        if not PROFILE_ID.match(profile_id):
            raise RuntimeError(f"analyze wrote an unexpected profile id {profile_id!r}")
        dest = store.profile_dir(profile_id)
        if (dest / "manifest.json").is_file():
            shutil.rmtree(target)  # another job made the same profile meanwhile: share theirs
        else:
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(target, dest)
        clip = store.profile_clip(profile_id)
        if not clip.is_file():
            _link_or_copy(inputs / "clip", clip)
        store.remember_profile(key, profile_id)
        return {"profile_id": profile_id}

    return StepPlan(argv, complete)


def _link_or_copy(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _publish(produced: Path, out: Path, name: str) -> dict[str, Any]:
    if not produced.is_file():
        raise RuntimeError(f"the stage finished without writing {name}")
    os.replace(produced, out / name)
    return {"files": sorted(f.name for f in out.iterdir() if f.is_file())}
