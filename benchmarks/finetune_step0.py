"""eval-motion with the untouched general model as one more candidate of the fine-tune's early stop
(docs/motion.md, "The general model itself as a candidate"): the held-out loss is also taken before the first
step, and the starting weights are kept when nothing after them scores lower. Scored exactly as `eval-motion`
scores (the same motion_report.json in OUT_DIR).

    PYTHONPATH=$PWD python benchmarks/finetune_step0.py PROFILE OUT_DIR GENERAL_MODEL --seed S

Prints one JSON line: the step kept, mouth_corr, mouth_open_std_ratio, mouth_lmd_reduction, jerk_ratio.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch

from backend.motion import personalization
from backend.motion import train as training
from backend.motion.evaluation import evaluate_profile

KEYS = ("mouth_corr", "mouth_open_std_ratio", "mouth_lmd_reduction", "jerk_ratio")


def train_with_step0(model, batches, weights, cfg, val=None, **kwargs):  # noqa: ANN001, ANN201 - train's signature
    if val is None:
        return training.train(model, batches, weights, cfg, val=val, **kwargs)
    torch.set_num_threads(cfg.threads)
    start_val = training.evaluate(model, val[0], val[1], weights, cfg)
    start = copy.deepcopy(model.state_dict())
    hist = training.train(model, batches, weights, cfg, val=val, **kwargs)
    if start_val <= hist.best_val:
        model.load_state_dict(start)
        hist.best_step, hist.best_val = 0, start_val
    return hist


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("general", type=Path, help="general model the personal one starts from (never saw the person)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-frames", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    personalization.train = train_with_step0
    report = evaluate_profile(args.profile, args.out, train_frames=args.train_frames, general=args.general,
                              seed=args.seed)
    print(json.dumps({"profile": str(args.profile), "seed": args.seed, "step": report["best_step"],
                      **{k: report[k] for k in KEYS}}))


if __name__ == "__main__":
    main()
