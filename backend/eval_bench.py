"""`talking-head bench`: wall time and peak memory of every stage on a fixed workload (the built-in synthetic
demo clip, plus a real shared clip when present), with machine info. Stages not built yet are reported as
missing; the Blender stage runs in its own process with bpy (the backend never imports bpy)."""

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
from backend.errors import UserError
from backend.eval_machine import check_device, machine_info
from backend.eval_memory import StageMemory
from backend.progress import QUIET, Progress

ROOT = Path(__file__).resolve().parents[1]
REAL_CLIP = "video/address_man_10s_512.mp4"
SYNTHETIC_FRAMES = 100
RENDER_SIZE = 256
BLENDER_SCRIPT = ROOT / "benchmarks" / "bench_blender_stage.py"
# analyze's progress stages -> bench stages (analyze runs them in one call)
ANALYZE_STAGES = {"track faces": "track", "fit identity": "fit", "fit frames": "fit", "fit lighting": "texture",
                  "unwrap texture": "texture"}


def shared_data_dir() -> Path:
    return Path(os.environ.get("TALKING_HEAD_SHARED_DATA", ROOT.parent / "shared" / "data"))


def workloads(tmp: Path) -> list[tuple[str, Path]]:
    from backend.demo_clip import write_demo_clip

    out = [("synthetic", write_demo_clip(tmp / "demo.mp4", frames=SYNTHETIC_FRAMES))]
    real = shared_data_dir() / REAL_CLIP
    if real.is_file():
        out.append((f"real:{real.name}", real))
    return out


def bench(device: str = "cpu", progress: Progress = QUIET) -> dict:
    device = check_device(device)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="th-bench-") as tmp_name:
        tmp = Path(tmp_name)
        results = {name: bench_clip(clip, tmp / name.replace(":", "_"), progress) for name, clip in workloads(tmp)}
    return {"machine": machine_info(device), "device_note": "every stage runs on the CPU today (no stage takes a "
            "device yet)", "workloads": results, "total_s": round(time.perf_counter() - t0, 1)}


def bench_clip(clip: Path, work: Path, progress: Progress) -> dict[str, Any]:
    from backend.motion_animate import animate
    from backend.motion_personalize import personalize
    from backend.pipeline import analyze

    work.mkdir(parents=True)
    info = media.probe_video(clip)
    fps = float(media.default_fps(info.fps))
    frames = media.count_frames(clip, fps)
    stages: dict[str, dict[str, Any]] = {}
    with StageMemory() as mem:
        def run(name: str, fn: Callable[[], Any], count: int | None = None) -> Any:
            mem.label(name)
            t = time.perf_counter()
            try:
                value = fn()
            except UserError as exc:  # a stage this workload cannot run (e.g. no speech): say why
                stages[name] = {"error": str(exc).splitlines()[0]}
                return None
            stages[name] = _entry(time.perf_counter() - t, count)
            return value

        run("decode", lambda: sum(1 for _ in media.iter_frames(clip, fps)), frames)

        def on_event(event: dict) -> None:
            if event.get("event") == "progress" and event.get("stage") in ANALYZE_STAGES:
                mem.label(ANALYZE_STAGES[event["stage"]])

        profile = run("analyze", lambda: analyze(clip, work / "profile", progress=Progress(mode="quiet",
                                                                                           callback=on_event),
                                                  overlay=False), frames)
        if profile is not None:
            q = json.loads((profile / "quality.json").read_text())["timings"]
            decode_s = stages["decode"]["s"]
            for name, seconds in (("track", q["decode_track_s"] - decode_s), ("fit", q["fit_s"]),
                                  ("texture", q["texture_s"])):
                stages[name] = _entry(max(seconds, 0.0), frames)
            stages["track"]["note"] = "analyze's decode+track time minus the decode-only pass"
            run("personalize", lambda: personalize(profile, progress=progress), frames)
            speech = profile / "audio.wav"
            if "error" not in stages["personalize"] and speech.is_file():
                run("animate", lambda: animate(profile, speech), frames)
            run("rasterize", lambda: rasterize_all(profile), frames)
            render = run("render", lambda: _render(profile, work), frames)
            if render is not None:
                stages["render"]["stage_timings"] = render.timings
        mem.label(None)
        for name, (start, peak) in mem.peaks.items():
            if name in stages:
                stages[name].update(start_rss_mb=round(start, 1), peak_rss_mb=round(peak, 1))
    stages["refine_train"] = {"missing": "the GAN refiner does not exist yet"}
    stages["refine_infer"] = {"missing": "the GAN refiner does not exist yet"}
    stages["blender"] = blender_stage(work / "profile", work) if profile is not None else {"missing": "no profile"}
    return {"clip": clip.name, "frames": frames, "fps": fps, "size": [info.width, info.height], "stages": stages}


def _entry(seconds: float, count: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"s": round(seconds, 3)}
    if count:
        entry["per_frame_ms"] = round(1000 * seconds / count, 2)
    return entry


def rasterize_all(profile_dir: Path, batch: int = 16) -> int:
    """Draw the profile's own tracks with the render stage's FaceRenderer at 256 px (no background, no encode)."""
    from backend.crops import crop_camera
    from backend.face_render import FaceRenderer
    from backend.profile import load_profile
    from backend.render_video import load_albedo

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


def _render(profile: Path, work: Path):
    from backend.render_video import render_video

    audio = profile / "audio.wav"
    if not audio.is_file():
        raise UserError("the clip has no audio to mux")
    return render_video(profile, profile / "tracks.json", audio, work / "render.mp4", size=RENDER_SIZE)


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
