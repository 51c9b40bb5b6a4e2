"""Training data for the motion model: a profile's audio features paired with its fitted tracks, and a
streaming batch sampler over any number of profiles (only a bounded shard is in memory at once)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.core.errors import UserError
from backend.face.profile import load_profile
from backend.motion import features
from backend.motion.mouth import MouthModel


@dataclass
class MotionClip:
    """One person's clip as the model sees it: windows [T,W,F] and targets aligned frame by frame."""

    name: str
    fps: float
    windows: np.ndarray  # [T, W, F]
    activity: np.ndarray  # [T] speech fraction around each frame
    expression: np.ndarray  # [T, K]
    pose: np.ndarray  # [T, 6]
    valid: np.ndarray  # [T] bool: frames with a real (not interpolated) fit
    mouth: MouthModel
    face_model: str
    basis_names: list[str]

    def __len__(self) -> int:
        return int(self.expression.shape[0])

    def slice(self, start: int, stop: int) -> MotionClip:
        return MotionClip(self.name, self.fps, self.windows[start:stop], self.activity[start:stop],
                          self.expression[start:stop], self.pose[start:stop], self.valid[start:stop], self.mouth,
                          self.face_model, self.basis_names)


def read_manifest(profile: Path) -> dict:
    return load_profile(profile).manifest


def load_clip(profile: str | Path) -> MotionClip:
    """Load a profile directory (docs/formats.md) into a MotionClip; the clip must have speech audio."""
    profile = Path(profile)
    manifest = read_manifest(profile)
    wav = profile / "audio.wav"
    if not wav.is_file():
        raise UserError(f"profile {profile} has no audio.wav: the clip had no audio and none was given",
                        hint="re-run `talking-head analyze CLIP --audio SPEECH.wav` so the model has speech "
                             "paired with the face motion")
    with np.load(profile / "fit.npz", allow_pickle=False) as fit:
        expression = fit["expression"].astype(np.float32)
        pose = fit["pose"].astype(np.float32)
        valid = fit["valid"].astype(bool) if "valid" in fit.files else np.ones(len(expression), bool)
    mouth = MouthModel.load(profile / "face_model.npz")
    fps = float(manifest["fps"])
    n = len(expression)
    feats = features.speech_features(features.load_speech(wav), phonetic=True)
    return MotionClip(name=profile.name, fps=fps, windows=feats.windows(n, fps),
                      activity=feats.frame_activity(n, fps), expression=expression, pose=pose, valid=valid,
                      mouth=mouth, face_model=str(manifest.get("face_model", "")),
                      basis_names=list(manifest.get("basis_names", [])))


def split_train_val(n: int, val_fraction: float = 0.15, min_val: int = 8) -> tuple[slice, slice]:
    """Last `val_fraction` of the frames are held out (time split: no overlap of audio context)."""
    n_val = max(min_val, int(round(n * val_fraction)))
    if n - n_val < 16:
        raise UserError(f"only {n} frames to learn from: too few to train and hold out a validation part",
                        hint="use a clip of at least ~3 s (10 s / 300 frames recommended)")
    return slice(0, n - n_val), slice(n - n_val, n)


def feature_stats(clips: Sequence[MotionClip]) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean/std of the features the clips' windows contain (centre frame of each window)."""
    rows = np.concatenate([c.windows[:, features.WINDOW // 2] for c in clips], axis=0)
    return rows.mean(axis=0), rows.std(axis=0)


def sample_batch(clips: Sequence[MotionClip], batch: int, crop: int, rng: random.Random
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random crops: windows [B,crop,W,F], expression [B,crop,K], valid [B,crop]; clips weighted by length."""
    weights = [max(1, len(c) - crop + 1) for c in clips]
    w, e, v = [], [], []
    for _ in range(batch):
        clip = rng.choices(clips, weights=weights)[0]
        length = min(crop, len(clip))
        start = rng.randrange(0, len(clip) - length + 1)
        sl = slice(start, start + length)
        w.append(clip.windows[sl])
        e.append(clip.expression[sl])
        v.append(clip.valid[sl])
    length = min(len(x) for x in w)  # clips shorter than `crop` shorten the whole batch
    return (np.stack([x[:length] for x in w]), np.stack([x[:length] for x in e]),
            np.stack([x[:length] for x in v]))


class ProfileStream:
    """Endless batches over many profiles, holding at most `shard` clips in memory.

    Each pass shuffles the profile list and walks it shard by shard; `steps_per_shard` batches are drawn
    from a shard before the next one is loaded. Profiles that fail to load are skipped with a message.
    """

    def __init__(self, profiles: Sequence[Path], batch: int, crop: int, shard: int = 32,
                 steps_per_shard: int = 200, seed: int = 0, on_skip=None) -> None:
        self.profiles, self.batch, self.crop = list(profiles), batch, crop
        self.shard, self.steps_per_shard = shard, steps_per_shard
        self.rng = random.Random(seed)
        self.on_skip = on_skip

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        while True:
            order = self.profiles[:]
            self.rng.shuffle(order)
            loaded_any = False
            for i in range(0, len(order), self.shard):
                clips = []
                for p in order[i: i + self.shard]:
                    try:
                        clips.append(load_clip(p))
                    except UserError as exc:
                        if self.on_skip:
                            self.on_skip(p, exc)
                if not clips:
                    continue
                loaded_any = True
                for _ in range(self.steps_per_shard):
                    yield sample_batch(clips, self.batch, self.crop, self.rng)
            if not loaded_any:
                raise UserError("none of the training profiles could be loaded",
                                hint="check that the clips have speech audio and were analyzed")
