"""`talking-head personalize`: fine-tune the audio->motion model on one profile."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.numbers import POSITIVE_INT, SEED
from backend.core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("personalize", help="train the profile's audio->expression model and pose style",
                       description="Fine-tune the audio->expression LSTM on the profile's own frames (from the "
                                   "general model models/motion.pt when it exists and uses the same face model, "
                                   "else from scratch with regularisation for ~10 s of data), holding out the "
                                   "last 15 %% of the frames for early stopping, and fit the person's head-pose "
                                   "style. Writes motion.pt and motion_loss.png into the profile.")
    p.add_argument("profile", type=Path, help="profile directory written by `talking-head analyze`")
    p.add_argument("--train-frames", type=POSITIVE_INT.argparse_type(), help="use only the first N frames (default: all)")
    p.add_argument("--general", type=Path, help="general model to start from (default: models/motion.pt if present)")
    p.add_argument("--scratch", action="store_true", help="ignore any general model and train from scratch")
    p.add_argument("-o", "--output", type=Path, help="where to write the model (default: PROFILE/motion.pt)")
    p.add_argument("--seed", type=SEED.argparse_type(), default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.motion.personalization import personalize

    result = personalize(args.profile, out=args.output, train_frames=args.train_frames, general=args.general,
                         scratch=args.scratch, seed=args.seed, progress=progress)
    summary = {"model": str(result.path), "init": result.init, "train_frames": result.train_frames,
               "best_step": result.history.best_step, "best_heldout_loss": round(result.history.best_val, 4),
               "seconds": round(result.seconds, 1)}
    if args.progress == "json":
        print(json.dumps({"event": "result", **summary}), flush=True)
    else:
        print(f"motion model written to {result.path} (start: {result.init}, {result.train_frames} frames, "
              f"held-out loss {result.history.best_val:.3f} at step {result.history.best_step}, "
              f"{result.seconds:.0f} s; loss curve in {result.path.with_name('motion_loss.png')})")
    return 0
