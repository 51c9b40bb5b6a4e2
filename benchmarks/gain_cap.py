"""eval-motion's held-out figures with another cap on the per-recording mouth gain (docs/motion.md, "A higher
gain cap"): each eval-motion run's personal model re-animated on its held-out speech as eval-motion does
(blinks on, the same seed), with `GAIN_RANGE`'s upper end set to --max-gain, and scored like eval-motion.

    PYTHONPATH=$PWD python benchmarks/gain_cap.py PROFILE EVAL_DIR [EVAL_DIR ...] --max-gain 4

Prints one JSON line per run: the gain used, mouth_corr, mouth_open_std_ratio, mouth_lmd_reduction, with the
run's own eval-motion figures beside them.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import torch

from backend.motion import animation, features
from backend.motion.animation import animate_samples, load_personal, recording_gain
from backend.motion.evaluation import load_runs, score_heldout
from backend.motion.personalization import smoothed_prediction

KEYS = ("mouth_corr", "mouth_open_std_ratio", "mouth_lmd_reduction")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("runs", type=Path, nargs="+", help="eval-motion output folders of PROFILE")
    ap.add_argument("--max-gain", type=float, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    animation.GAIN_RANGE = (animation.GAIN_RANGE[0], args.max_gain)
    held, reports = load_runs(args.profile, args.runs)
    fps = held.clip.fps
    feats = features.speech_features(held.test_audio, phonetic=True)
    n = features.frame_count(feats.duration_s, fps)
    for run, report in zip(args.runs, reports, strict=True):
        match = re.search(r"_s(\d+)$", run.name)  # eval-motion --seed S went to a folder named ..._sS
        seed = int(match.group(1)) if match else 0
        model, meta = load_personal(args.profile, run / "motion.pt")
        layers: dict = {}
        expr, pose = animate_samples(model, meta, held.test_audio, fps, "predicted", seed=seed, layers=layers)
        scored = score_heldout(held.clip, expr, layers, held.true_expr, pose, held.true_pose, held.baseline,
                               held.test_audio)
        # the gain animate used: recording_gain on the smoothed prediction, before it is scaled
        raw = smoothed_prediction(model, feats.iter_windows(n, fps), fps)
        gain = recording_gain(meta, raw, np.asarray(meta["mouth_centre"], np.float32), feats.frame_activity(n, fps))
        print(json.dumps({"run": str(run), "max_gain": args.max_gain, "gain": round(gain, 3),
                          **{k: round(float(scored[k]), 4) for k in KEYS},
                          "eval_motion": {k: report[k] for k in KEYS}}))


if __name__ == "__main__":
    main()
