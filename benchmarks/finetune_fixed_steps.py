"""eval-motion with a fixed-length fine-tune instead of the early stop (docs/motion.md, "Fixed-length
fine-tune"): personalisation's FINETUNE config run for N steps, the last weights kept, then scored exactly as
`eval-motion` scores (it writes the same motion_report.json into OUT_DIR).

    PYTHONPATH=$PWD python benchmarks/finetune_fixed_steps.py PROFILE OUT_DIR GENERAL_MODEL --seed S --steps N

Prints one JSON line: mouth_corr, mouth_open_std_ratio, mouth_lmd_reduction, jerk_ratio.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path

import torch

from backend.motion import train
from backend.motion.evaluation import evaluate_profile
from backend.motion.personalization import FINETUNE

KEYS = ("mouth_corr", "mouth_open_std_ratio", "mouth_lmd_reduction", "jerk_ratio")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("general", type=Path, help="general model the personal one starts from (never saw the person)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--train-frames", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    # every held-out evaluation "improves", so training runs all N steps and keeps the last weights
    counter = itertools.count()
    train.evaluate = lambda *_, **__: -float(next(counter))
    cfg = replace(FINETUNE, steps=args.steps, patience=10**6)
    report = evaluate_profile(args.profile, args.out, train_frames=args.train_frames, general=args.general,
                              seed=args.seed, cfg=cfg)
    print(json.dumps({"profile": str(args.profile), "seed": args.seed, "steps": report["best_step"],
                      **{k: report[k] for k in KEYS}}))


if __name__ == "__main__":
    main()
