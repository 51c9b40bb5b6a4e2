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
from scipy.ndimage import gaussian_filter1d

from backend.motion import animation, features
from backend.motion.animation import animate_samples, load_personal, recording_gain
from backend.motion.data import load_clip
from backend.motion.evaluation import score_heldout
from backend.motion.model import OUTPUT_SMOOTHING_S

KEYS = ("mouth_corr", "mouth_open_std_ratio", "mouth_lmd_reduction")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("runs", type=Path, nargs="+", help="eval-motion output folders of PROFILE")
    ap.add_argument("--max-gain", type=float, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    animation.GAIN_RANGE = (animation.GAIN_RANGE[0], args.max_gain)
    full = load_clip(args.profile)
    truth = load_clip(args.profile, speech_only=False)
    samples = features.load_speech(args.profile / "audio.wav")
    for run in args.runs:
        report = json.loads((run / "motion_report.json").read_text())
        n_train = int(report["train_frames"])
        match = re.search(r"_s(\d+)$", run.name)  # eval-motion --seed S went to a folder named ..._sS
        seed = int(match.group(1)) if match else 0
        test_audio = samples[int(round(n_train / full.fps * features.SR)):]
        model, meta = load_personal(args.profile, run / "motion.pt")
        layers: dict = {}
        expr, pose = animate_samples(model, meta, test_audio, full.fps, "predicted", seed=seed, layers=layers)
        scored = score_heldout(full, expr, layers, truth.expression[n_train:], pose, full.pose[n_train:],
                               truth.expression[:n_train].mean(axis=0), test_audio)
        feats = features.speech_features(test_audio, phonetic=model.uses_phonetics)
        n = features.frame_count(feats.duration_s, full.fps)
        raw = gaussian_filter1d(model.predict(feats.iter_windows(n, full.fps)), sigma=OUTPUT_SMOOTHING_S * full.fps,
                                axis=0, mode="nearest")
        gain = recording_gain(meta, raw, np.asarray(meta["mouth_centre"], np.float32), feats.frame_activity(n, full.fps))
        print(json.dumps({"run": str(run), "max_gain": args.max_gain, "gain": round(gain, 3),
                          **{k: round(float(scored[k]), 4) for k in KEYS},
                          "eval_motion": {k: report[k] for k in KEYS}}))


if __name__ == "__main__":
    main()
