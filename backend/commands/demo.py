"""`talking-head demo`: the product's main job on built-in defaults, or on a clip you name."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the pipeline on a clip (or on a built-in demo clip)",
                       description="Analyze CLIP into a profile (quality.json, overlay.mp4, texture). With --audio "
                                   "it also personalizes the motion model, animates the audio and renders the "
                                   "video. Without --clip it uses a built-in clip made from a public-domain "
                                   "photograph (a still face in motion, not a talking person).")
    p.add_argument("--clip", type=Path, help="video of the target person talking (~10 s)")
    p.add_argument("--audio", type=Path, help="speech to animate and render (optional)")
    p.add_argument("-o", "--output", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.analysis.pipeline import analyze

    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    clip = args.clip
    if clip is None:
        from backend.media.demo_clip import write_demo_clip

        clip = out / "demo_clip.mp4"
        if not clip.exists():
            write_demo_clip(clip)
        print("No clip given (make demo CLIP=path/to/clip.mp4 [AUDIO=speech.wav] to use your own):\n"
              f"  analyzing the built-in demo clip {clip}, a public-domain photograph gently moved.")
    profile = analyze(clip, out / "profile", progress=progress)
    quality = json.loads((profile / "quality.json").read_text())
    print(f"profile: {profile}\n  landmark_nme {quality['landmark_nme'] * 100:.2f} % IOD, "
          f"face_psnr {quality['face_psnr']:.1f} dB, jerk_ratio {quality['jerk_ratio']:.2f}\n"
          f"  look at {profile / 'overlay.mp4'} to see the fit")
    if args.audio is None:
        print("add AUDIO=speech.wav to also animate and render a talking-head video")
        return 0
    from backend.commands import main

    tracks, video = out / "tracks.json", out / "video.mp4"
    flags = ["--progress", args.progress]
    for step in (["personalize", str(profile)],
                 ["animate", str(profile), str(args.audio), "-o", str(tracks)],
                 ["render", str(profile), str(tracks), str(args.audio), "-o", str(video), "--clip", str(clip),
                  "--no-refine"]):
        code = main([*flags, *step])
        if code:
            return code
    print(f"tracks: {tracks}\nvideo: {video}")
    return 0
