"""Reading and writing speech audio: any container PyAV decodes (wav of any sample format, mp3, m4a/aac,
flac, ogg, or a video's audio track), resampled with soxr, and float32 wav writing.

Shapes follow librosa: mono audio is [n]; multi-channel audio is [channels, n].
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from backend.core.atomic import atomic_path
from backend.core.errors import Note, UserError
from backend.media.permissions import make_readable
from backend.media.sniff import check_file, image_format, open_container, read_head, real_video_streams

_MAX_CODEC_PADDING = 4096  # samples


def _audio_stream(container: av.container.InputContainer, path: Path) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        if real_video_streams(container):
            raise UserError(f"{path} has no audio: it is a video without a sound track, so there is no speech in it to use",
                            hint="give the speech as an audio file (wav, mp3, m4a, flac, ogg) or a video with "
                                 "sound; for analyze, pass it with --audio")
        raise UserError(f"no audio stream in {path}", hint="pass an audio file (wav, mp3, m4a, flac, ogg)")
    return container.streams.audio[0]


def _refuse_images(path: Path) -> None:
    kind = image_format(read_head(path, 64))
    if kind is not None:
        raise UserError(f"{path} is an image ({kind}), not audio",
                        hint="pass a speech recording (wav, mp3, m4a, flac, ogg) or a video with sound")


def load_audio(path: str | os.PathLike[str], sr: int = 16000, mono: bool = True) -> np.ndarray:
    """Decode the first audio stream to float32 in [-1, 1] at `sr` Hz: [n] if mono, else [channels, n].

    For a video file the samples are aligned to the video: sample 0 is the first video frame's time
    (audio starting later is padded with silence, audio starting earlier is trimmed).
    """
    p = check_file(path)
    _refuse_images(p)
    with open_container(p) as container:
        stream = _audio_stream(container, p)
        offset_s = _start_offset(container, stream)
        header_s = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        chunks: list[np.ndarray] = []
        native_sr = stream.codec_context.sample_rate or stream.rate
        # Convert every decoded frame to planar float at the source rate; soxr does the rate change.
        resampler = av.AudioResampler(format="fltp", layout=None, rate=None)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
        except av.FFmpegError:
            if not chunks:
                raise UserError(f"the audio in {p} does not decode (truncated or corrupt file?)",
                                hint="re-export or re-download the file") from None
            # a damaged tail: keep what decoded
    if not chunks:
        raise UserError(f"the audio stream in {p} is empty", hint="pass a file that contains speech")
    channels = max(c.shape[0] for c in chunks)
    chunks = [c if c.shape[0] == channels else np.repeat(c[:1], channels, axis=0) for c in chunks]
    audio = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)  # [channels, n]
    if header_s is not None and stream.codec_context.name.startswith("pcm_"):
        # PCM (wav) headers state the exact length: less data than that means a cut-short copy.
        missing_s = header_s - audio.shape[1] / native_sr
        if missing_s > 0.05:
            warnings.warn(Note(f"{p} is cut short: its header promises {header_s:.2f} s of audio but the data "
                               f"ends after {audio.shape[1] / native_sr:.2f} s (a partial copy?); using what "
                               "is there"), stacklevel=2)
    if header_s is not None:
        # AAC/MP3 decoders emit the padding of the last codec frame (at most ~2 codec frames); the container's
        # duration is the truth then. A larger excess means the header is an estimate (VBR mp3): keep all.
        excess = audio.shape[1] - round(header_s * native_sr)
        if 0 < excess <= _MAX_CODEC_PADDING:
            audio = audio[:, :audio.shape[1] - excess]
    if mono:
        audio = audio.mean(axis=0, keepdims=True)
    if offset_s:
        shift = round(offset_s * native_sr)
        audio = np.pad(audio, ((0, 0), (shift, 0))) if shift > 0 else audio[:, -shift:]
    if native_sr != sr:
        # soxr wants [n, channels]; 'HQ' is transparent for speech and fast.
        audio = soxr.resample(audio.T, native_sr, sr, quality="HQ").T
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    return audio[0] if mono else audio


def _start_offset(container: av.container.InputContainer, audio: av.audio.stream.AudioStream) -> float:
    """Seconds from the first video frame to the first audio sample (0 for audio-only files)."""
    videos = real_video_streams(container)
    if not videos:
        return 0.0
    video = videos[0]
    if video.start_time is None or audio.start_time is None:
        return 0.0
    offset = float(audio.start_time * audio.time_base) - float(video.start_time * video.time_base)
    return offset if abs(offset) < 10.0 else 0.0  # nonsense start times: do not shift by seconds


def audio_duration(path: str | os.PathLike[str]) -> float:
    """Seconds of audio in the file's first audio stream, from the header when it says, else by decoding."""
    p = check_file(path)
    _refuse_images(p)
    with open_container(p) as container:
        stream = _audio_stream(container, p)
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if container.duration and not real_video_streams(container):
            return container.duration / 1_000_000
    native = load_audio(p, sr=16000)
    return len(native) / 16000


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sr: int) -> None:
    """Write float32 wav atomically. `samples` is [n] or [channels, n] (librosa layout)."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 2:
        data = data.T  # soundfile wants [n, channels]
    elif data.ndim != 1:
        raise ValueError(f"samples must be [n] or [channels, n], got shape {data.shape}")
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), data, int(sr), subtype="FLOAT", format="WAV")
        make_readable(tmp)
