"""`talking-head eval-motion`: measure the audio->motion model on a clip's own unseen frames."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.numbers import POSITIVE_INT, SEED
from backend.core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-motion", help="evaluate audio->motion on the unseen end of a clip",
                       description="Analyze the clip, personalise on its first N frames, animate the remaining "
                                   "frames from their audio alone and compare with their fitted tracks. Writes "
                                   "DIR/motion_report.json (mouth_corr, mouth_lmd, mouth_lmd_baseline, "
                                   "pose_std_ratio per axis, jerk_ratio; definitions in docs/motion.md) and "
                                   "DIR/motion_eval.png (mouth opening and pose over time, predicted vs true).")
    p.add_argument("clip", type=Path, help="video of a person talking (at least N + 50 frames)")
    p.add_argument("--audio", type=Path, help="the clip's speech as a separate file (when the clip has none)")
    p.add_argument("--train-frames", type=POSITIVE_INT.argparse_type(), default=300, help="frames to personalise on (default 300)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    p.add_argument("--profile", type=Path, help="profile directory to write or reuse (default: DIR/profile)")
    p.add_argument("--general", type=Path, help="general model to start from (default: models/motion.pt if present)")
    p.add_argument("--scratch", action="store_true", help="ignore any general model")
    p.add_argument("--seed", type=SEED.argparse_type(), default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.motion.evaluation import evaluate_motion, summary_line

    report = evaluate_motion(args.clip, args.output, speech=args.audio, train_frames=args.train_frames,
                             profile=args.profile, general=args.general, scratch=args.scratch, seed=args.seed,
                             progress=progress)
    if args.progress == "json":
        print(json.dumps({"event": "result", "report": str(args.output / "motion_report.json"), **report}),
              flush=True)
    else:
        print(summary_line(report))
        print(f"report: {args.output / 'motion_report.json'}  plot: {args.output / 'motion_eval.png'}")
    return 0
