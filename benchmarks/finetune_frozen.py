"""eval-motion with part of the general model frozen during personalisation (docs/motion.md, "Fine-tuning only
the LSTM and the head"): the named modules keep the general model's weights, the rest is fine-tuned as usual
(same config, early stop). Scored exactly as `eval-motion` scores (the same motion_report.json in OUT_DIR).

    PYTHONPATH=$PWD python benchmarks/finetune_frozen.py PROFILE OUT_DIR GENERAL_MODEL --seed S [--freeze encoder embed]

Prints one JSON line: the step kept, mouth_corr, mouth_open_std_ratio, mouth_lmd_reduction, jerk_ratio.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from backend.motion import personalization
from backend.motion import train as training
from backend.motion.evaluation import evaluate_profile

KEYS = ("mouth_corr", "mouth_open_std_ratio", "mouth_lmd_reduction", "jerk_ratio")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("general", type=Path, help="general model the personal one starts from (never saw the person)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-frames", type=int, default=300)
    ap.add_argument("--freeze", nargs="+", default=["encoder", "embed"], help="MotionNet modules to keep fixed")
    args = ap.parse_args()
    torch.set_num_threads(1)

    def train_frozen(model, batches, weights, cfg, **kwargs):  # noqa: ANN001, ANN202 - train's signature
        for name in args.freeze:
            for p in getattr(model, name).parameters():
                p.requires_grad_(False)  # no gradient: AdamW leaves them (and their weight decay) alone
        return training.train(model, batches, weights, cfg, **kwargs)

    personalization.train = train_frozen
    report = evaluate_profile(args.profile, args.out, train_frames=args.train_frames, general=args.general,
                              seed=args.seed)
    print(json.dumps({"profile": str(args.profile), "seed": args.seed, "step": report["best_step"],
                      **{k: report[k] for k in KEYS}}))


if __name__ == "__main__":
    main()
