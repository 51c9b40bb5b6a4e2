"""Seed ensemble of personalised motion models on the eval split's held-out frames (docs/motion.md, "Seed
ensemble"): the mean of the expression tracks that N personalisations with different seeds predict for the
same held-out speech, scored like eval-motion, against each model alone.

    PYTHONPATH=$PWD python benchmarks/seed_ensemble.py PROFILE EVAL_DIR [EVAL_DIR ...]

Each EVAL_DIR is an `eval-motion --train-frames 300 --seed S -o EVAL_DIR` run on PROFILE (its motion.pt is
the personalised model). Prints one JSON line: per model and for the ensemble, mouth_corr,
mouth_lmd_reduction and mouth_open_std_ratio.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from backend.motion.animation import animate_samples, load_personal
from backend.motion.evaluation import load_runs
from backend.motion.metrics import motion_report

KEYS = ("mouth_corr", "mouth_lmd_reduction", "mouth_open_std_ratio")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("runs", type=Path, nargs="+", help="eval-motion output folders of one profile, other seeds")
    args = ap.parse_args()
    torch.set_num_threads(1)
    held, _ = load_runs(args.profile, args.runs)
    preds = []
    for run in args.runs:
        model, meta = load_personal(args.profile, run / "motion.pt")
        expr, pose = animate_samples(model, meta, held.test_audio, held.clip.fps, "predicted", seed=0, blinks=False)
        preds.append((expr, pose))
    out: dict[str, dict[str, float]] = {}

    def score(name: str, expr: np.ndarray, pose: np.ndarray) -> None:
        report = motion_report(held.clip.mouth, expr, held.true_expr, pose, held.true_pose, held.baseline)
        out[name] = {k: round(float(report[k]), 4) for k in KEYS}

    for run, (expr, pose) in zip(args.runs, preds, strict=True):
        score(run.name, expr, pose)
    score("ensemble", np.mean([e for e, _ in preds], axis=0), preds[0][1])
    print(json.dumps({"profile": str(args.profile), "models": len(preds), **out}))


if __name__ == "__main__":
    main()
