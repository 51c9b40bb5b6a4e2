"""Training data for the motion model: a profile's audio features paired with its fitted tracks, and a
streaming batch sampler over any number of profiles (only a bounded shard is in memory at once)."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backend.core.errors import UserError
from backend.face.profile import load_profile
from backend.motion import features, phonetics
from backend.motion.blinks import POPULATION, BlinkStats, blink_shape_from_basis, measure_blink_track
from backend.motion.formants import formant_rows
from backend.motion.mouth import MouthModel

FEATURE_CACHE = "motion_features.npz"  # per-profile cache of the speech features (train-general re-reads them)
FEATURE_CACHE_VERSION = f"mfcc{features.FEATURE_DIM}-phon{phonetics.DIM}-w{features.WINDOW}-v1"


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
    # blinks measured on the clip and taken out of `expression` (the model learns speech only)
    blink_weight: np.ndarray | None = None  # [T] closure 0..1
    blink_shape: np.ndarray | None = None  # [K]
    blink_stats: BlinkStats = field(default=POPULATION)
    # the speech under vocal-tract-length warps (general-model training only): a crop reads its windows
    # from `windows` or one of these, drawn uniformly
    warped: list[features.SpeechFeatures] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.expression.shape[0])

    def slice(self, start: int, stop: int) -> MotionClip:
        return MotionClip(self.name, self.fps, self.windows[start:stop], self.activity[start:stop],
                          self.expression[start:stop], self.pose[start:stop], self.valid[start:stop], self.mouth,
                          self.face_model, self.basis_names,
                          None if self.blink_weight is None else self.blink_weight[start:stop], self.blink_shape,
                          self.blink_stats)


def read_manifest(profile: Path) -> dict:
    return load_profile(profile).manifest


def cached_speech_features(profile: Path) -> features.SpeechFeatures:
    """The profile's speech features with phonetic and formant columns, cached in the profile (keyed by the audio's
    bytes and the feature version), so a re-run of train-general over 1000 clips does not decode them again."""
    wav = profile / "audio.wav"
    key = f"{FEATURE_CACHE_VERSION}:{hashlib.sha256(wav.read_bytes()).hexdigest()}"
    cache = profile / FEATURE_CACHE
    feats = _read_feature_cache(cache, key)
    if feats is None:
        feats = features.speech_features(features.load_speech(wav), phonetic=True, formants=True)
    elif feats.formants is None:  # a cache from before the formant columns: add them, keep the slow phone decode
        feats.formants = formant_rows(features.normalize_loudness(features.load_speech(wav))[0], len(feats.mfcc))
    else:
        return feats
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, key=key, mfcc=feats.mfcc, activity=feats.activity, duration_s=feats.duration_s,
                     gain_db=feats.gain_db, silence_row=feats.silence_row, phonetic=feats.phonetic,
                     formants=feats.formants)
        os.replace(tmp, cache)
    except OSError:  # a read-only profile: features are still returned, just not cached
        tmp.unlink(missing_ok=True)
    return feats


def _read_feature_cache(cache: Path, key: str) -> features.SpeechFeatures | None:
    """The cached features when the cache exists and matches `key`; None when it is missing, stale or unreadable."""
    try:
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return features.SpeechFeatures(
                mfcc=z["mfcc"], activity=z["activity"], duration_s=float(z["duration_s"]),
                gain_db=float(z["gain_db"]), silence_row=z["silence_row"], phonetic=z["phonetic"],
                formants=z["formants"] if "formants" in z.files else None)
    except (OSError, ValueError, KeyError):
        return None


_WARPED: dict[tuple[str, float], features.SpeechFeatures] = {}


def warped_features(profile: Path, warps: Sequence[float]) -> list[features.SpeechFeatures]:
    """The profile's speech features with the MFCCs computed under each vocal-tract-length warp
    (features.warp_frequency) and the phonetic and formant columns as they are. Kept in memory per process (100 rows a
    second, small), since a training run reloads its shards many times; windows are cut per crop."""
    missing = [float(a) for a in warps if (str(profile), float(a)) not in _WARPED]
    if missing:  # decode the audio and read the phonetic columns once for all the warps
        samples = features.load_speech(profile / "audio.wav")
        plain = cached_speech_features(profile)
        for alpha in missing:
            warped = features.speech_features(samples, warp=alpha)
            # the warp moves the mel filters, not the audio; z-scored log formants would not move under it anyway
            warped.phonetic, warped.formants = plain.phonetic, plain.formants
            _WARPED[(str(profile), alpha)] = warped
    return [_WARPED[(str(profile), float(a))] for a in warps]


def load_clip(profile: str | Path, speech_only: bool = True) -> MotionClip:
    """Load a profile directory (docs/formats.md) into a MotionClip; the clip must have speech audio.

    With `speech_only` the blinks measured on the clip's eyelids (backend/motion/blinks.py) are taken out
    of the expression targets, so the model learns what speech moves and the blink layer adds the rest."""
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
        landmarks = fit["landmarks"] if "landmarks" in fit.files else None
    mouth = MouthModel.load(profile / "face_model.npz")
    fps = float(manifest["fps"])
    n = len(expression)
    with np.load(profile / "face_model.npz", allow_pickle=False) as z:
        identity, basis = z["vertices"], z["basis"]
    if landmarks is not None and landmarks.shape[1] >= 468 and identity.shape[0] >= 468:
        stats, blink_shape, blink_weight = measure_blink_track(landmarks, expression, fps, identity, basis)
        if speech_only:
            expression = (expression - blink_weight[:, None] * blink_shape[None, :]).astype(np.float32)
    else:  # no tracked eyelids (a synthetic or photo profile): population rhythm, the basis' closed eye
        stats, blink_weight = POPULATION, np.zeros(n, np.float32)
        blink_shape = blink_shape_from_basis(identity, basis) if identity.shape[0] >= 468 else None
    feats = cached_speech_features(profile)
    return MotionClip(name=profile.name, fps=fps, windows=feats.windows(n, fps),
                      activity=feats.frame_activity(n, fps), expression=expression, pose=pose, valid=valid,
                      mouth=mouth, face_model=str(manifest.get("face_model", "")),
                      basis_names=list(manifest.get("basis_names", [])), blink_weight=blink_weight,
                      blink_shape=blink_shape, blink_stats=stats)


def split_train_val(n: int, val_fraction: float = 0.15, min_val: int = 8) -> tuple[slice, slice]:
    """Last `val_fraction` of the frames are held out (time split: no overlap of audio context)."""
    n_val = max(min_val, int(round(n * val_fraction)))
    if n - n_val < 16:
        raise UserError(f"only {n} frames to learn from: too few to train and hold out a validation part",
                        hint="use a clip of at least ~3 s (10 s / 300 frames recommended)")
    return slice(0, n - n_val), slice(n - n_val, n)


def holdout_frames(n: int, fraction: float) -> int:
    """Frames at the end of an n-frame clip held out for validation (0 when the clip is too short)."""
    n_val = max(8, int(round(n * fraction)))
    return n_val if n > n_val + 16 else 0


def feature_stats(clips: Sequence[MotionClip]) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean/std of the features the clips' windows contain (centre frame of each window)."""
    rows = np.concatenate([c.windows[:, features.WINDOW // 2] for c in clips], axis=0)
    return rows.mean(axis=0), rows.std(axis=0)


def sample_batch(clips: Sequence[MotionClip], batch: int, crop: int, rng: random.Random,
                 weights: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random crops: windows [B,crop,W,F], expression [B,crop,K], valid [B,crop]; clips weighted by length
    (or by `weights`, one per clip)."""
    if weights is None:
        weights = [max(1, len(c) - crop + 1) for c in clips]
    w, e, v = [], [], []
    for _ in range(batch):
        clip = rng.choices(clips, weights=weights)[0]
        length = min(crop, len(clip))
        start = rng.randrange(0, len(clip) - length + 1)
        sl = slice(start, start + length)
        k = rng.randrange(len(clip.warped) + 1) if clip.warped else 0
        w.append(clip.windows[sl] if k == 0 else clip.warped[k - 1].windows(len(clip), clip.fps, sl.start, sl.stop))
        e.append(clip.expression[sl])
        v.append(clip.valid[sl])
    length = min(len(x) for x in w)  # clips shorter than `crop` shorten the whole batch
    return (np.stack([x[:length] for x in w]), np.stack([x[:length] for x in e]),
            np.stack([x[:length] for x in v]))


class ProfileStream:
    """Endless batches over many profiles, holding at most `shard` clips in memory.

    Each pass shuffles the profile list and walks it shard by shard; `steps_per_shard` batches are drawn
    from a shard before the next one is loaded. `weights` (one per profile, backend/motion/people.py) sets
    how often each clip is drawn; by default every frame is as likely. The last `holdout` of each of
    `holdout_profiles` is never drawn (it is the validation part). Profiles that fail to load are skipped
    with a message.
    """

    def __init__(self, profiles: Sequence[Path], batch: int, crop: int, shard: int = 32,
                 steps_per_shard: int = 200, seed: int = 0, on_skip=None,
                 weights: Sequence[float] | None = None, holdout: float = 0.0,
                 holdout_profiles: set[Path] | None = None, warps: Sequence[float] = ()) -> None:
        self.warps = tuple(warps)
        self.profiles, self.batch, self.crop = list(profiles), batch, crop
        self.holdout, self.holdout_profiles = holdout, holdout_profiles or set()
        self.shard, self.steps_per_shard = shard, steps_per_shard
        self.rng = random.Random(seed)
        self.on_skip = on_skip
        self.weight = dict(zip(self.profiles, weights, strict=True)) if weights is not None else None

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        while True:
            order = self.profiles[:]
            self.rng.shuffle(order)
            loaded_any = False
            for i in range(0, len(order), self.shard):
                clips, paths = [], []
                for p in order[i: i + self.shard]:
                    try:
                        clip = load_clip(p)
                        if p in self.holdout_profiles:  # their ends are the validation frames
                            clip = clip.slice(0, len(clip) - holdout_frames(len(clip), self.holdout))
                        if self.warps:
                            clip.warped = warped_features(p, self.warps)
                        clips.append(clip)
                        paths.append(p)
                    except UserError as exc:
                        if self.on_skip:
                            self.on_skip(p, exc)
                if not clips:
                    continue
                loaded_any = True
                w = None if self.weight is None else [self.weight[p] for p in paths]
                for _ in range(self.steps_per_shard):
                    yield sample_batch(clips, self.batch, self.crop, self.rng, w)
            if not loaded_any:
                raise UserError("none of the training profiles could be loaded",
                                hint="check that the clips have speech audio and were analyzed")
