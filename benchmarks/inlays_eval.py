"""Eyes and mouth from the clip's own frames (backend.render.inlays) on the eval protocol's split
(docs/render.md). Per clip: the held-out frames are rendered with their fitted tracks through the target
profile (the first N frames: the memory only ever holds those) without and with the inlays, and, when the
work folder holds a trained refiner checkpoint (refined.pt, from benchmarks/refine_eval.py), refined
without and with them; each is compared with the real held-out crops by the eval's video metrics, and a
mouth/eye-region PSNR (boxes around the real crops' tracked outlines) is added.

    .venv/bin/python benchmarks/inlays_eval.py WORK_DIR [--strip PNG]

WORK_DIR as for benchmarks/refine_eval.py (full_profile/, target_profile/, target.mp4, heldout_audio.wav,
real_256.npy, split.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from refine_eval import render_heldout, write_strip  # noqa: E402

from backend import media  # noqa: E402
from backend.core.atomic import write_json  # noqa: E402
from backend.core.tracks import Tracks, save_tracks  # noqa: E402
from backend.eval.protocol import video_metrics  # noqa: E402
from backend.face.profile import load_profile  # noqa: E402
from backend.render.inlays import REGIONS  # noqa: E402
from backend.render.pasteback import crop_points  # noqa: E402
from backend.render.refine.presets import preset_for  # noqa: E402
from backend.render.refine.train import train_refiner  # noqa: E402


def region_psnr(real: np.ndarray, video: np.ndarray, boxes: np.ndarray) -> float:
    """PSNR over the pixels of per-frame boxes [T,R,4] (x0, y0, x1, y1)."""
    err, count = 0.0, 0
    for t in range(len(video)):
        for x0, y0, x1, y1 in boxes[t]:
            d = real[t, y0:y1, x0:x1].astype(np.float64) - video[t, y0:y1, x0:x1]
            err += float((d ** 2).sum())
            count += d.size
    return round(10 * np.log10(255.0 ** 2 / max(err / max(count, 1), 1e-9)), 3)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("--strip", type=Path, help="coarse | coarse+inlays | real strip (public-domain clips only)")
    ap.add_argument("--train-steps", type=int, help="also train a draft refiner on inlaid inputs for this many "
                                                    "steps (refined_inlaid.pt) and render through it")
    ap.add_argument("--only-trained", action="store_true", help="with --train-steps: skip the other variants "
                                                                "(their figures are in inlays_report.json)")
    ap.add_argument("--background", choices=("own", "matched"), default="own",
                    help="with --train-steps: what the training frames are composited over (RefinerConfig)")
    args = ap.parse_args()
    w = args.work
    n = json.loads((w / "split.json").read_text())["train_frames"]
    full, target = load_profile(w / "full_profile"), load_profile(w / "target_profile")
    fit = full.fit()
    audio = w / "heldout_audio.wav"
    seconds = len(media.load_audio(audio, sr=16000)) / 16000
    real = np.load(w / "real_256.npy")
    real = real[:min(len(real), int(seconds * full.fps))]
    m = len(real)
    tracks = w / "heldout_fitted_tracks.json"
    save_tracks(Tracks(fps=full.fps, basis=list(target.manifest["basis_names"]),
                       expression=fit["expression"][n:n + m].astype(np.float32),
                       pose=fit["pose"][n:n + m].astype(np.float32), profile_id=target.id,
                       face_model=str(target.manifest["face_model"]), provenance={"source": "inlays_eval"}), tracks)
    # boxes around the real held-out crops' eye and mouth outlines (their tracked landmarks)
    boxes = np.zeros((m, len(REGIONS), 4), np.int64)
    for t in range(m):
        pts = crop_points(fit["landmarks"][n + t, :, :2], fit["crop_256"][n + t])
        for r, loop in enumerate(REGIONS.values()):
            lo, hi = np.floor(pts[loop].min(0)) - 3, np.ceil(pts[loop].max(0)) + 3
            boxes[t, r] = np.clip([lo[0], lo[1], hi[0], hi[1]], 0, 256)
    report: dict = {"clip": full.manifest["source"]["clip_name"], "train_frames": n, "test_frames": m, "timings": {}}
    videos: dict[str, np.ndarray] = {}

    def render(name: str, **kw: object) -> None:
        render_heldout(target.path, tracks, audio, w, name, m, full.fps, report, videos, **kw)

    ck, live = w / "refined.pt", target.path / "refiner.pt"
    tag = "" if args.background == "own" or not args.train_steps else f"_{args.background}_bg"
    if not args.only_trained:
        render("coarse", inlays=False)
        render("coarse_inlays", inlays=True)
    if args.train_steps:
        cfg = preset_for("draft", "cpu", steps=args.train_steps, background=args.background)  # inlaid inputs
        trained = w / f"refined_inlaid{tag}.pt"
        r = train_refiner(target.path, w / "target.mp4", cfg, out=trained, preset="draft")
        report["timings"][f"train_refined_inlaid{tag}_s"] = round(r.seconds, 1)
        os.replace(target.path / "refiner_samples.png", w / f"refined_inlaid{tag}_samples.png")
        os.replace(trained, live)
        try:
            render(f"refined_inlaid_input{tag}", refine=True, inlays=True)
        finally:
            os.replace(live, trained)
    if ck.is_file() and not args.only_trained:
        os.replace(ck, live)
        try:
            render("refined", refine=True, inlays=False)
            render("refined_inlays", refine=True, inlays=True)
        finally:
            os.replace(live, ck)
    metrics, _, _ = video_metrics(real, videos)
    for name, video in videos.items():
        metrics[name]["eye_mouth_psnr"] = region_psnr(real, video, boxes)
    report["variants"] = metrics
    if args.strip and "coarse" in videos:
        write_strip(args.strip, [videos["coarse"], videos["coarse_inlays"], real])
    report["load_average"] = os.getloadavg()
    write_json(w / (f"inlays_trained{tag}_report.json" if args.only_trained
                    else "inlays_report.json"), report)
    print(json.dumps({k: {x: v.get(x) for x in ("psnr", "ssim", "lmd_px", "identity_cos", "temporal_diff_ratio",
                                                  "eye_mouth_psnr")} for k, v in metrics.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
