"""Writing video: H.264 (yuv420p) mp4 with optional AAC audio, frame by frame, atomically.

The file is encoded into a temporary sibling and renamed onto the target when the writer closes cleanly;
on an exception nothing is left behind. When this PyAV build lacks an H.264 encoder, MPEG-4 part 2 is
used with a warning (plays everywhere, about twice the size at equal quality).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from backend.core.atomic import atomic_path
from backend.media.permissions import make_readable

_H264_ENCODERS = ("libx264", "h264", "libopenh264")
_AAC_ENCODERS = ("aac", "libfdk_aac")


def _first_encoder(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - PyAV raises UnknownCodecError or ValueError depending on version
            continue
    return None


def video_encoder() -> str:
    """The encoder VideoWriter will use: libx264 when present, else another H.264 encoder, else mpeg4."""
    name = _first_encoder(_H264_ENCODERS)
    if name is None:
        warnings.warn("no H.264 encoder in this PyAV build; writing MPEG-4 part 2 video instead",
                      RuntimeWarning, stacklevel=2)
        return "mpeg4"
    return name


class VideoWriter:
    """Context manager: `with VideoWriter(path, fps, w, h, audio=(samples, sr)) as vw: vw.write(rgb)`.

    `rgb` frames are uint8 [height, width, 3]. Odd sizes are padded to even (yuv420p needs even sizes) by
    repeating the last row/column. `audio` samples are float32 [n] or [channels, n] and are muxed as AAC.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, width: int, height: int, crf: int = 18,
                 audio: tuple[np.ndarray, int] | None = None, preset: str = "medium") -> None:
        if fps <= 0 or width <= 0 or height <= 0:
            raise ValueError(f"bad video geometry: fps={fps}, size={width}x{height}")
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.width, self.height = int(width), int(height)
        self.crf, self.preset = int(crf), preset
        self.audio = audio
        self.frames_written = 0
        self._stack: contextlib.ExitStack | None = None
        self._container: av.container.OutputContainer | None = None
        self._vstream: av.video.stream.VideoStream | None = None
        self._astream: av.audio.stream.AudioStream | None = None
        self._audio_data: np.ndarray | None = None  # [channels, n] float32
        self._audio_sr = 0
        self._audio_done = 0  # samples already sent to the encoder

    def __enter__(self) -> VideoWriter:
        self._stack = contextlib.ExitStack()
        try:
            tmp = self._stack.enter_context(atomic_path(self.path, suffix=".mp4"))
            self._open(tmp)
            make_readable(tmp)
        except BaseException:
            self._stack.close()
            raise
        return self

    def _open(self, tmp: Path) -> None:
        container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        self._container = container
        codec = video_encoder()
        vs = container.add_stream(codec, rate=self.fps)
        vs.width, vs.height = self.width + self.width % 2, self.height + self.height % 2
        vs.pix_fmt = "yuv420p"
        vs.time_base = Fraction(1, 1) / self.fps
        if codec in ("libx264", "h264"):
            vs.options = {"crf": str(self.crf), "preset": self.preset}
        else:
            vs.bit_rate = max(1_000_000, self.width * self.height * 8)  # a generous rate for mpeg4
        self._vstream = vs
        if self.audio is not None:
            samples, sr = self.audio
            data = np.asarray(samples, dtype=np.float32)
            data = data[None, :] if data.ndim == 1 else data
            if data.ndim != 2 or data.shape[0] > 8:
                raise ValueError(f"audio must be [n] or [channels, n], got shape {np.shape(samples)}")
            aac = _first_encoder(_AAC_ENCODERS)
            if aac is None:
                raise RuntimeError("this PyAV build has no AAC encoder; cannot mux audio")
            astream = container.add_stream(aac, rate=int(sr))
            astream.layout = "mono" if data.shape[0] == 1 else "stereo"
            astream.bit_rate = 128_000
            if data.shape[0] > 2:
                data = data.mean(axis=0, keepdims=True)
                astream.layout = "mono"
            self._astream, self._audio_data, self._audio_sr = astream, np.clip(data, -1, 1), int(sr)

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame (uint8 [height, width, 3])."""
        if self._container is None or self._vstream is None:
            raise RuntimeError("VideoWriter.write called outside its `with` block")
        frame_arr = np.asarray(rgb)
        if frame_arr.shape != (self.height, self.width, 3) or frame_arr.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 [{self.height}, {self.width}, 3], "
                             f"got {frame_arr.dtype} {frame_arr.shape}")
        if self.width % 2 or self.height % 2:
            frame_arr = np.pad(frame_arr, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_arr), format="rgb24")
        frame.pts = self.frames_written
        self._container.mux(self._vstream.encode(frame))
        self.frames_written += 1
        # Keep audio interleaved with the video so players and the muxer never buffer much.
        self._write_audio(until_s=float(self.frames_written / self.fps))

    def _write_audio(self, until_s: float | None) -> None:
        if self._astream is None or self._audio_data is None or self._container is None:
            return
        n_total = self._audio_data.shape[1]
        end = n_total if until_s is None else min(n_total, int(until_s * self._audio_sr))
        chunk = 1024 * 8
        while self._audio_done < end:
            stop = min(end, self._audio_done + chunk)
            block = np.ascontiguousarray(self._audio_data[:, self._audio_done:stop])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=self._astream.layout.name)
            frame.sample_rate = self._audio_sr
            frame.pts = self._audio_done
            frame.time_base = Fraction(1, self._audio_sr)
            self._container.mux(self._astream.encode(frame))
            self._audio_done = stop

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._stack is not None
        try:
            if exc_type is None:
                if self.frames_written == 0:
                    raise ValueError(f"no frames were written to {self.path}")
                self._write_audio(until_s=None)
                if self._vstream is not None and self._container is not None:
                    self._container.mux(self._vstream.encode(None))
                if self._astream is not None and self._container is not None:
                    self._container.mux(self._astream.encode(None))
            if self._container is not None:
                self._container.close()
                self._container = None
        except BaseException:
            if self._container is not None:
                with contextlib.suppress(Exception):
                    self._container.close()
                self._container = None
            self._stack.__exit__(*_exc_info())
            raise
        self._stack.__exit__(exc_type, exc, tb)


def _exc_info() -> tuple[type[BaseException] | None, BaseException | None, TracebackType | None]:
    import sys

    return sys.exc_info()
