"""`talking-head personalize`: fine-tune the audio->motion model on one profile, then train its refiner."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.numbers import POSITIVE_INT, SEED
from backend.core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("personalize", help="train the profile's audio->expression model, pose style and refiner",
                       description="Fine-tune the audio->expression LSTM on the profile's own frames (from the "
                                   "general model models/motion.pt when it exists and uses the same face model, "
                                   "else from scratch with regularisation for ~10 s of data), holding out the "
                                   "last 15 %% of the frames for early stopping, and fit the person's head-pose "
                                   "style. Writes motion.pt and motion_loss.png into the profile. Then (unless "
                                   "--no-refiner) personalise the neural refiner on the clip's frames "
                                   "(docs/render.md): refiner.pt and refiner_samples.png (render | refined | real); "
                                   "an interrupted refiner training resumes from its last checkpoint.")
    p.add_argument("profile", type=Path, help="profile directory written by `talking-head analyze`")
    p.add_argument("--train-frames", type=POSITIVE_INT.argparse_type(), help="use only the first N frames (default: all)")
    p.add_argument("--general", type=Path, help="general model to start from (default: models/motion.pt if present)")
    p.add_argument("--scratch", action="store_true", help="ignore any general model and train from scratch")
    p.add_argument("-o", "--output", type=Path, help="where to write the model (default: PROFILE/motion.pt)")
    p.add_argument("--seed", type=SEED.argparse_type(), default=0, help="random seed (default 0)")
    p.add_argument("--refiner", action=argparse.BooleanOptionalAction, default=True,
                   help="train the refiner after the motion model (default: yes; minutes on a CPU)")
    p.add_argument("--refiner-preset", choices=("auto", "draft", "full"), default="auto",
                   help="auto (default): full on CUDA, draft on the CPU")
    p.add_argument("--refiner-steps", type=POSITIVE_INT.argparse_type(), help="override the preset's training steps")
    p.add_argument("--clip", type=Path, help="the clip the profile was analysed from (for the refiner's frames; "
                                             "default: the path the profile recorded)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="refiner device (default cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.motion.personalization import personalize

    clip = _refiner_clip(args) if args.refiner else None  # a missing clip is an error before any training
    result = personalize(args.profile, out=args.output, train_frames=args.train_frames, general=args.general,
                         scratch=args.scratch, seed=args.seed, progress=progress)
    summary = {"model": str(result.path), "init": result.init, "train_frames": result.train_frames,
               "best_step": result.history.best_step, "best_heldout_loss": round(result.history.best_val, 4),
               "seconds": round(result.seconds, 1)}
    lines = [f"motion model written to {result.path} (start: {result.init}, {result.train_frames} frames, "
             f"held-out loss {result.history.best_val:.3f} at step {result.history.best_step}, "
             f"{result.seconds:.0f} s; loss curve in {result.path.with_name('motion_loss.png')})"]
    if args.refiner:
        refiner = _train_refiner(args, clip, progress)
        summary["refiner"] = {"model": str(refiner.path), "steps": refiner.steps, "frames": refiner.frames,
                              "resumed_from": refiner.resumed_from, "seconds": round(refiner.seconds, 1)}
        lines.append(f"refiner written to {refiner.path} ({refiner.frames} frames, {refiner.steps} steps"
                     f"{f', resumed at {refiner.resumed_from}' if refiner.resumed_from else ''}, "
                     f"{refiner.seconds:.0f} s; samples in {refiner.path.with_name('refiner_samples.png')})")
    if args.progress == "json":
        print(json.dumps({"event": "result", **summary}), flush=True)
    else:
        print("\n".join(lines))
    return 0


def _refiner_clip(args: argparse.Namespace) -> Path:
    from backend.face.profile import load_profile
    from backend.render.video import find_clip

    return find_clip(load_profile(args.profile), args.clip)


def _train_refiner(args: argparse.Namespace, clip: Path, progress: Progress):  # noqa: ANN202 - TrainResult
    from backend.eval.machine import check_device
    from backend.render.refine.presets import preset_for
    from backend.render.refine.train import train_refiner

    device = check_device(args.device)
    cfg = preset_for(args.refiner_preset, device, steps=args.refiner_steps)
    return train_refiner(args.profile, clip, cfg, device=device, train_frames=args.train_frames, seed=args.seed,
                         progress=progress, preset=args.refiner_preset)
