"""`talking-head render PROFILE TRACKS AUDIO -o out.mp4`: tracks -> photoreal talking-face video."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from backend.core.progress import Progress


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "render", help="render tracks as a video of the target person, with the audio",
        description="Render the tracks with the profile's texture and lighting, on background frames of the "
                    "target clip matched by head pose (key-frame matching), paste the face crop back into the "
                    "full-resolution frame and mux the audio. The GAN refiner is not available yet: every "
                    "render is unrefined (--no-refine).")
    p.add_argument("profile", type=Path, help="profile directory written by `talking-head analyze`")
    p.add_argument("tracks", type=Path, help="tracks.json for this profile (animate, analyze or the add-on)")
    p.add_argument("audio", type=Path, help="the speech the tracks were made from (muxed into the video)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .mp4 (written atomically)")
    p.add_argument("--clip", type=Path,
                   help="the target clip the profile was analysed from (for backgrounds; checked by sha256)")
    p.add_argument("--size", type=int, choices=(256, 512), default=256, help="face crop render size (px)")
    p.add_argument("--no-refine", action="store_true", help="skip the GAN refiner (currently the only mode)")
    p.add_argument("--crop-only", action="store_true", help="write the face crop video instead of full frames")
    p.add_argument("--blend", choices=("feather", "poisson"), default="feather",
                   help="paste-back blending: feathered alpha (default) or Poisson cloning (slower)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.render.video import render_video

    if not args.no_refine:
        note = "note: the GAN refiner is not available yet; rendering without refinement (as with --no-refine)"
        if args.progress == "json":
            progress.message(note)
        else:
            print(note, file=sys.stderr)  # even with --progress quiet: the video is not what was asked for
    result = render_video(args.profile, args.tracks, args.audio, args.output, clip=args.clip, size=args.size,
                          crop_only=args.crop_only, paste_mode=args.blend, progress=progress)
    summary = {"video": str(result.path), "frames": result.frames, "fps": result.fps,
               "size": [result.width, result.height], "refined": False,
               "key_frames": len(result.plan.keys), "timings": result.timings}
    if args.progress == "json":
        print(json.dumps({"event": "result", **summary}), flush=True)
    else:
        print(f"wrote {result.path}: {result.frames} frames at {result.fps:g} fps, {result.width}x{result.height}, "
              f"unrefined, {len(result.plan.keys)} background key frames, {result.timings['total_s']:.1f} s")
    return 0
