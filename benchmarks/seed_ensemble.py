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

from backend.motion import features
from backend.motion.animation import animate_samples, load_personal
from backend.motion.data import load_clip
from backend.motion.metrics import motion_report

KEYS = ("mouth_corr", "mouth_lmd_reduction", "mouth_open_std_ratio")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("runs", type=Path, nargs="+", help="eval-motion output folders of one profile, other seeds")
    args = ap.parse_args()
    torch.set_num_threads(1)
    reports = [json.loads((r / "motion_report.json").read_text()) for r in args.runs]
    train_frames = {r["train_frames"] for r in reports}
    if len(train_frames) != 1:
        raise SystemExit(f"the runs used different --train-frames: {sorted(train_frames)}")
    n_train = train_frames.pop()
    full = load_clip(args.profile)
    truth = load_clip(args.profile, speech_only=False)
    samples = features.load_speech(args.profile / "audio.wav")
    test_audio = samples[int(round(n_train / full.fps * features.SR)):]
    baseline = truth.expression[:n_train].mean(axis=0)
    true_expr, true_pose = truth.expression[n_train:], full.pose[n_train:]
    preds = []
    for run in args.runs:
        model, meta = load_personal(args.profile, run / "motion.pt")
        expr, pose = animate_samples(model, meta, test_audio, full.fps, "predicted", seed=0, blinks=False)
        preds.append((expr, pose))
    out: dict[str, dict[str, float]] = {}

    def score(name: str, expr: np.ndarray, pose: np.ndarray) -> None:
        report = motion_report(full.mouth, expr, true_expr, pose, true_pose, baseline)
        out[name] = {k: round(float(report[k]), 4) for k in KEYS}

    for run, (expr, pose) in zip(args.runs, preds, strict=True):
        score(run.name, expr, pose)
    score("ensemble", np.mean([e for e, _ in preds], axis=0), preds[0][1])
    print(json.dumps({"profile": str(args.profile), "models": len(preds), **out}))


if __name__ == "__main__":
    main()
