"""Reading video: probe a clip, count its frames at a chosen rate, stream its frames as upright RGB.

Frames are resampled to a constant rate by timestamp (nearest source frame in time), so variable-frame-rate
phone clips become a steady sequence and `count_frames` knows T before decoding. The default rate is the
source's average rate rounded to the nearest integer (29.97 -> 30, 23.976 -> 24, 59.94 -> 60, 12.5 -> 13):
at 29.97 -> 30 one frame in about 33 s is shown twice, which no analysis notices.

Rotation follows FFmpeg's display matrix (what phones write) or a legacy `rotate` tag; frames come out the
way a player shows them. Mirror flips in the display matrix are ignored (no known camera writes them).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from backend.core.errors import UserError
from backend.media.sniff import check_file, open_container, real_video_streams

_VFR_SAMPLE = 300  # timestamps looked at to guess variable frame rate


@dataclass(frozen=True)
class VideoInfo:
    width: int  # displayed width, after rotation
    height: int  # displayed height, after rotation
    fps: float  # average frame rate of the source
    duration_s: float  # of the video stream (the part that decodes when the file is truncated)
    frame_count: int  # source frames (an estimate for formats without a full index)
    rotation: int  # 0, 90, 180 or 270: counter-clockwise degrees applied to stored frames for display
    has_audio: bool
    codec: str
    is_vfr: bool
    truncated: bool = False  # the file ends before its own index does (a partial copy or download)


@dataclass(frozen=True)
class _Scan:
    """What demuxing (not decoding) tells about the first video stream."""

    timestamps: tuple[float, ...]  # seconds, sorted, first _VFR_SAMPLE presentation times
    frame_count: int
    duration_s: float
    truncated: bool = False
    # every frame had the same timestamp (a broken re-encode, e.g. the GRID copies in shared/data/train):
    # frames are then taken as evenly spaced at the stream's nominal rate (`nominal_fps`)
    nominal_fps: float = 0.0


def _scan_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=32)
def _scan(key: tuple[str, int, int]) -> _Scan:
    path, size, _ = key
    with open_container(path) as container:
        streams = real_video_streams(container)
        if not streams:
            raise _no_video_error(Path(path), container)
        stream = streams[0]
        tb = float(stream.time_base) if stream.time_base else 1 / 90000
        entries = stream.index_entries
        pts: list[int] = []
        truncated = False
        if stream.frames and len(entries) == stream.frames:
            # A full sample index (mp4/mov): timestamps for free, and samples past the end of the file
            # reveal a truncated copy without reading any payload.
            for e in entries:
                if e.is_discard:
                    continue
                if e.pos + e.size > size:
                    truncated = True
                    continue
                pts.append(e.timestamp)
        else:
            # No full index (mkv/webm/avi/ts...): demux the stream's packets (cheap next to decoding).
            try:
                for packet in container.demux(stream):
                    stamp = packet.pts if packet.pts is not None else packet.dts  # AVI often lacks pts
                    if stamp is not None and packet.size > 0:
                        pts.append(stamp)
            except av.FFmpegError:
                truncated = True
        if not pts:
            raise UserError(f"no video frames could be read from {path} (truncated or corrupt file?)",
                            hint="re-export or re-download the clip")
        pts.sort()
        if len(pts) > 1 and pts[0] == pts[-1]:
            rate = float(stream.guessed_rate or stream.base_rate or 25)
            times = [i / rate for i in range(len(pts))]
            return _Scan(tuple(times[:_VFR_SAMPLE]), len(pts), len(pts) / rate, truncated, nominal_fps=rate)
        times = [(p - pts[0]) * tb for p in pts]
        deltas = np.diff(times) if len(times) > 1 else np.array([])
        step = float(np.median(deltas)) if deltas.size else 0.0
        if step <= 0:
            rate = stream.average_rate or stream.guessed_rate or 25
            step = 1 / float(rate)
        # Without a trustworthy header, the last frame lasts about as long as a typical one.
        duration = float(stream.duration * tb) if not truncated and stream.duration else times[-1] + step
        if duration <= 0 or not math.isfinite(duration):
            duration = len(pts) * step
        return _Scan(tuple(times[:_VFR_SAMPLE]), len(pts), duration, truncated)


def _no_video_error(path: Path, container: av.container.InputContainer) -> UserError:
    if container.streams.audio:
        return UserError(f"{path} is audio only; a video of the target person is needed here",
                         hint="pass the audio with --audio and a video clip (or a photo) as the target")
    return UserError(f"{path} has no video stream", hint="pass a video clip of the target person")


def _rotation(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> int:
    degrees = float(frame.rotation or 0.0)
    if degrees == 0.0 and "rotate" in stream.metadata:  # legacy tag: clockwise degrees
        try:
            degrees = -float(stream.metadata["rotate"])
        except ValueError:
            degrees = 0.0
    return (round(degrees / 90) % 4) * 90


def _is_vfr(times: tuple[float, ...], tb: float) -> bool:
    if len(times) < 3:
        return False
    deltas = np.diff(np.asarray(times))
    median = float(np.median(deltas))
    # Container clocks round timestamps (e.g. 33/34 ms at 30 fps in mkv): allow two ticks of jitter.
    tolerance = max(2.5 * tb, 0.1 * median)
    return bool(np.any(np.abs(deltas - median) > tolerance))


def _first_frame(container: av.container.InputContainer,
                 stream: av.video.stream.VideoStream) -> av.VideoFrame | None:
    try:
        return next(iter(container.decode(stream)), None)
    except av.FFmpegError:
        return None


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Facts about a clip's first video stream; UserError if it has none or no frame decodes."""
    p = check_file(path)
    scan = _scan(_scan_key(p))
    with open_container(p) as container:
        stream = real_video_streams(container)[0]
        first = _first_frame(container, stream)
        if first is None:
            raise UserError(f"no video frame of {p} decodes (truncated or corrupt file?)",
                            hint="re-export or re-download the clip")
        rotation = _rotation(first, stream)
        tb = float(stream.time_base) if stream.time_base else 1 / 90000
        vfr = _is_vfr(scan.timestamps, tb)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate and not vfr else scan.frame_count / scan.duration_s
        fps = scan.nominal_fps or fps
        width, height = first.width, first.height
        if rotation % 180:
            width, height = height, width
        return VideoInfo(width=width, height=height, fps=fps, duration_s=scan.duration_s,
                         frame_count=scan.frame_count, rotation=rotation,
                         has_audio=bool(container.streams.audio), codec=stream.codec_context.name,
                         is_vfr=vfr, truncated=scan.truncated)


