"""Tracks + audio + profile (+ the target clip) -> a talking-face video.

Stages (streaming, bounded memory):

1. check: the tracks belong to this profile (id, face model, basis), the audio covers the tracks, the clip
   is the one the profile was analysed from (sha256);
2. plan backgrounds (backend.render.background): key frames, matched clip frames, adjusted poses;
3. decode the clip once, keeping the frames the plan uses in a temporary disk-backed store (FrameStore:
   positioned reads and writes on space reserved up front, so a full disk is an error, not a SIGBUS),
   because matched frames are visited out of order; RAM holds only a batch, plus the face crops of up to
   128 clip frames that serve as the memory of real eyes and mouths (backend.render.inlays);
4. fit the mouth-interior colours to the clip's widest-open mouths (backend.render.mouth_colours);
5. per batch of frames: render face + mouth cavity in crop space through the rasterizer (texture, SH light),
   composite over the matched background crop with a feathered mask, fill the eyes and the mouth interior
   from the memory frame of the same shape (inlays, unless `inlays=False`), paste back into the full frame
   (or keep the crop with `crop_only`), encode with the audio muxed (media.VideoWriter, atomic);
6. with `refine` and a trained refiner in the profile (backend.render.refine), each composited crop goes
   through the refiner (a 3-frame window, so frames come out one late) before paste-back; a refiner trained
   on inlaid inputs gets the inlays before it, an older one on its output.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from backend import media
from backend.core.diskspace import MB, require_free_space
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.core.tracks import Tracks, load_tracks
from backend.face.crops import crop_camera
from backend.face.profile import Profile, is_photo_profile, load_profile
from backend.render.background import BackgroundPlan, composite, feather_mask, plan_background
from backend.render.face import FaceRenderer, load_albedo  # noqa: F401 - load_albedo re-exported
from backend.render.frame_store import FrameStore
from backend.render.inlays import InlayFrame, Inlays, choose_memory
from backend.render.mouth import DEFAULT_COLOURS
from backend.render.mouth_colours import fit_colours, pick_frames
from backend.render.pasteback import crop_frame, paste_back
from backend.render.photo_background import PhotoBackground, photo_plan
from backend.render.refine.apply import RefineStream
from backend.render.refine.checkpoint import load_refiner
from backend.render.refine.inputs import fill_holes

AUDIO_SR = 48000
BATCH = 16
FEATHER = 0.03  # compositing feather as a fraction of the crop side
# Tracks may run this much past the audio (rounding of the last frame) before it is an error.
AUDIO_SLACK_FRAMES = 1.0


@dataclass
class RenderInputs:
    profile: Profile
    tracks: Tracks
    audio: np.ndarray  # mono float32 at AUDIO_SR, trimmed to the tracks
    clip: Path
    notes: list[str] = field(default_factory=list)


@dataclass
class RenderResult:
    path: Path
    frames: int
    fps: float
    width: int
    height: int
    plan: BackgroundPlan
    timings: dict[str, float]
    refined: bool = False
    notes: list[str] = field(default_factory=list)


def check_tracks(profile: Profile, tracks: Tracks, where: str) -> None:
    """Refuse tracks made for another profile or face model (their coefficients mean something else)."""
    m = profile.manifest
    if tracks.profile_id != profile.id:
        raise UserError(f"tracks {where} belong to profile {tracks.profile_id}, not to {profile.path} "
                        f"(profile {profile.id})",
                        hint="render with the profile the tracks were made for, or re-run `talking-head "
                             "animate` with this profile")
    if tracks.face_model != m.get("face_model") or list(tracks.basis) != list(m.get("basis_names", [])):
        raise UserError(f"tracks {where} use face model {tracks.face_model!r} with a different expression basis "
                        f"than profile {profile.path} ({m.get('face_model')!r})",
                        hint="re-run `talking-head animate` with this profile")


def load_render_audio(path: Path, tracks: Tracks) -> tuple[np.ndarray, str | None]:
    """The driving audio at AUDIO_SR, trimmed to the tracks; an error if the tracks run past its end."""
    kind = media.sniff(path)
    if kind not in ("audio", "video"):
        raise UserError(f"{path} holds no audio (it is {kind})", hint="pass the speech the tracks were made from")
    samples = media.load_audio(path, sr=AUDIO_SR)
    duration = len(samples) / AUDIO_SR
    if tracks.duration_s > duration + AUDIO_SLACK_FRAMES / tracks.fps:
        raise UserError(f"the tracks are {tracks.duration_s:.2f} s long ({tracks.frame_count} frames at "
                        f"{tracks.fps:g} fps) but the audio {path} lasts only {duration:.2f} s",
                        hint="pass the audio the tracks were animated from, or trim the tracks")
    need = round(tracks.duration_s * AUDIO_SR)
    note = None
    if duration > tracks.duration_s + 0.5:
        note = f"the audio lasts {duration:.2f} s, the tracks {tracks.duration_s:.2f} s: using its first part"
    if len(samples) < need:
        samples = np.pad(samples, (0, need - len(samples)))
    return samples[:need].astype(np.float32), note


def find_clip(profile: Profile, clip: Path | None) -> Path:
    """The target clip the profile was analysed from: --clip, or the manifest's recorded path; sha256-checked."""
    source = profile.manifest.get("source", {})
    expected = source.get("clip_sha256")
    name = source.get("clip_name", "?")
    if clip is None:
        recorded = source.get("clip_path")
        if recorded and Path(recorded).is_file():
            clip = Path(recorded)
        else:
            raise UserError(f"rendering needs the target clip the profile was analysed from ({name}) for the "
                            "backgrounds, and the profile does not say where it is",
                            hint=f"pass it with --clip PATH/{name}")
    if not clip.is_file():
        raise UserError(f"target clip not found: {clip}", hint=f"pass the clip analysed into the profile ({name})")
    if expected and media.sha256_file(clip) != expected:
        raise UserError(f"{clip} is not the clip profile {profile.path} was analysed from (its sha256 differs "
                        f"from the manifest's; the profile was made from {name})",
                        hint="pass the original clip with --clip, or analyze this clip into a new profile")
    return clip


