"""The product's stages as plain functions over files: used by the CLI, the service, tests and benchmarks."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from backend import __version__, media
from backend.analysis.fitting import FitConfig, fit_sequence, refit_expression, reprojection_nme
from backend.analysis.overlay import draw_overlay, unique_edges
from backend.analysis.profile_files import write_profile_files
from backend.analysis.smoothing import smooth_expression, smooth_pose
from backend.analysis.tracking import track_frames
from backend.core.atomic import atomic_dir, exclusive_output
from backend.core.diskspace import MB, require_free_space, writable_dir
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.face.crops import CROP_SIZES, crop_affines, crop_boxes, crop_camera
from backend.face.landmarks import N_MESH
from backend.face.metrics import mouth_opening, pearson, ratio, rotation_jerk, rotation_jitter
from backend.face.model import load_template
from backend.face.posing import posed_vertices_np, project_np
from backend.face.profile import FORMAT, VERSION, cache_key, is_current_profile, profile_id_for
from backend.render.texture import FrameSamples, estimate_texture, masked_psnr, render_samples

TEXTURE_FRAMES = 16
PSNR_FRAMES = 8
OVERLAY_MAX_SIDE = 720
AUDIO_SR = 16000


@dataclass
class AnalyzeInputs:
    clip: Path
    info: media.VideoInfo
    audio: Path | None
    fps: float
    frame_count: int
    clip_sha: str
    audio_sha: str | None


def _check_inputs(clip: Path, audio: Path | None, fps: float | None) -> AnalyzeInputs:
    kind = media.sniff(clip)
    if kind == "image":
        raise UserError(f"{clip} is a still image; analyze needs a video of the person talking (about 10 s)",
                        hint="record or pick a short video of the target person")
    if kind != "video":
        raise UserError(f"{clip} has no video stream (it is {kind}); analyze needs a video of the target person",
                        hint="pass the speech as --audio and a video clip as CLIP")
    if audio is not None and media.sniff(audio) not in ("audio", "video"):
        raise UserError(f"--audio {audio} holds no audio", hint="pass a wav/mp3/m4a/flac file or a video with sound")
    if fps is not None and not 1 <= fps <= 120:
        raise UserError(f"--fps must be between 1 and 120, got {fps}")
    info = media.probe_video(clip)
    rate = float(fps) if fps else float(media.default_fps(info.fps))
    total = media.count_frames(clip, rate)
    if total < 10:
        if info.truncated:
            raise UserError(f"{clip} is truncated: the file ends after {total} of its frames at {rate:g} fps "
                            "(a partial copy or download)", hint="copy or download the clip again")
        raise UserError(f"{clip} is too short: {total} frames at {rate:g} fps; analyze needs at least 10 (ideally ~300)")
    return AnalyzeInputs(clip=clip, info=info, audio=audio, fps=rate, frame_count=total, clip_sha=media.sha256_file(clip),
                         audio_sha=media.sha256_file(audio) if audio else None)


def split_sample_frames(total: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames for the texture and disjoint held-out frames for face_psnr, spread over the clip."""
    spread = np.unique(np.linspace(0, total - 1, min(total, TEXTURE_FRAMES + PSNR_FRAMES)).round().astype(int))
    # every k-th spread frame is held out, so the texture never saw the frames its PSNR is measured on
    step = max(2, len(spread) // PSNR_FRAMES)
    held = np.zeros(len(spread), dtype=bool)
    held[step // 2::step] = True
    return spread[~held], spread[held]


def analyze(clip: str | Path, out_dir: str | Path, audio: str | Path | None = None, fps: float | None = None,
            progress: Progress = QUIET, force: bool = False, overlay: bool = True,
            on_busy: Callable[[], None] | None = None) -> Path:
    """Target clip (or one photo, backend.analysis.photo) -> profile directory (docs/formats.md). Reuses an
    existing profile of the same inputs. While another process writes the same profile this is an error,
    unless `on_busy` is given: then it is called and the analysis waits for the other one (and reuses it)."""
    clip, out_dir = Path(clip), Path(out_dir)
    if media.sniff(clip) == "image":  # one photo is enough: identity, texture and light from one frame
        from backend.analysis.photo import analyze_photo

        if audio is not None:
            progress.message("a photo has no speech of its own: --audio is not needed and was ignored")
        return analyze_photo(clip, out_dir, fps=fps, progress=progress, force=force, overlay=overlay)
    inputs = _check_inputs(clip, Path(audio) if audio else None, fps)
    _check_output(out_dir, inputs)
    with exclusive_output(out_dir, "profile", on_busy=on_busy):
        return _analyze(clip, out_dir, inputs, audio, progress, force, overlay)


def _check_output(out_dir: Path, inputs: AnalyzeInputs) -> None:
    """Before any work: the profile can be written where asked (and replaced, if it exists) and fits."""
    writable_dir(out_dir.parent, "profile")
    w, h = inputs.info.width, inputs.info.height
    # fit.npz + texture + the overlay video (H.264 stays well under 0.05 byte per pixel) + slack
    require_free_space(out_dir.parent, int(inputs.frame_count * w * h * 0.05) + 16 * MB, "profile")


def _analyze(clip: Path, out_dir: Path, inputs: AnalyzeInputs, audio: str | Path | None, progress: Progress,
             force: bool, overlay: bool) -> Path:
    template = load_template()
    key = cache_key(inputs.clip_sha, inputs.audio_sha, inputs.fps, template.model_id)
    if is_current_profile(out_dir, key, force):
        progress.message(f"reusing profile {out_dir} (same clip, audio and settings)")
        return out_dir
    if out_dir.exists() and not os.access(out_dir, os.W_OK | os.X_OK):
        raise UserError(f"cannot replace {out_dir}: it is read-only",
                        hint="make it writable (chmod -R u+w) or choose another output directory")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rate, total = inputs.fps, inputs.frame_count

    # Pass 1: track every frame (streaming) and keep the few frames the texture and PSNR need.
    tex_idx, eval_idx = split_sample_frames(total)
    keep = set(tex_idx.tolist()) | set(eval_idx.tolist())
    kept: dict[int, np.ndarray] = {}
    size: list[int] = []

    def frames():
        for i, rgb in media.iter_frames(clip, rate):
            if not size:
                size.extend(rgb.shape[:2])
            if i in keep:
                kept[i] = rgb
            yield i, rgb

    tracked = track_frames(frames(), total, rate, progress)
    for note in tracked.notes:
        progress.message(note)
    height, width = size
    timings["decode_track_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    fit = fit_sequence(tracked.landmarks, width, height, template, progress=progress)
    model = template.with_identity(fit.identity)
    pose = smooth_pose(fit.pose, rate)
    # with the head now smooth, let expression explain what the pose noise no longer covers
    refit = refit_expression(tracked.landmarks, model.vertices, model, pose, fit.camera, fit.expression,
                             FitConfig(lm_iterations=3), progress)
    expression = smooth_expression(refit, rate)
    centres, side = crop_boxes(tracked.landmarks[:, :N_MESH, :2], rate)
    crops = {s: crop_affines(centres, side, s) for s in CROP_SIZES}
    timings["fit_s"] = time.perf_counter() - t

    t = time.perf_counter()

    def samples_for(indices: np.ndarray) -> FrameSamples:
        a = crops[512]
        return FrameSamples(
            images=np.stack([cv2.warpAffine(kept[i], a[i], (512, 512), flags=cv2.INTER_AREA,
                                            borderMode=cv2.BORDER_REPLICATE) for i in indices]),
            cameras=np.stack([crop_camera(fit.camera, a[i]) for i in indices]),
            expression=expression[indices], pose=pose[indices])

    tex = estimate_texture(model, samples_for(tex_idx), progress)
    held_out = samples_for(eval_idx)
    rendered, masks = render_samples(model, tex, held_out.expression, held_out.pose, held_out.cameras, 512)
    face_psnr = masked_psnr(rendered, held_out.images.astype(np.float32) / 255.0, masks)
    timings["texture_s"] = time.perf_counter() - t

    mouth_raw = mouth_opening(model.shape(fit.expression))
    mouth_smooth = mouth_opening(model.shape(expression))
    quality = {
        "landmark_nme": reprojection_nme(model, model.vertices, expression, pose, fit.camera, tracked.landmarks),
        "landmark_nme_raw": fit.landmark_nme,
        "jerk_ratio": ratio(rotation_jerk(pose), rotation_jerk(fit.pose)),
        "jitter_ratio": ratio(rotation_jitter(pose), rotation_jitter(fit.pose)),
        "mouth_corr_smoothed_vs_raw": pearson(mouth_smooth, mouth_raw),
        "face_psnr": face_psnr,
        "face_psnr_frames": eval_idx.tolist(),
        "texture_coverage": tex.coverage,
        "tracked_fraction": float(tracked.valid.mean()),
        "head_rotation_std_deg": np.degrees(pose[:, :3].std(0)).round(3).tolist(),
        "focal_px": float(fit.camera[0]),
    }
    profile_id = profile_id_for(key)
    audio_samples = _clip_audio(inputs, progress)

    with atomic_dir(out_dir) as tmp:
        manifest = {
            "format": FORMAT, "version": VERSION, "profile_id": profile_id, "cache_key": key,
            "source": {"clip_name": clip.name, "clip_path": str(clip.resolve()), "clip_sha256": inputs.clip_sha, "audio_sha256": inputs.audio_sha,
                       "audio_source": "file" if inputs.audio else ("clip" if audio_samples is not None else "none")},
            "fps": rate, "frame_count": total, "width": width, "height": height,
            "face_model": model.model_id, "basis_names": model.basis_names,
            "software_version": __version__, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        write_profile_files(tmp, model, tracked.landmarks.astype(np.float32), tracked.valid, fit, pose, expression,
                            crops, tex.albedo, tex.sh, rate, profile_id,
                            {"source": "analyze", "clip": clip.name, "software_version": __version__})
        if audio_samples is not None:
            media.write_wav(tmp / "audio.wav", audio_samples, AUDIO_SR)
        if overlay:
            t = time.perf_counter()
            _write_overlay(tmp / "overlay.mp4", clip, inputs.info, rate, total, model, expression, pose, fit.camera,
                           tracked.landmarks, audio_samples, progress)
            timings["overlay_s"] = time.perf_counter() - t
        timings["total_s"] = time.perf_counter() - t0
        quality["timings"] = {k: round(v, 2) for k, v in timings.items()}
        (tmp / "quality.json").write_text(json.dumps(quality, indent=2) + "\n")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    progress.close()
    return out_dir


def _clip_audio(inputs: AnalyzeInputs, progress: Progress) -> np.ndarray | None:
    if inputs.audio is not None:
        return media.load_audio(inputs.audio, sr=AUDIO_SR)
    if inputs.info.has_audio:
        return media.load_audio(inputs.clip, sr=AUDIO_SR)
    progress.message("the clip has no audio stream and no --audio was given: the profile has no speech, so "
                     "personalize will need audio (pass --audio WAV)")
    return None


def _write_overlay(path: Path, clip: Path, info: media.VideoInfo, rate: float, total: int, model, expression, pose, camera, landmarks,
                   audio_samples, progress: Progress) -> None:
    scale = min(1.0, OVERLAY_MAX_SIDE / max(info.width, info.height))
    out_w, out_h = media.frame_size(info, OVERLAY_MAX_SIDE)
    edges = unique_edges(model.triangles)
    audio = (audio_samples, AUDIO_SR) if audio_samples is not None else None
    progress.stage("write overlay.mp4", total)
    with media.VideoWriter(path, rate, out_w, out_h, crf=23, audio=audio, preset="veryfast") as writer:
        for i, rgb in media.iter_frames(clip, rate, max_side=OVERLAY_MAX_SIDE):
            verts = posed_vertices_np(model.vertices, model.basis, expression[i:i + 1], pose[i:i + 1])[0]
            writer.write(draw_overlay(rgb, project_np(verts, camera), edges, landmarks[i, :, :2], scale))
            progress.update(1)