def default_fps(source_fps: float) -> int:
    """The analysis rate for a source rate: the nearest integer, halves up, at least 1."""
    return max(1, int(math.floor(source_fps + 0.5)))


def count_frames(path: str | os.PathLike[str], fps: float | None = None) -> int:
    """T, the number of frames `iter_frames(path, fps)` yields: round(video duration * fps), at least 1."""
    p = check_file(path)
    scan = _scan(_scan_key(p))
    rate = float(fps) if fps is not None else default_fps(probe_video(p).fps)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return max(1, int(math.floor(scan.duration_s * rate + 0.5)))


def frame_size(info: VideoInfo, max_side: int | None = None) -> tuple[int, int]:
    """(width, height) of the frames `iter_frames` yields for this clip and `max_side` (never upscaled)."""
    scale = 1.0
    if max_side is not None and max(info.width, info.height) > max_side:
        scale = max_side / max(info.width, info.height)
    return max(1, round(info.width * scale)), max(1, round(info.height * scale))


def iter_frames(path: str | os.PathLike[str], fps: float | None = None,
                max_side: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, rgb uint8 [H, W, 3]) at a constant `fps`, upright, at most `max_side` pixels on a side.

    Streams: one decoded frame is held at a time. Output frame i shows the source frame nearest to time
    i / fps (from the first frame; a tie goes to the earlier frame). Exactly `count_frames(path, fps)` frames come out: the last frame is
    repeated if the stream ends early (a damaged tail), extra source frames are dropped. Every yielded
    array is a fresh, writable array.
    """
    p = check_file(path)
    info = probe_video(p)
    rate = float(fps) if fps is not None else float(default_fps(info.fps))
    total = count_frames(p, rate)
    out_w, out_h = frame_size(info, max_side)
    k = info.rotation // 90
    stored_w, stored_h = (out_h, out_w) if k % 2 else (out_w, out_h)

    def to_rgb(frame: av.VideoFrame) -> np.ndarray:
        arr = frame.to_ndarray(width=stored_w, height=stored_h, format="rgb24",
                               interpolation="AREA" if (stored_w, stored_h) != (frame.width, frame.height)
                               else None)
        return np.ascontiguousarray(np.rot90(arr, k)) if k else arr

    index = 0
    held: av.VideoFrame | None = None
    held_rgb: np.ndarray | None = None
    held_t = 0.0
    t0: float | None = None
    synthetic_step = 1 / scan.nominal_fps if (scan := _scan(_scan_key(p))).nominal_fps else 0.0
    decoded = 0
    with open_container(p) as container:
        stream = real_video_streams(container)[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else (held_t + 1 / info.fps if held else 0.0)
                if synthetic_step:
                    t = decoded * synthetic_step
                decoded += 1
                if t0 is None:
                    t0 = t
                t = max(t - t0, held_t)  # guard against timestamps running backwards
                if held is not None:
                    # Output times up to the midpoint are nearer the held frame (ties go to it: the
                    # tolerance keeps float noise from deciding them).
                    midpoint = (held_t + t) / 2 + 1e-6
                    while index < total and index / rate <= midpoint:
                        held_rgb = to_rgb(held) if held_rgb is None else held_rgb.copy()
                        yield index, held_rgb
                        index += 1
                    if index >= total:
                        return
                held, held_rgb, held_t = frame, None, t
        except av.FFmpegError:
            pass  # a damaged tail: keep what decoded and pad below
    if held is None:
        raise UserError(f"no video frame of {p} decodes (truncated or corrupt file?)",
                        hint="re-export or re-download the clip")
    while index < total:
        held_rgb = to_rgb(held) if held_rgb is None else held_rgb.copy()
        yield index, held_rgb
        index += 1
