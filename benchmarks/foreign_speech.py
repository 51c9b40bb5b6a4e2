"""A personalised motion model driven by other recordings, German among them (issue 12, non-English speech;
docs/motion.md): there is no video of a non-English speaker in the shared data, so no lip truth; what can be
measured is whether the MFCC path carries the language as it carries English.

    PYTHONPATH=$PWD python benchmarks/foreign_speech.py PROFILE MODEL SPEECH [SPEECH ...]

MODEL is a personal motion.pt of PROFILE (e.g. an eval-motion run's). Prints one JSON line per recording:
the opening's std over its speaking frames relative to the person's (`mouth_open_std`, with the default
per-recording gain and raw), the correlation of the openings predicted with and without the phone decoder
(1 = the MFCC path alone gives the same mouth), and the share of silent frames whose mouth is at rest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from backend.motion import animation, features
from backend.motion.animation import animate_samples, load_personal
from backend.motion.mouth import MouthModel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("model", type=Path)
    ap.add_argument("speech", type=Path, nargs="+")
    ap.add_argument("--max-gain", type=float, help="another upper end of the gain's range (docs/motion.md)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.max_gain:
        animation.GAIN_RANGE = (animation.GAIN_RANGE[0], args.max_gain)
    model, meta = load_personal(args.profile, args.model)
    mouth = MouthModel.load(args.profile / "face_model.npz")
    fps = float(meta["fps"])
    rest_open = float(mouth.opening(np.asarray(meta["rest_expression"], np.float32)[None])[0])
    person_std = float(meta["mouth_open_std"])
    for path in args.speech:
        samples = features.load_speech(path)
        activity = features.speech_features(samples).frame_activity(features.frame_count(len(samples) / features.SR,
                                                                                           fps), fps)
        out = {}
        for name, kw in (("gain", {}), ("raw", {"mouth_gain": 1.0}), ("mfcc_only", {"phonetics": False})):
            expr, _ = animate_samples(model, meta, samples, fps, "still", blinks=False, **kw)
            out[name] = mouth.opening(expr)
        speaking, silent = activity > 0, activity == 0
        print(json.dumps({
            "speech": path.name, "seconds": round(len(samples) / features.SR, 2),
            "open_std_vs_person": round(float(out["gain"][speaking].std()) / person_std, 3),
            "open_std_vs_person_raw": round(float(out["raw"][speaking].std()) / person_std, 3),
            "phonetic_vs_mfcc_only_r": round(float(np.corrcoef(out["gain"], out["mfcc_only"])[0, 1]), 3),
            "silent_frames": int(silent.sum()),
            "silent_at_rest_share": round(float(np.mean(np.abs(out["gain"][silent] - rest_open) < 1e-4))
                                          if silent.any() else float("nan"), 3)}))


if __name__ == "__main__":
    main()
