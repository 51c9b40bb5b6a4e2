"""Mouth-gain variants at animate time on the eval split's held-out frames (docs/motion.md, "Mouth-gain
variants"): one personalised model per clip, the same held-out speech, only the gain varied.

    PYTHONPATH=$PWD python benchmarks/mouth_gain_variants.py PROFILE OUT_DIR GENERAL_MODEL

Prints one JSON line: per variant the gain, mouth_corr, mouth_lmd_reduction and mouth_open_std_ratio.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from backend.motion import features
from backend.motion.animation import animate_samples, load_personal, recording_gain
from backend.motion.data import load_clip
from backend.motion.metrics import motion_report
from backend.motion.personalization import personalize

TRAIN_FRAMES = 300


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("general", type=Path, help="general model the personal one starts from (never saw the person)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    personalize(args.profile, out=args.out / "motion.pt", train_frames=TRAIN_FRAMES, general=args.general, seed=0)
    model, meta = load_personal(args.profile, args.out / "motion.pt")
    full = load_clip(args.profile)
    fps = full.fps
    samples = features.load_speech(args.profile / "audio.wav")
    test_audio = samples[int(round(TRAIN_FRAMES / fps * features.SR)):]
    truth = load_clip(args.profile, speech_only=False)  # the fitted face with its blinks, as eval-motion scores
    true_expr, true_pose = truth.expression[TRAIN_FRAMES:], full.pose[TRAIN_FRAMES:]
    mean_face = truth.expression[:TRAIN_FRAMES].mean(axis=0)
    raw, _ = animate_samples(model, meta, test_audio, fps, "predicted", seed=0, blinks=False, mouth_gain=1.0)
    centre = np.asarray(meta.get("mouth_centre", meta["rest_expression"]), np.float32)
    activity = features.speech_features(test_audio).frame_activity(len(raw), fps)
    g_rec = recording_gain(meta, raw, centre, activity)
    g_clip = float(meta.get("mouth_gain", 1.0))
    result: dict = {"clip": args.profile.name, "g_rec": round(g_rec, 3), "g_clip": round(g_clip, 3)}
    variants = [("off", 1.0), ("clip", g_clip), ("recording", g_rec), ("half", 1 + 0.5 * (g_rec - 1)),
                ("min", min(g_rec, g_clip)), ("geo", float(np.sqrt(g_rec * g_clip)))]
    runs = [(name, gain, "all") for name, gain in variants] + [("recording_opening", g_rec, "opening"),
                                                               ("clip_opening", g_clip, "opening")]
    for name, gain, direction in runs:
        expr, pose = animate_samples(model, meta, test_audio, fps, "predicted", seed=0, blinks=False, mouth_gain=gain,
                                     gain_direction=direction)
        r = motion_report(full.mouth, expr, true_expr, pose, true_pose, mean_face)
        result[name] = {"g": round(gain, 3),
                        **{k: r[k] for k in ("mouth_corr", "mouth_lmd_reduction", "mouth_open_std_ratio")}}
    print("JSON", json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