def prepare(profile_dir: str | Path, tracks_path: str | Path, audio_path: str | Path,
            clip: str | Path | None = None) -> RenderInputs:
    profile = load_profile(profile_dir)
    tracks = load_tracks(tracks_path)
    check_tracks(profile, tracks, str(tracks_path))
    audio, note = load_render_audio(Path(audio_path), tracks)
    # a photo profile is its own background (backend.render.photo_background): no clip to find
    clip_path = profile.path if is_photo_profile(profile.manifest) else find_clip(profile, Path(clip) if clip else None)
    return RenderInputs(profile=profile, tracks=tracks, audio=audio, clip=clip_path, notes=[note] if note else [])


def _decode_clip(clip: Path, fps: float, needed: np.ndarray, store_dir: Path, video_dir: Path,
                 progress: Progress, memory: tuple[np.ndarray, np.ndarray, int] | None = None
                 ) -> tuple[FrameStore, np.ndarray, int, np.ndarray]:
    """Decode the clip once, keeping only the frames in `needed` in a disk-backed store, and the crops of the
    inlays' memory frames (`memory`: frame indices, their crop affines, crop size) in RAM.
    Returns (store [M,H,W,3], slot of each clip frame (-1: not kept), total clip frames, crops [N,S,S,3])."""
    info = media.probe_video(clip)
    total = media.count_frames(clip, fps)
    w, h = media.frame_size(info)
    keep = np.unique(needed[(needed >= 0) & (needed < total)])
    slot = np.full(total, -1, dtype=np.int64)
    slot[keep] = np.arange(len(keep))
    # the store, and the video (H.264 at this preset stays well under 0.05 byte per pixel); often one disk
    store_bytes, video_bytes = len(keep) * h * w * 3 + MB, int(total * h * w * 0.05) + MB
    same_disk = store_dir.parent.resolve() == video_dir.resolve()
    require_free_space(video_dir, video_bytes + (store_bytes if same_disk else 0), "video")
    if not same_disk:
        require_free_space(store_dir, store_bytes, "render's decoded frames")
    store = FrameStore(store_dir / "frames.bin", max(1, len(keep)), h, w)
    mem_idx, mem_affines, mem_size = memory if memory is not None else (np.zeros(0, np.int64), None, 0)
    mem_slot = {int(j): k for k, j in enumerate(mem_idx)}
    crops = np.zeros((len(mem_idx), mem_size, mem_size, 3), np.uint8)
    progress.stage("decode target clip", total)
    for i, rgb in media.iter_frames(clip, fps):
        if slot[i] >= 0:
            store[slot[i]] = rgb
        if i in mem_slot:
            crops[mem_slot[i]] = crop_frame(rgb, mem_affines[mem_slot[i]], mem_size)
        progress.update(1)
    return store, slot, total, crops


