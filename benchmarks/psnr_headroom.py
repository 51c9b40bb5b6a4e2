"""Where the whole-crop PSNR error lies (docs/render.md): inside the face or in the background around it.

For each rendered held-out video in a refine/inlays work folder (coarse.mp4, coarse_inlays.mp4,
refined_inlaid_input.mp4, ... as benchmarks/inlays_eval.py writes them; the two coarse ones are rendered here
when missing) and the real held-out crops, the per-frame squared error is split by the real crop's face hull (the convex hull of its
tracked landmarks). Reported per video: the whole-crop PSNR (the eval's mean of per-frame PSNR), the PSNR
inside and outside the hull, the share of the squared error outside it, and the "perfect face" bound: the
whole-crop PSNR when every hull pixel is replaced by the real one. A refiner that only repaints the face can
never exceed that bound, whatever its size.

    .venv/bin/python benchmarks/psnr_headroom.py WORK_DIR [WORK_DIR ...] [-o headroom.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from refine_eval import render_heldout  # noqa: E402

from backend import media  # noqa: E402
from backend.core.atomic import write_json  # noqa: E402
from backend.eval.video import psnr, ssim  # noqa: E402
from backend.face.profile import load_profile  # noqa: E402
from backend.render.pasteback import crop_points  # noqa: E402

VIDEOS = ("coarse", "coarse_inlays", "refined", "refined_inlays", "refined_inlaid_input", "refined_inlaid_input_matched_bg")


def hull_masks(fit: dict, start: int, frames: int, size: int = 256) -> np.ndarray:
    """[T,size,size] bool: the real crops' face hulls."""
    import cv2

    masks = np.zeros((frames, size, size), np.uint8)
    for t in range(frames):
        pts = crop_points(fit["landmarks"][start + t, :, :2], fit["crop_256"][start + t])
        cv2.fillConvexPoly(masks[t], cv2.convexHull(np.round(pts).astype(np.int32)), 1)
    return masks.astype(bool)


def region_psnr(err: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the masked pixels of all frames ([T,H,W] squared error summed over RGB / 3)."""
    mse = float(err[mask].mean()) if mask.any() else float("nan")
    return round(10 * np.log10(255.0 ** 2 / max(mse, 1e-9)), 3)


def headroom(work: Path) -> dict:
    n = json.loads((work / "split.json").read_text())["train_frames"]
    full, target = load_profile(work / "full_profile"), load_profile(work / "target_profile")
    fit = full.fit()
    audio = work / "heldout_audio.wav"
    real = np.load(work / "real_256.npy")
    real = real[:min(len(real), int(len(media.load_audio(audio, sr=16000)) / 16000 * full.fps))]
    m = len(real)
    for name, inlays in (("coarse", False), ("coarse_inlays", True)):  # the unrefined renders, when missing
        if not (work / f"{name}.mp4").is_file():
            render_heldout(target.path, work / "heldout_fitted_tracks.json", audio, work, name, m, full.fps,
                           {"timings": {}}, {}, inlays=inlays)
    face = hull_masks(fit, n, m)
    out: dict = {"clip": full.manifest["source"]["clip_name"], "test_frames": m,
                 "face_hull_fraction": round(float(face.mean()), 3), "videos": {}}
    for name in VIDEOS:
        path = work / f"{name}.mp4"
        if not path.is_file():
            continue
        video = np.stack([rgb for _, rgb in media.iter_frames(path, full.fps)])[:m]
        err = ((video.astype(np.float64) - real) ** 2).mean(-1)
        perfect = np.where(face[..., None], real, video)
        out["videos"][name] = {"psnr": round(psnr(video, real), 3), "ssim": round(ssim(video, real), 4),
                               "psnr_face": region_psnr(err, face), "psnr_outside": region_psnr(err, ~face),
                               "error_share_outside": round(float(err[~face].sum() / max(err.sum(), 1e-9)), 3),
                               "psnr_perfect_face": round(psnr(perfect, real), 3)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path, nargs="+")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    report = [headroom(w) for w in args.work]
    if args.output:
        write_json(args.output, report)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
