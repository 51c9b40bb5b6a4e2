"""`talking-head bench`: wall time and peak memory of every stage on a fixed workload (the built-in synthetic
demo clip, plus a real shared clip when present), with machine info. The refiner's training is timed over
REFINER_STEPS steps of its preset for the device (per step and extrapolated to the preset's steps: a full
training is minutes); its inference is a refined render of the same tracks. The Blender stage runs in its own process with bpy (the backend never imports bpy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from backend import media
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.eval.machine import check_device, machine_info
from backend.eval.memory import StageMeter

ROOT = Path(__file__).resolve().parents[2]  # the checkout (this file is backend/eval/benchmark.py)
REAL_CLIP = "video/address_man_10s_512.mp4"
SYNTHETIC_FRAMES = 100
RENDER_SIZE = 256
REFINER_STEPS = 40  # timed training steps (the preset's own count is extrapolated from them)
BLENDER_SCRIPT = ROOT / "benchmarks" / "bench_blender_stage.py"
# analyze's progress stages -> bench stages (analyze runs them in one call)
ANALYZE_STAGES = {"track faces": "track", "fit identity": "fit", "fit frames": "fit", "fit lighting": "texture",
                  "unwrap texture": "texture"}


def shared_data_dir() -> Path:
    return Path(os.environ.get("TALKING_HEAD_SHARED_DATA", ROOT.parent / "shared" / "data"))


def workloads(tmp: Path) -> list[tuple[str, Path]]:
    from backend.media.demo_clip import write_demo_clip

    out = [("synthetic", write_demo_clip(tmp / "demo.mp4", frames=SYNTHETIC_FRAMES))]
    real = shared_data_dir() / REAL_CLIP
    if real.is_file():
        out.append((f"real:{real.name}", real))
    return out


def bench(device: str = "cpu", progress: Progress = QUIET) -> dict:
    device = check_device(device)
    machine = machine_info(device)  # before the stages: they may change torch's thread count
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="th-bench-") as tmp_name:
        tmp = Path(tmp_name)
        results = {name: bench_clip(clip, tmp / name.replace(":", "_"), progress, device)
                   for name, clip in workloads(tmp)}
    machine["load_average_after"] = machine_info(device).get("load_average")
    return {"machine": machine, "device_note": f"the refiner trains and runs on {device}; every other stage "
            "runs on the CPU", "workloads": results, "total_s": round(time.perf_counter() - t0, 1)}


def bench_clip(clip: Path, work: Path, progress: Progress, device: str = "cpu") -> dict[str, Any]:
    from backend.analysis.pipeline import analyze
    from backend.motion.animation import animate
    from backend.motion.personalization import personalize

    work.mkdir(parents=True)
    info = media.probe_video(clip)
    fps = float(media.default_fps(info.fps))
    frames = media.count_frames(clip, fps)
    errors: dict[str, str] = {}
    with StageMeter() as meter:
        def run(name: str, fn: Callable[[], Any]) -> Any:
            meter.label(name)
            try:
                return fn()
            except UserError as exc:  # a stage this workload cannot run (e.g. no speech): say why
                errors[name] = str(exc).splitlines()[0]
                return None

        run("decode", lambda: sum(1 for _ in media.iter_frames(clip, fps)))

        def on_event(event: dict) -> None:
            if event.get("event") == "progress" and event.get("stage") in ANALYZE_STAGES:
                meter.label(ANALYZE_STAGES[event["stage"]])

        profile = run("analyze", lambda: analyze(clip, work / "profile", progress=Progress(mode="quiet",
                                                                                           callback=on_event),
                                                  overlay=False))
        render = trained = refined = None
        if profile is not None:
            run("personalize", lambda: personalize(profile, progress=progress))
            speech = profile / "audio.wav"
            if "personalize" not in errors and speech.is_file():
                run("animate", lambda: animate(profile, speech))
            run("rasterize", lambda: rasterize_all(profile))
            render = run("render", lambda: _render(profile, work))
            trained = run("refine_train", lambda: _train_refiner(profile, clip, device))
            refined = run("refine_infer", lambda: _render(profile, work, refine=True)) if trained else None
    stages = stage_table(meter.stats, errors, frames)
    if render is not None:
        stages["render"]["stage_timings"] = render.timings
    if trained is not None:
        from backend.render.refine.presets import preset_for

        preset_steps = preset_for("auto", device).steps
        per_step = trained.seconds / max(trained.steps, 1)
        stages["refine_train"].update({"steps": trained.steps, "frames": trained.frames, "device": device,
                                       "prepare_s": round(trained.prepare_seconds, 2),
                                       "s_per_step": round(per_step, 3), "preset_steps": preset_steps,
                                       "preset_estimate_s": round(trained.prepare_seconds + per_step * preset_steps,
                                                                  1)})
    if refined is not None:
        stages["refine_infer"]["stage_timings"] = refined.timings
        stages["refine_infer"]["refined"] = refined.refined
    stages["blender"] = blender_stage(work / "profile", work) if profile is not None else {"missing": "no profile"}
    return {"clip": clip.name, "frames": frames, "fps": fps, "size": [info.width, info.height], "stages": stages}


def stage_table(stats: dict[str, dict[str, float]], errors: dict[str, str], frames: int) -> dict[str, dict]:
    """Meter stats -> the bench's stages. `analyze` is only the part before tracking starts plus the total of
    its sub-stages; `track` holds decode + MediaPipe, so the decode-only pass is subtracted from it."""
    out: dict[str, dict[str, Any]] = {}
    for name, s in stats.items():
        out[name] = {"s": round(s["wall_s"], 3), "cpu_s": round(s["cpu_s"], 3),
                     "per_frame_ms": round(1000 * s["wall_s"] / max(frames, 1), 2),
                     "start_rss_mb": round(s["start_rss_mb"], 1), "peak_rss_mb": round(s["peak_rss_mb"], 1)}
    if "track" in out and "decode" in out:
        for key in ("s", "cpu_s"):
            out["track"][key] = round(max(out["track"][key] - out["decode"][key], 0.0), 3)
        out["track"]["per_frame_ms"] = round(1000 * out["track"]["s"] / max(frames, 1), 2)
        out["track"]["note"] = "decode + MediaPipe inside analyze, minus the decode-only pass"
    subs = [out[k] for k in ("track", "fit", "texture") if k in out]
    if "analyze" in out and subs:
        a = out["analyze"]
        a["s"] = round(a["s"] + sum(x["s"] for x in subs) + out.get("decode", {}).get("s", 0.0) * ("track" in out), 3)
        a["cpu_s"] = round(a["cpu_s"] + sum(x["cpu_s"] for x in subs)
                           + out.get("decode", {}).get("cpu_s", 0.0) * ("track" in out), 3)
        a["per_frame_ms"] = round(1000 * a["s"] / max(frames, 1), 2)
        a["peak_rss_mb"] = max([a["peak_rss_mb"]] + [x["peak_rss_mb"] for x in subs])
        a["note"] = "whole analyze call: decode + track + fit + texture + writing the profile"
    for name, message in errors.items():
        out[name] = {"error": message}
    return out


def rasterize_all(profile_dir: Path, batch: int = 16) -> int:
    """Draw the profile's own tracks with the render stage's FaceRenderer at 256 px (no background, no encode)."""
    from backend.face.crops import crop_camera
    from backend.face.profile import load_profile
    from backend.render.face import FaceRenderer
    from backend.render.video import load_albedo

    profile = load_profile(profile_dir)
    fit = profile.fit()
    renderer = FaceRenderer(profile.face_model(), load_albedo(profile), profile.lighting(), RENDER_SIZE)
    crops = fit[f"crop_{RENDER_SIZE}"]
    n = len(fit["pose"])
    for lo in range(0, n, batch):
        idx = np.arange(lo, min(lo + batch, n))
        cams = np.stack([crop_camera(fit["camera"], a) for a in crops[idx]])
        renderer.draw(fit["expression"][idx], fit["pose"][idx], cams)
    return n


def _render(profile: Path, work: Path, refine: bool = False):
    from backend.render.video import render_video

    audio = profile / "audio.wav"
    if not audio.is_file():
        raise UserError("the clip has no audio to mux")
    return render_video(profile, profile / "tracks.json", audio, work / f"render{'_refined' * refine}.mp4",
                        size=RENDER_SIZE, refine=refine)


def _train_refiner(profile: Path, clip: Path, device: str):
    """REFINER_STEPS steps of the device's preset (the auto preset)."""
    from dataclasses import replace

    from backend.render.refine.presets import preset_for
    from backend.render.refine.train import train_refiner

    cfg = preset_for("auto", device)
    return train_refiner(profile, clip, replace(cfg, steps=min(REFINER_STEPS, cfg.steps)), device=device,
                         preset="auto")


def blender_stage(profile: Path, work: Path, timeout_s: int = 600) -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec("bpy") is None:
        return {"missing": "bpy is not installed (pip extra 'blender')"}
    if not BLENDER_SCRIPT.is_file():
        return {"missing": f"{BLENDER_SCRIPT} not found (a source checkout has it)"}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(BLENDER_SCRIPT), str(profile), str(profile / "tracks.json"),
                           str(work)], capture_output=True, text=True, timeout=timeout_s)
    wall = time.perf_counter() - t
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}"}
    return {**json.loads(lines[-1]), "process_wall_s": round(wall, 2)}
