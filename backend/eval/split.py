"""The eval protocol's data split: the first N frames of a clip (and their speech) become the target clip;
the frames after them are held out, cut to the face crops the full clip's analysis placed on them."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend import media
from backend.core.atomic import write_json
from backend.core.progress import QUIET, Progress
from backend.render.pasteback import crop_frame

TARGET_CRF = 10  # near-lossless: the target's analysis should see the clip, not codec damage


@dataclass
class Split:
    target_clip: Path
    target_audio: Path
    heldout_audio: Path
    real_crops: np.ndarray  # [n,S,S,3] uint8: held-out frames N.. cut with the full clip's crop affines


def cut_speech(samples: np.ndarray, sr: int, fps: float, train_frames: int, work: Path) -> tuple[Path, Path]:
    """Write the speech before and after frame `train_frames`'s time as two wavs."""
    cut = int(round(train_frames / fps * sr))
    target, heldout = work / "target_audio.wav", work / "heldout_audio.wav"
    media.write_wav(target, samples[:cut], sr)
    media.write_wav(heldout, samples[cut:], sr)
    return target, heldout


def split_clip(clip: Path, fps: float, train_frames: int, crops: np.ndarray, size: int, work: Path,
               progress: Progress = QUIET) -> tuple[Path, np.ndarray]:
    """One decode pass: frames [0, N) -> work/target.mp4 (reused when the same clip, N and fps made it
    before), frames [N, N + len(crops)) -> face crops of `size` px with `crops` [n,2,3] affines."""
    target = work / "target.mp4"
    stamp = work / "target.json"
    key = {"clip_sha256": media.sha256_file(clip), "train_frames": train_frames, "fps": fps}
    reuse = target.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == key
    info = media.probe_video(clip)
    width, height = media.frame_size(info)
    real = np.zeros((len(crops), size, size, 3), dtype=np.uint8)
    end = train_frames + len(crops)
    progress.stage("split clip: target frames and held-out crops", end)
    with contextlib.ExitStack() as stack:
        writer = None if reuse else stack.enter_context(
            media.VideoWriter(target, fps, width, height, crf=TARGET_CRF, preset="veryfast"))
        for i, rgb in media.iter_frames(clip, fps):
            if i >= end:
                break
            if i < train_frames:
                if writer is not None:
                    writer.write(rgb)
            else:
                real[i - train_frames] = crop_frame(rgb, crops[i - train_frames], size)
            progress.update(1)
    if not reuse:
        write_json(stamp, key)
    return target, real
