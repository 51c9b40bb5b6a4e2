"""How far below the mean face mouth_lmd can go at the correlation a personalised model reaches (docs/motion.md,
"mouth_lmd against mouth_corr"): the held-out prediction of an eval-motion run re-animated with the opening
scaled by each gain of a grid (`animate --mouth-gain`'s code, opening only, blinks off) and scored like
eval-motion. The best gain is chosen with the truth, so its mouth_lmd_reduction is an upper bound for any
single range setting, not a setting the product could pick.

    PYTHONPATH=$PWD python benchmarks/lmd_bound.py PROFILE EVAL_DIR [EVAL_DIR ...]

Each EVAL_DIR is an `eval-motion --train-frames 300 -o EVAL_DIR` run on PROFILE. Prints one JSON line per run:
mouth_corr, the gain eval-motion used and its figures, and the oracle gain with its figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from backend.motion.animation import animate_samples, load_personal
from backend.motion.evaluation import load_runs
from backend.motion.metrics import motion_report

GAINS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5)
KEYS = ("mouth_lmd_reduction", "mouth_open_std_ratio")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("runs", type=Path, nargs="+", help="eval-motion output folders of PROFILE")
    args = ap.parse_args()
    torch.set_num_threads(1)
    held, reports = load_runs(args.profile, args.runs)
    for run, report in zip(args.runs, reports, strict=True):
        model, meta = load_personal(args.profile, run / "motion.pt")
        scored = {}
        for gain in GAINS:
            expr, pose = animate_samples(model, meta, held.test_audio, held.clip.fps, "predicted", seed=0,
                                         blinks=False, mouth_gain=gain)
            r = motion_report(held.clip.mouth, expr, held.true_expr, pose, held.true_pose, held.baseline)
            scored[gain] = {k: round(float(r[k]), 4) for k in KEYS} | {"mouth_corr": round(float(r["mouth_corr"]), 4)}
        best = max(scored, key=lambda g: scored[g]["mouth_lmd_reduction"])
        print(json.dumps({"run": str(run), "mouth_corr": report["mouth_corr"],
                          "eval_motion": {k: report[k] for k in KEYS},
                          "oracle_gain": best, "oracle": scored[best],
                          "by_gain": {str(g): scored[g]["mouth_lmd_reduction"] for g in GAINS}}))


if __name__ == "__main__":
    main()
