"""Media I/O for every stage: content sniffing, video probing and streaming decode, audio loading and
resampling, H.264/AAC writing, file hashing. PyAV (bundled FFmpeg) does the work; no system ffmpeg.

The pieces: sniff (content sniffing), video (probe, decode), audio (decode, resample, wav), writer
(H.264/AAC), permissions, demo_clip (the built-in sample clip); the common verbs are exported here.
"""

from __future__ import annotations

import hashlib
import os

from backend.media.audio import audio_duration, load_audio, write_wav
from backend.media.sniff import sniff
from backend.media.video import VideoInfo, count_frames, default_fps, frame_size, iter_frames, probe_video
from backend.media.writer import VideoWriter, video_encoder

__all__ = [
    "VideoInfo", "VideoWriter", "audio_duration", "count_frames", "default_fps", "frame_size", "iter_frames",
    "load_audio", "probe_video", "sha256_file", "sniff", "video_encoder", "write_wav",
]


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()
