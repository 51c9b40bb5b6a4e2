"""The refiner on the eval protocol's split, with and without its memory, and the background judder
before/after (docs/render.md). Per clip: the full clip's profile gives the held-out truth (fitted tracks,
crop placement); the target profile (the first N frames) is what the refiner is personalised on; the
held-out frames are rendered with their fitted tracks (coarse, refined, refined without the memory) and
compared with the real held-out crops by the eval's video metrics.

    .venv/bin/python benchmarks/refine_eval.py WORK_DIR [--steps N] [--no-ablation]

WORK_DIR holds full_profile/, target_profile/, target.mp4, heldout_audio.wav, real_256.npy and split.json
(the pieces `talking-head eval` writes under its work/ folder).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend import media  # noqa: E402
from backend.core.atomic import write_json  # noqa: E402
from backend.core.tracks import Tracks, save_tracks  # noqa: E402
from backend.eval.protocol import video_metrics  # noqa: E402
from backend.face.profile import load_profile  # noqa: E402
from backend.render.background import plan_background, playback_stats  # noqa: E402
from backend.render.refine.presets import preset_for  # noqa: E402
from backend.render.refine.train import train_refiner  # noqa: E402
from backend.render.video import render_video  # noqa: E402


def write_strip(path: Path, columns: list[np.ndarray], rows: int = 4, tile: int = 160) -> None:
    import cv2

    from backend.core.atomic import atomic_path

    idx = np.linspace(0, len(columns[-1]) - 1, rows + 2).round().astype(int)[1:-1]
    grid = np.concatenate([np.concatenate([cv2.resize(c[i], (tile, tile), interpolation=cv2.INTER_AREA)
                                           for c in columns], 1) for i in idx], 0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))[1].tobytes())


def render_heldout(profile: Path, tracks: Path, audio: Path, w: Path, name: str, frames: int, fps: float,
                   report: dict, videos: dict[str, np.ndarray], **kw: object) -> None:
    """Render the held-out tracks as 256 px crops into w/NAME.mp4 on the target clip; time it into
    report["timings"], decode its first `frames` frames into videos[name]."""
    t = time.perf_counter()
    r = render_video(profile, tracks, audio, w / f"{name}.mp4", clip=w / "target.mp4", size=256, crop_only=True,
                     **kw)  # type: ignore[arg-type]
    report["timings"][f"render_{name}_ms_per_frame"] = round(1000 * (time.perf_counter() - t) / frames, 1)
    videos[name] = np.stack([rgb for _, rgb in media.iter_frames(r.path, fps)])[:frames]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--strip", type=Path, help="write a coarse | refined | real strip of 4 held-out frames here "
                                               "(public-domain material only: the demo clip)")
    args = ap.parse_args()
    w = args.work
    n = json.loads((w / "split.json").read_text())["train_frames"]
    full, target = load_profile(w / "full_profile"), load_profile(w / "target_profile")
    fit, tfit = full.fit(), target.fit()
    audio = w / "heldout_audio.wav"
    seconds = len(media.load_audio(audio, sr=16000)) / 16000
    real = np.load(w / "real_256.npy")
    real = real[:min(len(real), int(seconds * full.fps))]  # the held-out speech may end a few frames early
    m = len(real)
    expr, pose = fit["expression"][n:n + m], fit["pose"][n:n + m]
    tracks = w / "heldout_fitted_tracks.json"
    save_tracks(Tracks(fps=full.fps, basis=list(target.manifest["basis_names"]), expression=expr.astype(np.float32),
                       pose=pose.astype(np.float32), profile_id=target.id, face_model=str(target.manifest["face_model"]),
                       provenance={"source": "refine_eval"}), tracks)
    report: dict = {"clip": full.manifest["source"]["clip_name"], "train_frames": n, "test_frames": m,
                    "background": {}, "timings": {}}
    for method in ("keyframes", "playback"):
        plan = plan_background(pose, tfit["pose"], full.fps, valid=tfit["valid"], method=method)
        d = np.degrees(np.linalg.norm(plan.pose[:, :3] - pose[:, :3], axis=1))
        report["background"][method] = {**playback_stats(plan.source), "mean_rotation_change_deg": round(float(d.mean()), 2)}
    videos: dict[str, np.ndarray] = {}

    def render(name: str, **kw: object) -> None:
        render_heldout(target.path, tracks, audio, w, name, m, full.fps, report, videos, **kw)

    render("coarse_keyframes_bg", background="keyframes")
    render("coarse")
    variants = [("refined", True)] + ([] if args.no_ablation else [("refined_no_memory", False)])
    for name, memory in variants:
        cfg = preset_for("draft", "cpu", steps=args.steps, memory=memory)
        ck = w / f"{name}.pt"
        r = train_refiner(target.path, w / "target.mp4", cfg, out=ck, preset="draft")
        report["timings"][f"train_{name}_s"] = round(r.seconds, 1)
        report["timings"][f"prepare_{name}_s"] = round(r.prepare_seconds, 1)
        report["steps"] = cfg.steps
        os.replace(target.path / "refiner_samples.png", w / f"{name}_samples.png")
        live = target.path / "refiner.pt"
        os.replace(ck, live)
        try:
            render(name, refine=True)
        finally:
            os.replace(live, ck)
        metrics, _, _ = video_metrics(real, videos)  # after every variant: a partial report survives
        report["variants"] = metrics
        write_json(w / "refine_report.json", report)
    if args.strip:
        write_strip(args.strip, [videos["coarse"], videos["refined"], real])
    report["load_average"] = os.getloadavg()
    write_json(w / "refine_report.json", report)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
