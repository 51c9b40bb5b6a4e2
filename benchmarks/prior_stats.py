"""The motion prior's statistics against the real clips' fitted tracks (docs/motion.md, "The motion prior").

    PYTHONPATH=$PWD python benchmarks/prior_stats.py PROFILE_DIR... [--speech WAV...] [--photo-profile DIR]

For each real profile: inner-lip opening std (mm), head-rotation std per axis (deg) and blink rate
(blinks/min, from the tracked eyelids). For the prior: the same on tracks it makes from each speech file
(the clips' own audio and any --speech), on the photo profile's identity (or the template's).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from backend.face.profile import load_profile
from backend.motion.blinks import eyelid_opening, find_blinks
from backend.motion.features import load_speech
from backend.motion.mouth import MouthModel
from backend.motion.prior import prior_motion


def real_stats(profile_dir: Path) -> dict:
    p = load_profile(profile_dir)
    fit = p.fit()
    mouth = MouthModel.load(p.path / "face_model.npz")
    events = find_blinks(eyelid_opening(fit["landmarks"]), p.fps)
    minutes = len(fit["pose"]) / p.fps / 60
    return {"mouth_std_mm": float(mouth.opening(fit["expression"]).std() * 1e3),
            "rot_std_deg": np.degrees(fit["pose"][:, :3].std(0)).round(2).tolist(),
            "blinks_per_min": round(len(events.peaks) / minutes, 1)}


def blink_rate(weight: np.ndarray, fps: float) -> float:
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(weight, height=0.5)
    return len(peaks) / (len(weight) / fps / 60)


def prior_stats(face_npz: Path, base_pose: np.ndarray, speech: Path, fps: float = 25.0, seed: int = 0) -> dict:
    with np.load(face_npz) as z:
        identity, basis = z["vertices"], z["basis"]
    m = prior_motion(load_speech(speech), fps, identity, basis, base_pose, seed=seed)
    mouth = MouthModel.load(face_npz)
    return {"mouth_std_mm": float(mouth.opening(m.expression).std() * 1e3),
            "rot_std_deg": np.degrees(m.pose[:, :3].std(0)).round(2).tolist(),
            "blinks_per_min": round(blink_rate(m.layers["blink"].weight, fps), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profiles", nargs="+", type=Path)
    ap.add_argument("--speech", nargs="*", type=Path, default=[])
    ap.add_argument("--face", type=Path, help="face_model.npz for the prior (default: the first profile's)")
    args = ap.parse_args()
    out: dict = {"real": {}, "prior": {}}
    for d in args.profiles:
        out["real"][d.name] = real_stats(d)
    face = args.face or args.profiles[0] / "face_model.npz"
    base = np.array([0, 0, 0, 0, 0, -0.6])
    speech = [d / "audio.wav" for d in args.profiles if (d / "audio.wav").is_file()] + list(args.speech)
    for s in speech:
        out["prior"][f"{s.parent.name}/{s.name}"] = prior_stats(face, base, s)
    for part in ("real", "prior"):
        rows = out[part]
        out[f"{part}_range"] = {
            "mouth_std_mm": [round(min(r["mouth_std_mm"] for r in rows.values()), 2),
                             round(max(r["mouth_std_mm"] for r in rows.values()), 2)],
            "rot_std_deg": [[min(r["rot_std_deg"][a] for r in rows.values()),
                             max(r["rot_std_deg"][a] for r in rows.values())] for a in range(3)],
            "blinks_per_min": [min(r["blinks_per_min"] for r in rows.values()),
                               max(r["blinks_per_min"] for r in rows.values())]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
