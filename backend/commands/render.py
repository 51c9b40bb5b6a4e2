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
                    "target clip matched by head pose (played forward at real speed where the pose allows), "
                    "fill the eyes and mouth interior from the clip's own frames of the same shape, "
                    "refine each face crop with the profile's personalised refiner (trained by `talking-head "
                    "personalize`), paste it back into the full-resolution frame and mux the audio.")
    p.add_argument("profile", type=Path, help="profile directory written by `talking-head analyze`")
    p.add_argument("tracks", type=Path, help="tracks.json for this profile (animate, analyze or the add-on)")
    p.add_argument("audio", type=Path, help="the speech the tracks were made from (muxed into the video)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .mp4 (written atomically)")
    p.add_argument("--clip", type=Path,
                   help="the target clip the profile was analysed from (for backgrounds; checked by sha256)")
    p.add_argument("--size", type=int, choices=(256, 512), default=None,
                   help="face crop render size in px (default: the profile's best: 512 when the face covers "
                        "512 px or more of the clip's frames, else 256)")
    p.add_argument("--no-refine", action="store_true",
                   help="skip the refiner: the coarse textured render over the background")
    p.add_argument("--no-inlays", action="store_true",
                   help="keep the mesh's eye holes (showing the background frame's eyes) and the proxy mouth "
                        "interior instead of filling them from the clip's own frames of the same eye and mouth "
                        "shape (the default; a photo profile keeps the photo's eyes either way)")
    p.add_argument("--crop-only", action="store_true", help="write the face crop video instead of full frames")
    p.add_argument("--blend", choices=("feather", "poisson"), default="feather",
                   help="paste-back blending: feathered alpha (default) or Poisson cloning (slower)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.face.profile import load_profile
    from backend.render.video import best_size, render_video

    size = args.size or best_size(load_profile(args.profile))
    result = render_video(args.profile, args.tracks, args.audio, args.output, clip=args.clip, size=size,
                          crop_only=args.crop_only, paste_mode=args.blend, progress=progress,
                          refine=not args.no_refine, inlays=not args.no_inlays)
    notes = [n for n in result.notes if "refiner" in n]
    if notes and args.progress != "json":
        print("note: " + notes[0], file=sys.stderr)  # even with --progress quiet: not what was asked for
    summary = {"video": str(result.path), "frames": result.frames, "fps": result.fps,
               "size": [result.width, result.height], "crop_size": size, "refined": result.refined,
               "key_frames": len(result.plan.keys), "inlay_frames": result.timings.get("inlay_frames", 0),
               "timings": result.timings}
    if args.progress == "json":
        print(json.dumps({"event": "result", **summary}), flush=True)
    else:
        print(f"wrote {result.path}: {result.frames} frames at {result.fps:g} fps, {result.width}x{result.height}, "
              f"{'refined' if result.refined else 'unrefined'} {size} px face, {len(result.plan.keys)} background "
              f"key frames, {result.timings['total_s']:.1f} s")
    return 0
