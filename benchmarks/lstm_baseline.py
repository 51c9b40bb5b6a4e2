"""The per-clip baseline of issue 12: a 1-layer LSTM (64 units) over each frame's MFCC window, trained on the
target's first 300 frames only, predicting the inner-lip opening directly; Pearson r on the frames after.

Same split as `eval-motion --train-frames 300`: training windows come from the whole clip's audio (as
personalize reads them), the held-out frames are predicted from the audio after frame 300's time as a
recording of its own (its own loudness and cepstral normalisation), and compared with the fitted opening.
No general model, no phonetic columns: what a simple model learns from the 300 frames alone.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/lstm_baseline.py PROFILE [PROFILE ...] [--seeds 0 1 2]

A PROFILE is a directory written by `talking-head analyze` (eval-motion leaves one in DIR/profile).
Prints one JSON line per profile and seed: {"profile", "seed", "r", "seconds"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.face.metrics import pearson  # noqa: E402
from backend.motion import features  # noqa: E402
from backend.motion.data import load_clip  # noqa: E402

TRAIN_FRAMES = 300
EPOCHS = 300
HIDDEN = 64


class WindowLSTM(nn.Module):
    """LSTM over the 28 MFCC frames of one video frame's window; the last state gives the opening."""

    def __init__(self, dim: int = features.FEATURE_DIM, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:  # [N, W, F] -> [N]
        out, _ = self.lstm(windows)
        return self.head(out[:, -1]).squeeze(-1)


def run(profile: Path, seed: int, train_frames: int = TRAIN_FRAMES, epochs: int = EPOCHS) -> dict:
    t0 = time.monotonic()
    torch.manual_seed(seed)
    clip = load_clip(profile, speech_only=False)
    if len(clip) < train_frames + 50:
        raise SystemExit(f"{profile}: {len(clip)} frames, need at least {train_frames + 50}")
    opening = clip.mouth.opening(clip.expression).astype(np.float32)
    x_train = clip.windows[:train_frames, :, : features.FEATURE_DIM]
    samples = features.load_speech(profile / "audio.wav")
    test_audio = samples[int(round(train_frames / clip.fps * features.SR)):]
    feats = features.speech_features(test_audio)
    n_test = min(len(clip) - train_frames, features.frame_count(feats.duration_s, clip.fps))
    x_test = feats.windows(n_test, clip.fps)
    mean, std = x_train.reshape(-1, x_train.shape[-1]).mean(0), x_train.reshape(-1, x_train.shape[-1]).std(0) + 1e-3
    y = opening[:train_frames]
    y_mean, y_std = float(y.mean()), float(y.std() + 1e-9)
    xt = torch.from_numpy((x_train - mean) / std)
    yt = torch.from_numpy((y - y_mean) / y_std)
    model = WindowLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        model.train()
        for idx in np.array_split(rng.permutation(train_frames), 5):  # minibatches of 60 frames
            loss = torch.mean((model(xt[idx]) - yt[idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy((x_test - mean) / std)).numpy()
    r = pearson(pred, opening[train_frames:train_frames + n_test])
    name = profile.parent.name if profile.name == "profile" else profile.name  # eval-motion DIR/profile
    return {"profile": name, "seed": seed, "r": round(float(r), 4), "test_frames": int(n_test),
            "seconds": round(time.monotonic() - t0, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profiles", type=Path, nargs="+")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for profile in args.profiles:
        for seed in args.seeds:
            print(json.dumps(run(profile, seed, epochs=args.epochs)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
