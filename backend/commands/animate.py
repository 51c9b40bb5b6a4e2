"""`talking-head animate`: speech + personalised profile -> tracks.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.numbers import EXPRESSION_SCALE, OUTPUT_FPS, SEED, SMOOTHING
from backend.core.progress import Progress

# sigma in frames of the extra smoothing; the add-on and tools/blender_batch.py use the same value
# (addon/data/defaults.py): the model's output is already smoothed over 0.06 s (docs/motion.md)
DEFAULT_SMOOTHING = 0.0
RIGS = ("pca", "arkit")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("animate", help="lip-synced expression and head-pose tracks from speech",
                       description="Predict per-frame expression coefficients from the speech with the profile's "
                                   "personalised model and head pose in the person's style, and write a tracks "
                                   "file (backend/core/tracks.py) for the Blender add-on or `render`. The audio may be "
                                   "any format FFmpeg decodes, or a video (its audio stream is used).")
    p.add_argument("profile", type=Path, help="profile directory (after `talking-head personalize`)")
    p.add_argument("audio", type=Path, help="driving speech: wav/mp3/m4a/flac/... or a video with sound")
    p.add_argument("-o", "--output", type=Path, required=True, help="tracks file to write (.json)")
    p.add_argument("--pose", choices=["predicted", "clip", "still"], default="predicted",
                   help="head pose: 'predicted' samples new motion in the person's style driven by the speech "
                        "(default); 'clip' replays the target clip's own poses; 'still' keeps the head fixed")
    p.add_argument("--smoothing", type=SMOOTHING.argparse_type(), default=DEFAULT_SMOOTHING, metavar="S",
                   help="extra Gaussian smoothing of all curves, sigma in frames, 0 to 10 (default %(default)g: "
                        "none; the model's output is already smoothed over 0.06 s)")
    p.add_argument("--rig", choices=RIGS, default="pca",
                   help="'arkit' also writes the expression as ARKit-52 blendshape weights (jawOpen, "
                        "eyeBlinkLeft, ...) in the tracks file (format version 2, docs/formats.md); "
                        "default 'pca': the basis coefficients only")
    p.add_argument("--expression-scale", type=EXPRESSION_SCALE.argparse_type(), default=1.0, metavar="X",
                   help="scale mouth/face motion around the closed-mouth rest face, 0 to 5 (default 1; 0 = no motion)")
    p.add_argument("--seed", type=SEED.argparse_type(), default=0, help="seed of the sampled head motion (default 0)")
    p.add_argument("--fps", type=OUTPUT_FPS.argparse_type(), help="output frame rate (default: the profile's)")
    p.add_argument("--no-phonetics", dest="phonetics", action="store_false",
                   help="skip the phone decoder: about twice as fast, slightly less accurate lips (the model "
                        "reads the MFCCs alone; docs/motion.md gives the measured difference)")
    p.add_argument("--no-blinks", dest="blinks", action="store_false",
                   help="no blinks (default: seeded blinks at the person's measured rate and duration, written "
                        "as the tracks' own 'blink' layer so Blender keys them apart from speech)")
    p.add_argument("--personalize", action="store_true",
                   help="train the profile's motion model first if it has none")
    p.set_defaults(func=run, prefetch=prefetch)


def prefetch(args: argparse.Namespace) -> None:
    """Before the CLI imports torch (~1-2 s): decode the audio and start the phone decoder's worker
    processes, so they run while the model loads (docs/motion.md, speed)."""
    from backend.motion import features

    args.samples = features.load_speech(args.audio)
    if args.phonetics and args.samples.size >= features.SR // 50:
        args.decode = features.start_phonetics(args.samples)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.core.errors import UserError
    from backend.core.tracks import save_tracks
    from backend.motion.animation import animate, no_model_error, uses_prior
    from backend.motion.personalization import MODEL_FILE, personalize

    if not (args.profile / "manifest.json").is_file():
        raise UserError(f"{args.profile} is not a profile directory (no manifest.json)",
                        hint="create one with `talking-head analyze CLIP -o PROFILE`")
    if uses_prior(args.profile):
        progress.message("motion from the speech-driven prior (photo profile, or no trained model to start from)")
    elif not (args.profile / MODEL_FILE).is_file():
        if not args.personalize:
            raise no_model_error(args.profile)
        progress.message(f"{args.profile} has no motion model yet: personalising first")
        personalize(args.profile, progress=progress)
    tracks = animate(args.profile, args.audio, pose_mode=args.pose, smoothing=args.smoothing,
                     expression_scale=args.expression_scale, seed=args.seed, fps=args.fps, progress=progress,
                     phonetics=args.phonetics, samples=getattr(args, "samples", None),
                     decode=getattr(args, "decode", None), blinks=args.blinks)
    if args.rig == "arkit":
        from backend.face.arkit import with_arkit

        progress.stage("solving ARKit weights")
        tracks = with_arkit(tracks, args.profile)
    save_tracks(tracks, args.output)
    if args.progress == "json":
        print(json.dumps({"event": "result", "tracks": str(args.output), "frames": tracks.frame_count,
                          "fps": tracks.fps}), flush=True)
    else:
        print(f"tracks written to {args.output}: {tracks.frame_count} frames at {tracks.fps:g} fps "
              f"({tracks.duration_s:.2f} s)")
    return 0