def paste_alpha(mask: np.ndarray, feather_px: float) -> np.ndarray:
    """Paste-back alpha: the face mask grown by the feather and blurred. Outside the face the composited
    crop is only the background again, so the blend ramp there never shows a seam."""
    r = max(1, round(feather_px))
    grown = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return np.clip(cv2.GaussianBlur(grown.astype(np.float32), (0, 0), sigmaX=feather_px / 2.0) * 1.02, 0, 1)


def render_video(profile_dir: str | Path, tracks_path: str | Path, audio_path: str | Path, out_path: str | Path,
                 clip: str | Path | None = None, size: int = 256, crop_only: bool = False,
                 paste_mode: str = "feather", progress: Progress = QUIET, batch: int = BATCH,
                 fit_mouth: bool = True, refine: bool = False, background: str = "playback",
                 inlays: bool = True) -> RenderResult:
    """Render the tracks into `out_path` (mp4 with the audio). See the module docstring. `fit_mouth`: fit the
    mouth-interior colours to the clip (backend.render.mouth_colours) instead of using the defaults.
    `refine`: use the profile's trained refiner (a note in `notes` and unrefined frames when it has none).
    `background`: the matching method (backend.render.background.plan_background). `inlays`: fill the eyes
    and the mouth interior from the clip's own frames (backend.render.inlays; not for a photo profile)."""
    if size not in (256, 512):
        raise UserError(f"--size must be 256 or 512, got {size}")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    inputs = prepare(profile_dir, tracks_path, audio_path, clip)
    profile, tracks = inputs.profile, inputs.tracks
    fit = profile.fit()
    crops = fit[f"crop_{size}"]
    model, albedo, sh = profile.face_model(), load_albedo(profile), profile.lighting()
    photo = PhotoBackground(profile, model, fit) if is_photo_profile(profile.manifest) else None
    plan = photo_plan(tracks.pose) if photo else plan_background(tracks.pose, fit["pose"], tracks.fps,
                                                                 valid=fit["valid"], method=background)
    # a photo profile has no frames to personalise a refiner on: its render stays unrefined, without a note
    stream = refine_stream(profile, inputs.notes) if refine and not photo else None
    calib = (np.zeros(int(fit_mouth), np.int64) if photo else  # the photo's own mouth, teeth and all
             pick_frames(profile, fit["expression"]) if fit_mouth else np.zeros(0, np.int64))
    memory = choose_memory(model, fit["expression"], fit["pose"], fit["valid"]) if inlays and not photo else None
    feather = FEATHER * size
    for note in inputs.notes:
        progress.message(note)
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="th-render-", dir=out_path.parent if out_path.parent.exists() else None) \
            as store:
        t = time.perf_counter()
        frames, slot, total, memory_crops = (photo.photo[None], np.zeros(1, np.int64), 1, None) if photo else \
            _decode_clip(inputs.clip, profile.fps, np.concatenate([plan.source, calib]), Path(store), out_path.parent,
                         progress, None if memory is None else (memory, crops[memory], size))
        timings["decode_s"] = time.perf_counter() - t
        if total != len(fit["pose"]):
            raise UserError(f"{inputs.clip} decodes to {total} frames at {profile.fps:g} fps but the profile "
                            f"has {len(fit['pose'])}", hint="re-run `talking-head analyze` on this clip")
        t = time.perf_counter()
        colours = DEFAULT_COLOURS
        if len(calib):
            a = crops[calib]
            colours, _ = fit_colours((model, albedo, sh, size), fit["expression"][calib], fit["pose"][calib],
                                     np.stack([crop_camera(fit["camera"], x) for x in a]),
                                     np.stack([crop_frame(np.asarray(frames[slot[i]]), x, size)
                                               for i, x in zip(calib, a, strict=True)]))
        renderer = FaceRenderer(model, albedo, sh, size, mouth_colours=colours)
        timings["mouth_fit_s"] = time.perf_counter() - t
        fill = None if memory is None else Inlays.from_fit(model, fit, memory, memory_crops, crops)
        if fill is not None and not len(fill):
            inputs.notes.append("no clip frame shows usable eyes and mouth: the eye holes show the background frame")
            progress.message(inputs.notes[-1])
            fill = None
        timings["inlay_frames"] = 0 if fill is None else len(fill)
        # a refiner trained on inlaid inputs gets them before it (older checkpoints: on its output)
        inlay_first = fill is not None and stream is not None and stream.refiner.config.inlays
        height, width = (size, size) if crop_only else frames.shape[1:3]
        timings["render_s"] = timings["composite_encode_s"] = 0.0
        t = time.perf_counter()
        progress.stage("render video", tracks.frame_count)
        with media.VideoWriter(out_path, tracks.fps, width, height, audio=(inputs.audio, AUDIO_SR),
                               preset="veryfast") as writer:

            def emit(crop: np.ndarray, background: np.ndarray, affine: np.ndarray, mask: np.ndarray,
                     inlay: InlayFrame | None = None) -> None:
                if inlay is not None and fill is not None:
                    crop = fill.apply(crop, inlay)
                if crop_only:
                    writer.write(crop)
                else:
                    writer.write(paste_back(background, crop, affine, paste_alpha(mask, feather), mode=paste_mode))

            for lo in range(0, tracks.frame_count, batch):
                idx = np.arange(lo, min(lo + batch, tracks.frame_count))
                src = plan.source[idx]
                affines = crops[src]
                cams = np.stack([crop_camera(fit["camera"], a) for a in affines])
                tr = time.perf_counter()
                faces = renderer.draw(tracks.expression[idx], plan.pose[idx], cams)
                inlay_frames: list[InlayFrame | None] = ([None] * len(idx) if fill is None else
                                                         fill.frames(tracks.expression[idx], plan.pose[idx],
                                                                     faces.points))
                tc = time.perf_counter()
                timings["render_s"] += tc - tr
                for k, j in enumerate(src):
                    background = photo.frame(plan.pose[idx[k]]) if photo else np.asarray(frames[slot[j]])
                    crop = composite(faces.images[k], feather_mask(faces.masks[k], feather),
                                     crop_frame(background, affines[k], size))
                    before, after = (inlay_frames[k], None) if inlay_first else (None, inlay_frames[k])
                    if before is not None and fill is not None:
                        crop = fill.apply(crop, before)
                    # with the eyes filled (inlays) or drawn (refiner), paste the face hull: no background eyes
                    paste = faces.masks[k] if fill is None and stream is None else fill_holes(faces.masks[k])
                    if stream is None:
                        emit(crop, background, affines[k], paste, after)
                    else:  # refined frames come out one frame late (a 3-frame window); inlays go on the output
                        for out, args in stream.push(crop, faces.masks[k], faces.cavity[k], tracks.expression[idx[k]],
                                                     plan.pose[idx[k]],
                                                     (background, affines[k], paste, after)):
                            emit(out, *args)
                timings["composite_encode_s"] += time.perf_counter() - tc
                progress.update(len(idx))
            for out, args in stream.flush() if stream is not None else []:
                emit(out, *args)
        if isinstance(frames, FrameStore):
            frames.close()
        timings["render_encode_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    progress.close()
    return RenderResult(path=out_path, frames=tracks.frame_count, fps=tracks.fps, width=width, height=height,
                        plan=plan, timings={k: round(v, 3) for k, v in timings.items()}, refined=stream is not None,
                        notes=inputs.notes)


def refine_stream(profile: Profile, notes: list[str]) -> RefineStream | None:
    """The profile's refiner as a frame stream, or None with a note saying why the frames stay unrefined."""
    refiner = load_refiner(profile)
    if refiner is None:
        notes.append(f"profile {profile.path} has no trained refiner: rendering unrefined (train it with "
                     "`talking-head personalize PROFILE --refiner`, or pass --no-refine to silence this)")
        return None
    return RefineStream(refiner)


def best_size(profile: Profile) -> int:
    """The render size that fits the clip: 512 when the face crop covers 512 px or more of the clip's frames
    (median over the frames), else 256 (rendering finer than the source only invents detail)."""
    affines = profile.fit()["crop_256"]
    scale = np.sqrt(np.abs(np.linalg.det(np.asarray(affines, np.float64)[:, :, :2])))
    return 512 if np.median(256.0 / np.maximum(scale, 1e-9)) >= 512 else 256
