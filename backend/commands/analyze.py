"""`talking-head analyze`: target clip -> fitted, textured face profile."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.numbers import ANALYZE_FPS
from backend.core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="fit a textured 3D face profile to a talking-face clip",
                       description="Track the face in every frame (MediaPipe), fit the face model (identity, "
                                   "per-frame expression and head pose, camera), estimate texture and lighting, "
                                   "and write a profile directory (docs/formats.md) with quality.json and "
                                   "overlay.mp4. Re-running on the same inputs reuses the profile.")
    p.add_argument("clip", type=Path, help="video of the target person talking (any container FFmpeg reads), "
                                          "or one photo of them (PNG/JPEG/...; motion then comes from a prior)")
    p.add_argument("-o", "--output", type=Path, required=True, help="profile directory to write")
    p.add_argument("--audio", type=Path, help="the clip's speech as a separate file (when the clip has none)")
    p.add_argument("--fps", type=ANALYZE_FPS.argparse_type(), help="analysis frame rate, 1 to 120 (default: the clip's rate, rounded)")
    p.add_argument("--force", action="store_true", help="re-analyze even if the profile is up to date")
    p.add_argument("--no-overlay", action="store_true", help="skip writing overlay.mp4")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.analysis.pipeline import analyze

    out = analyze(args.clip, args.output, audio=args.audio, fps=args.fps, progress=progress, force=args.force,
                  overlay=not args.no_overlay)
    quality = json.loads((out / "quality.json").read_text())
    photo = "face_psnr_same_frame" in quality  # a photo profile (backend.analysis.photo)
    keys = (("landmark_nme", "face_psnr_same_frame", "texture_coverage") if photo else
            ("landmark_nme", "jerk_ratio", "mouth_corr_smoothed_vs_raw", "face_psnr"))
    summary = {k: quality[k] for k in keys}
    if args.progress == "json":
        print(json.dumps({"event": "result", "profile": str(out), "quality": summary}), flush=True)
    elif photo:
        print(f"profile written to {out} (from one photo: motion will come from the speech-driven prior)")
        print(f"  landmark_nme {summary['landmark_nme'] * 100:.2f} % IOD   texture seen "
              f"{summary['texture_coverage'] * 100:.0f} %   (all figures in {out / 'quality.json'})")
    else:
        print(f"profile written to {out}")
        print(f"  landmark_nme {summary['landmark_nme'] * 100:.2f} % IOD   jerk_ratio {summary['jerk_ratio']:.2f}   "
              f"face_psnr {summary['face_psnr']:.1f} dB   (all figures in {out / 'quality.json'})")
    return 0
