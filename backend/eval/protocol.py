"""`talking-head eval`: the whole product measured on one clip, the way papers in the field report it.

Protocol (docs/metrics.md): the first N frames (and their speech) are the target clip; it is analysed and
personalised like a user's clip. The speech after frame N drives animate; the result is rendered at 256 px
(face crops, the refiner's format) with the predicted poses, with the held-out frames' fitted poses, and with
the fitted expression and pose (the renderer's ceiling); each is compared with the real held-out crops. The
held-out truth (tracks, crop placement) comes from analysing the whole clip. The refiner
(backend.render.refine) is personalised on the target clip after the motion model and the same three
tracks are rendered through it (`refined_*`); without it (`refiner=None`) those variants are missing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from backend import media
from backend.core.atomic import atomic_path, write_json
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.core.tracks import Layer, Tracks, save_tracks
from backend.eval.identity import descriptors, identity_cos, sample_indices
from backend.eval.landmarks import lmd_px, retrack
from backend.eval.machine import check_device, machine_info
from backend.eval.split import cut_speech, split_clip
from backend.eval.video import psnr, ssim, temporal_diff_ratio
from backend.motion import features

SIZE = 256
MIN_TEST_FRAMES = 50
IDENTITY_FRAMES = 24  # dlib descriptors cost ~0.1 s each: a spread sample of frames is enough
HEADLINE = "coarse_fitted_pose"  # the variant summary tables quote (papers compare images at the true pose)
RENDERED = ("coarse_predicted_pose", "coarse_fitted_pose", "coarse_fitted_tracks")
REFINED = tuple(name.replace("coarse_", "refined_") for name in RENDERED)  # the same tracks through the refiner
NO_REFINER = "not trained in this run (--no-refiner)"
VIDEO_METRICS = ("psnr", "ssim", "lmd_px", "lmd_px_centred", "identity_cos", "temporal_diff_ratio")
REQUIRED_KEYS = ("landmark_nme", "mouth_corr", "mouth_lmd", "mouth_lmd_baseline", "pose_std_ratio", "jerk_ratio",
                 *VIDEO_METRICS, "timings")


def _speech(clip: Path, speech: Path | None) -> np.ndarray:
    source = speech or clip
    if speech is None and not media.probe_video(clip).has_audio:
        raise UserError(f"{clip} has no audio stream: eval drives the held-out frames with their speech",
                        hint="pass the clip's speech with --audio WAV")
    return media.load_audio(source, sr=features.SR)


def evaluate(clip: str | Path, out_dir: str | Path, speech: str | Path | None = None, train_frames: int = 300,
             device: str = "cpu", general: Path | None = None, scratch: bool = False, seed: int = 0,
             progress: Progress = QUIET, refiner: str | None = "auto", refiner_steps: int | None = None) -> dict:
    """Run the protocol above; writes out_dir/report.json, report.md, plots and the rendered videos.
    `refiner`: the refiner preset ("auto", "draft", "full"; None: no refined variants), `refiner_steps`
    overrides its step count."""
    from backend.analysis.pipeline import analyze
    from backend.face.profile import load_profile
    from backend.motion.animation import animate_samples, load_personal
    from backend.motion.data import load_clip
    from backend.motion.evaluation import score_heldout
    from backend.motion.personalization import personalize
    from backend.render.video import render_video

    t_start = time.perf_counter()
    clip, out_dir = Path(clip), Path(out_dir)
    speech = Path(speech) if speech else None
    device = check_device(device)
    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def timed(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 2)

    if not clip.is_file() or media.sniff(clip) != "video":
        raise UserError(f"{clip} is not a video file", hint="pass a video of a person talking")
    fps = float(media.default_fps(media.probe_video(clip).fps))
    total = media.count_frames(clip, fps)
    if train_frames < 10 or total < train_frames + MIN_TEST_FRAMES:
        raise UserError(f"{clip} has {total} frames at {fps:g} fps: need at least {train_frames + MIN_TEST_FRAMES} "
                        f"to analyse {train_frames} and test on at least {MIN_TEST_FRAMES}",
                        hint="use a longer clip or lower --train-frames (at least 10)")
    samples = _speech(clip, speech)
    t = time.perf_counter()
    full_dir = analyze(clip, work / "full_profile", audio=speech, progress=progress, overlay=False)
    timed("analyze_full_s", t)
    full = load_profile(full_dir)
    fps, total = full.fps, int(full.manifest["frame_count"])
    target_audio, heldout_audio = cut_speech(samples, features.SR, fps, train_frames, work)
    full_fit = full.fit()
    t = time.perf_counter()
    target_clip, real = split_clip(clip, fps, train_frames, full_fit[f"crop_{SIZE}"][train_frames:], SIZE, work,
                                   progress)
    timed("split_s", t)
    t = time.perf_counter()
    target_dir = analyze(target_clip, work / "target_profile", audio=target_audio, fps=fps, progress=progress,
                         overlay=False)
    timed("analyze_target_s", t)
    target = load_profile(target_dir)

    result = personalize(target_dir, out=work / "motion.pt", general=general, scratch=scratch, seed=seed,
                         progress=progress)
    timings["personalize_s"] = round(result.seconds, 2)
    from backend.motion.evaluation import general_model_saw

    # the general model may have been trained on this very clip, test frames included: say so in the report
    seen = general_model_saw(full.manifest, result.init, general)
    model, meta = load_personal(target_dir, work / "motion.pt")
    t = time.perf_counter()
    layers: dict = {}
    test_audio = features.load_speech(heldout_audio)
    expr, pose = animate_samples(model, meta, test_audio, fps, "predicted", seed=seed, layers=layers)
    timed("animate_s", t)

    n = min(len(expr), total - train_frames)
    expr, pose = expr[:n], pose[:n]
    layers = {k: Layer(v.weight[:n], v.shape) for k, v in layers.items()}
    truth = load_clip(full_dir, speech_only=False)  # the fitted face as seen, blinks included
    true_expr, true_pose = truth.expression[train_frames:train_frames + n], truth.pose[train_frames:train_frames + n]
    motion = score_heldout(truth, expr, layers, true_expr, pose, true_pose, truth.expression[:train_frames].mean(0),
                           test_audio)
    real = real[:n]
    # the split and the real held-out crops, for the render benchmarks that re-use this work folder
    # (benchmarks/refine_eval.py, inlays_eval.py, psnr_headroom.py)
    write_json(work / "split.json", {"train_frames": train_frames, "test_frames": n})
    with atomic_path(work / f"real_{SIZE}.npy", suffix=".npy") as tmp:
        np.save(tmp, real)

    tracks = {"coarse_predicted_pose": (expr, pose), "coarse_fitted_pose": (expr, true_pose),
              "coarse_fitted_tracks": (true_expr, true_pose)}
    missing: dict[str, str] = {}
    if refiner is None:
        missing = dict.fromkeys(REFINED, NO_REFINER)
    else:
        from backend.render.refine.presets import preset_for
        from backend.render.refine.train import train_refiner

        cfg = preset_for(refiner, device, steps=refiner_steps)
        trained = train_refiner(target_dir, target_clip, cfg, device=device, seed=seed, progress=progress,
                                preset=refiner)
        timings["refiner_prepare_s"] = round(trained.prepare_seconds, 2)
        timings["refiner_train_s"] = round(trained.seconds, 2)
        tracks.update({r: tracks[c] for c, r in zip(RENDERED, REFINED, strict=True)})
    videos: dict[str, np.ndarray] = {}
    for name in [n for n in tracks if n not in missing]:
        e, p = tracks[name]
        tracks_path = work / f"{name}.json"
        save_tracks(Tracks(fps=fps, basis=list(target.manifest["basis_names"]), expression=np.asarray(e, np.float32),
                           pose=np.asarray(p, np.float32), profile_id=target.id,
                           face_model=str(target.manifest["face_model"]),
                           provenance={"source": "eval", "variant": name}), tracks_path)
        t = time.perf_counter()
        rendered = render_video(target_dir, tracks_path, heldout_audio, out_dir / f"{name}.mp4", clip=target_clip,
                                size=SIZE, crop_only=True, progress=progress, refine=name in REFINED)
        timed(f"render_{name}_s", t)
        timings[f"render_{name}_per_frame_ms"] = round(1000 * rendered.timings["total_s"] / max(n, 1), 1)
        videos[name] = np.stack([rgb for _, rgb in media.iter_frames(rendered.path, fps)])[:n]

    t = time.perf_counter()
    variants, real_info, landmarks = video_metrics(real, videos, progress)
    timed("video_metrics_s", t)
    for name, reason in missing.items():
        variants[name] = {"missing": reason}

    analysis = json.loads((target_dir / "quality.json").read_text())
    report: dict = {
        "clip": clip.name, "audio": speech.name if speech else "clip", "fps": fps, "train_frames": train_frames,
        "test_frames": n, "headline_variant": HEADLINE,
        "landmark_nme": analysis["landmark_nme"], "face_psnr_analyze": analysis["face_psnr"],
        **{k: motion[k] for k in ("mouth_corr", "mouth_lmd", "mouth_lmd_baseline", "mouth_lmd_reduction",
                                  "mouth_lmd_mm", "mouth_lmd_baseline_mm", "mouth_open_std_ratio",
                                  "pose_std_ratio", "jerk_ratio", "sync_offset_frames", "silent_closed_share",
                                  "silent_closed_share_true", "blink_rate_ratio")
           if k in motion},
        **{m: {v: variants[v].get(m) for v in variants} for m in VIDEO_METRICS},
        "variants": variants,
        "real_crops": real_info,
        "missing": sorted({f"{v}: {r}" for v, r in missing.items()}),
        "motion_init": result.init,
        "general_model_saw_clip": seen,
        "machine": machine_info(device),
        "device_note": ("the refiner trains and runs on the device; every other stage runs on the CPU"
                        if refiner is not None else "every stage runs on the CPU (no refiner in this run)"),
    }
    t = time.perf_counter()
    from backend.eval.plots import write_plots
    from backend.eval.report import write_markdown

    report["plots"] = write_plots(out_dir, report, truth, expr, true_expr, pose, true_pose, fps, train_frames,
                                  real, videos, landmarks)
    timed("plots_s", t)
    timings["total_s"] = round(time.perf_counter() - t_start, 2)
    report["timings"] = timings
    write_json(out_dir / "report.json", report)
    write_markdown(out_dir / "report.md", report)
    progress.close()
    return report


def video_metrics(real: np.ndarray, videos: dict[str, np.ndarray],
                  progress: Progress = QUIET) -> tuple[dict[str, dict], dict, dict[str, np.ndarray]]:
    """Every video metric of every output video against the real crops (docs/metrics.md).
    -> (metrics per video, facts about the real crops, re-tracked landmarks per video and "real")."""
    progress.stage("video metrics", 1 + len(videos))
    real_lm = retrack(real)
    idx = sample_indices(len(real), IDENTITY_FRAMES)
    real_id = descriptors(real, real_lm, idx)
    progress.update(1)
    out: dict[str, dict] = {}
    landmarks = {"real": real_lm}
    for name, video in videos.items():
        lm = landmarks[name] = retrack(video)
        lmd, used = lmd_px(lm, real_lm)
        lmd_c, _ = lmd_px(lm, real_lm, centred=True)
        cos, id_frames = identity_cos(descriptors(video, lm, idx), real_id)
        out[name] = {"psnr": round(psnr(video, real), 3), "ssim": round(ssim(video, real), 4),
                     "lmd_px": round(lmd, 3), "lmd_px_centred": round(lmd_c, 3), "lmd_frames_fraction": round(used, 3),
                     "identity_cos": round(cos, 4), "identity_frames": id_frames,
                     "temporal_diff_ratio": round(temporal_diff_ratio(video, real), 4)}
        out[name] = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out[name].items()}
        progress.update(1)
    real_info = {"tracked_fraction": round(float(np.isfinite(real_lm).all(axis=(1, 2)).mean()), 3),
                 "identity_frames": len(real_id)}
    return out, real_info, landmarks
