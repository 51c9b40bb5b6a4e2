"""Media I/O on files the tests make (default tier) and on the real clips (realdata tier)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import correlate, correlation_lags

from backend.core.errors import UserError
from backend.media import (
    VideoWriter,
    audio_duration,
    count_frames,
    default_fps,
    frame_size,
    iter_frames,
    load_audio,
    probe_video,
    sha256_file,
    sniff,
    write_wav,
)

SR = 16000


# ---------------------------------------------------------------- helpers that make media


def _sine(freq: float, seconds: float, sr: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _pattern(i: int, h: int, w: int) -> np.ndarray:
    """A smooth frame with a white 8x8 block whose place encodes i (so decoded frames can be identified)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (xx * 255 // max(1, w - 1)).astype(np.uint8)
    img[..., 1] = (yy * 255 // max(1, h - 1)).astype(np.uint8)
    img[..., 2] = 60
    cols = max(1, w // 8)
    y, x = 8 * ((i // cols) % max(1, h // 8)), 8 * (i % cols)
    img[y:y + 8, x:x + 8] = 255
    return img


def _identify(rgb: np.ndarray, n: int) -> int:
    """Which _pattern frame this decoded frame is."""
    h, w = rgb.shape[:2]
    return int(np.argmin([np.abs(rgb.astype(int) - _pattern(j, h, w).astype(int)).mean() for j in range(n)]))


def _write_clip(path: Path, n: int = 50, fps: float = 25, size: tuple[int, int] = (96, 64),
                audio: tuple[np.ndarray, int] | None = None) -> Path:
    w, h = size
    with VideoWriter(path, fps, w, h, audio=audio) as vw:
        for i in range(n):
            vw.write(_pattern(i, h, w))
    return path


def _marker_frame(i: int, h: int, w: int) -> np.ndarray:
    img = np.full((h, w, 3), min(255, 4 * i), np.uint8)
    img[:4, :4] = 255  # marker in the stored top-left corner
    img[:4, 4:8] = 0
    return img


def _write_raw_video(path: Path, pts_ms: list[int], fmt: str | None = None, rotation: float | None = None,
                     size: tuple[int, int] = (32, 32), faststart: bool = False,
                     frame_fn: Callable[[int, int, int], np.ndarray] = _marker_frame) -> None:
    """Frames at arbitrary millisecond timestamps (for VFR), optionally with a display rotation."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=fmt, options=options) as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height = size
        s.pix_fmt = "yuv420p"
        s.time_base = s.codec_context.time_base = Fraction(1, 1000)  # else the encoder rounds to 1/30 s
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i, t in enumerate(pts_ms):
            f = av.VideoFrame.from_ndarray(frame_fn(i, size[1], size[0]), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 1000)
            c.mux(s.encode(f))
        c.mux(s.encode(None))


def _write_audio_file(path: Path, samples: np.ndarray, sr: int, codec: str, fmt: str) -> None:
    """Encode mono float samples with PyAV into any container (mp3, m4a, flac, ogg...)."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=sr)
        s.layout = "mono"
        for start in range(0, len(samples), 4096):
            block = np.ascontiguousarray(samples[None, start:start + 4096])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = sr, start, Fraction(1, sr)
            c.mux(s.encode(frame))
        c.mux(s.encode(None))


def _lag_and_corr(got: np.ndarray, ref: np.ndarray, max_lag: int = 2000) -> tuple[int, float]:
    """The shift of `got` against `ref` (within max_lag samples) and their normalised correlation there."""
    n = min(len(got), len(ref))
    a, b = got[:n].astype(np.float64), ref[:n].astype(np.float64)
    full = correlate(a, b, mode="full", method="fft")
    lags = correlation_lags(n, n, mode="full")
    window = np.abs(lags) <= max_lag
    lag = int(lags[window][np.argmax(full[window])])
    x = a[max(0, lag):n + min(0, lag)]
    y = b[max(0, -lag):n - max(0, lag)]
    return lag, float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12))


def _chirp(seconds: float, sr: int) -> np.ndarray:
    """A non-periodic signal, so correlation finds one lag only."""
    t = np.arange(round(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * (200 * t + 300 * t**2))).astype(np.float32)


# ---------------------------------------------------------------- round trip through VideoWriter


def test_mp4_with_audio_round_trip(tmp_path: Path) -> None:
    speech = _chirp(2.0, SR)
    clip = _write_clip(tmp_path / "clip.mp4", n=50, fps=25, size=(96, 64), audio=(speech, SR))
    assert sniff(clip) == "video"
    info = probe_video(clip)
    assert (info.width, info.height, info.fps, info.rotation) == (96, 64, 25.0, 0)
    assert info.has_audio and info.codec == "h264" and not info.is_vfr
    assert info.frame_count == 50 and info.duration_s == pytest.approx(2.0)
    assert count_frames(clip) == 50
    frames = list(iter_frames(clip))
    assert [i for i, _ in frames] == list(range(50))
    for i, rgb in frames:
        assert rgb.dtype == np.uint8 and rgb.shape == (64, 96, 3) and rgb.flags.writeable
        err = np.abs(rgb.astype(int) - _pattern(i, 64, 96).astype(int)).mean()
        assert err < 3.0, f"frame {i} differs by {err:.1f} grey levels on average"
    assert audio_duration(clip) == pytest.approx(2.0, abs=0.03)
    got = load_audio(clip, sr=SR)
    assert got.dtype == np.float32 and got.ndim == 1
    assert len(got) == pytest.approx(len(speech), abs=SR * 0.03)
    lag, corr = _lag_and_corr(got, speech, max_lag=200)
    assert abs(lag) <= 2 and corr > 0.95, (lag, corr)


def test_writer_pads_odd_sizes_and_sets_ntsc_rate(tmp_path: Path) -> None:
    clip = _write_clip(tmp_path / "odd.mp4", n=30, fps=30000 / 1001, size=(65, 47))
    info = probe_video(clip)
    assert (info.width, info.height) == (66, 48)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert default_fps(info.fps) == 30
    # T follows duration * rate: 30 source frames at 29.97 fps last 1.001 s -> 30 frames at 30 fps.
    assert count_frames(clip) == round(info.duration_s * 30) == 30
    frames = list(iter_frames(clip))
    assert len(frames) == 30
    # The padding repeats the last column/row, so the picture itself is intact.
    assert np.abs(frames[3][1][:47, :65].astype(int) - _pattern(3, 47, 65).astype(int)).mean() < 3.0


def test_writer_muxes_stereo_48k_audio_longer_than_video(tmp_path: Path) -> None:
    left, right = _chirp(1.5, 48000), _sine(500, 1.5, 48000)
    clip = _write_clip(tmp_path / "st.mp4", n=25, fps=25, size=(32, 32), audio=(np.stack([left, right]), 48000))
    assert count_frames(clip) == 25  # the video keeps its own length
    assert audio_duration(clip) == pytest.approx(1.5, abs=0.03)
    both = load_audio(clip, sr=48000, mono=False)
    assert both.shape[0] == 2
    assert _lag_and_corr(both[0], left, max_lag=50)[1] > 0.95
    assert _lag_and_corr(both[1], right, max_lag=50)[1] > 0.95


def test_still_image_reads_as_one_frame(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(_pattern(5, 40, 64), cv2.COLOR_RGB2BGR))
    path = tmp_path / "photo.bin"
    path.write_bytes(buf.tobytes())
    assert sniff(path) == "image"
    assert count_frames(path, 25) == 1
    frames = list(iter_frames(path))
    assert len(frames) == 1 and np.array_equal(frames[0][1], _pattern(5, 40, 64))  # PNG is lossless


def test_writer_is_atomic_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(target, 25, 32, 32) as vw:
        vw.write(np.zeros((32, 32, 3), np.uint8))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="uint8"), VideoWriter(target, 25, 32, 32) as vw:
        vw.write(np.zeros((16, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
    # A finished file replaces an older one in one step.
    target.write_bytes(b"old")
    _write_clip(target, n=5, size=(32, 32))
    assert sniff(target) == "video" and count_frames(target) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_resample_to_lower_rate_and_downscale(tmp_path: Path) -> None:
    clip = _write_clip(tmp_path / "clip.mp4", n=50, fps=25, size=(96, 64))
    assert count_frames(clip, 10) == 20
    out = list(iter_frames(clip, fps=10, max_side=48))
    assert len(out) == 20
    assert frame_size(probe_video(clip), 48) == (48, 32)
    for i, rgb in out:
        assert rgb.shape == (32, 48, 3)
        src = math.ceil(i * 25 / 10 - 0.5)  # nearest source frame to t = i / 10; ties go to the earlier
        small = [cv2.resize(_pattern(j, 64, 96), (48, 32), interpolation=cv2.INTER_AREA) for j in range(50)]
        errors = [np.abs(rgb.astype(int) - ref.astype(int)).mean() for ref in small]
        assert int(np.argmin(errors)) == src, (i, src, int(np.argmin(errors)))


def test_vfr_clip_becomes_constant_rate(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    steps = rng.choice([20, 33, 50, 80], size=59)
    pts = [0, *np.cumsum(steps).tolist()]
    clip = tmp_path / "vfr.mkv"
    _write_raw_video(clip, pts, fmt="matroska", size=(96, 64), frame_fn=_pattern)
    assert sniff(clip) == "video"
    info = probe_video(clip)
    assert info.is_vfr
    assert info.fps == pytest.approx(60 / info.duration_s, rel=0.05)
    fps = 25
    total = count_frames(clip, fps)
    assert total == round(info.duration_s * fps)
    assert info.duration_s == pytest.approx(pts[-1] / 1000, abs=0.1)
    src_t = np.asarray(pts) / 1000
    n = 0
    for i, rgb in iter_frames(clip, fps=fps):
        assert i == n
        n += 1
        dist = np.abs(src_t - i / fps)
        errors = [np.abs(rgb.astype(int) - _pattern(j, 64, 96).astype(int)).mean() for j in range(len(pts))]
        shown = int(np.argmin(errors))
        assert dist[shown] <= dist.min() + 1e-6, (i, shown, int(np.argmin(dist)))
        assert errors[shown] < 3.0
    assert n == total


@pytest.mark.parametrize(("codec", "fmt", "name"), [
    ("libvpx-vp9", "webm", "clip.webm"), ("mpeg4", "avi", "clip.avi"), ("libx264", "mov", "clip.mov"),
    ("libx264", "mpegts", "clip.ts"), ("libx265", "mp4", "hevc.mp4"),  # HEVC: what phones record
])
def test_other_containers_and_codecs(tmp_path: Path, codec: str, fmt: str, name: str) -> None:
    path = tmp_path / name
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        if codec == "libx265":
            s.options = {"x265-params": "log-level=error"}
        for i in range(30):
            f = av.VideoFrame.from_ndarray(_pattern(i, 64, 96), format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    assert sniff(path) == "video"
    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.is_vfr) == (96, 64, 25.0, False)
    assert count_frames(path) == 30
    shown = [_identify(rgb, 30) for _, rgb in iter_frames(path)]
    assert shown == list(range(30))


def test_cfr_mkv_is_not_vfr(tmp_path: Path) -> None:
    # Matroska stores milliseconds: 30 fps becomes 33/34 ms steps, which is still constant rate.
    clip = tmp_path / "cfr.mkv"
    _write_raw_video(clip, [round(i * 1000 / 30) for i in range(45)], fmt="matroska")
    info = probe_video(clip)
    assert not info.is_vfr and default_fps(info.fps) == 30
    assert sum(1 for _ in iter_frames(clip)) == count_frames(clip) == 45


@pytest.mark.parametrize(("degrees", "corner"), [(90, "bottom-left"), (-90, "top-right"), (180, "bottom-right")])
def test_rotation_metadata_is_applied(tmp_path: Path, degrees: int, corner: str) -> None:
    clip = tmp_path / "rot.mp4"
    _write_raw_video(clip, [i * 40 for i in range(10)], rotation=degrees, size=(64, 32))
    info = probe_video(clip)
    assert info.rotation == degrees % 360
    expect_shape = (32, 64) if degrees == 180 else (64, 32)  # (height, width) as displayed
    assert (info.height, info.width) == expect_shape
    _, rgb = next(iter(iter_frames(clip)))
    assert rgb.shape[:2] == expect_shape
    ys, xs = np.nonzero(rgb[..., 0] > 200)
    h, w = expect_shape
    got = ("top" if ys.mean() < h / 2 else "bottom") + "-" + ("left" if xs.mean() < w / 2 else "right")
    # Counter-clockwise display rotation carries the stored top-left marker to this corner.
    assert got == corner
    assert frame_size(info, 32) == (16, 32) if degrees != 180 else (32, 16)
    _, small = next(iter(iter_frames(clip, max_side=32)))
    assert small.shape[:2] == (32, 16) if degrees != 180 else (16, 32)


# ---------------------------------------------------------------- audio


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_wav_subtypes_match_soundfile(tmp_path: Path, subtype: str) -> None:
    stereo = np.stack([_chirp(1.5, 22050), _sine(300, 1.5, 22050)], axis=1)
    path = tmp_path / f"speech_{subtype}.wav"
    sf.write(path, stereo, 22050, subtype=subtype)
    ref, sr = sf.read(path, dtype="float32", always_2d=True)
    native = load_audio(path, sr=sr, mono=False)
    assert native.shape == (2, len(ref))
    assert np.abs(native - ref.T).max() < 1e-6
    mono = load_audio(path, sr=sr)
    assert np.abs(mono - ref.mean(axis=1)).max() < 1e-6
    assert audio_duration(path) == pytest.approx(1.5, abs=1e-3)


def test_resampling_keeps_pitch_and_length(tmp_path: Path) -> None:
    path = tmp_path / "tone48k.wav"
    sf.write(path, _sine(1000, 2.0, 48000), 48000, subtype="PCM_24")
    got = load_audio(path, sr=SR)
    assert len(got) == 2 * SR
    spectrum = np.abs(np.fft.rfft(got * np.hanning(len(got))))
    peak_hz = np.argmax(spectrum) * SR / len(got)
    assert peak_hz == pytest.approx(1000, abs=2)
    assert float(np.sqrt(np.mean(got[1000:-1000] ** 2))) == pytest.approx(0.3 / np.sqrt(2), rel=0.02)


@pytest.mark.parametrize(("codec", "fmt", "name"), [
    ("libmp3lame", "mp3", "speech.mp3"),
    ("aac", "ipod", "speech.m4a"),
    ("flac", "flac", "speech.flac"),
    ("libopus", "ogg", "speech.ogg"),
    ("libmp3lame", "mp3", "mp3_data_named.wav"),  # names lie; content decides
])
def test_compressed_audio_formats(tmp_path: Path, codec: str, fmt: str, name: str) -> None:
    sr = 48000 if codec == "libopus" else 44100
    ref = _chirp(2.0, sr)
    path = tmp_path / name
    _write_audio_file(path, ref, sr, codec, fmt)
    assert sniff(path) == "audio"
    got = load_audio(path, sr=SR)
    ref16 = load_audio(_wav(tmp_path / "ref.wav", ref, sr), sr=SR)
    # Encoder delay and padding are removed (gapless info, edit lists, codec padding trim): same length,
    # no shift. Measured: 0 samples off and lag 0 for all of these.
    assert len(got) == pytest.approx(len(ref16), abs=0.005 * SR)
    lag, corr = _lag_and_corr(got, ref16, max_lag=1200)
    assert abs(lag) <= 2 and corr > 0.99, (lag, corr)
    assert audio_duration(path) == pytest.approx(2.0, abs=0.01)


def _wav(path: Path, samples: np.ndarray, sr: int) -> Path:
    write_wav(path, samples, sr)
    return path


def test_write_wav_is_exact_float32(tmp_path: Path) -> None:
    samples = np.random.default_rng(0).uniform(-1, 1, 12345).astype(np.float32)
    path = tmp_path / "out.wav"
    write_wav(path, samples, 22050)
    back, sr = sf.read(path, dtype="float32")
    assert sr == 22050 and sf.info(path).subtype == "FLOAT"
    assert np.array_equal(back, samples)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]
    stereo = np.stack([samples, -samples])
    write_wav(path, stereo, 8000)
    assert np.array_equal(load_audio(path, sr=8000, mono=False), stereo)


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    data = np.random.default_rng(1).bytes(3 * (1 << 20) + 17)  # spans several chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk_size=1000) == hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- sniffing and bad inputs


def test_sniff_images_by_content(tmp_path: Path) -> None:
    img = _pattern(3, 40, 60)
    for ext, name in [(".png", "photo.mp4"), (".jpg", "photo.wav"), (".webp", "photo.png"), (".bmp", "x")]:
        ok, buf = cv2.imencode(ext, img)
        assert ok
        (tmp_path / name).write_bytes(buf.tobytes())
        assert sniff(tmp_path / name) == "image", ext


def test_text_named_mp4_is_refused(tmp_path: Path) -> None:
    for name in ["notes.mp4", "notes.txt", "notes.wav"]:
        path = tmp_path / name
        path.write_text("this is not a video\n" * 40)
        for fn in (sniff, probe_video, load_audio, lambda p: list(iter_frames(p))):
            with pytest.raises(UserError, match="not a media file"):
                fn(path)


def test_garbage_and_empty_and_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        sniff(empty)
    with pytest.raises(UserError, match="empty"):
        load_audio(empty)
    garbage = tmp_path / "noise.mp4"
    garbage.write_bytes(np.random.default_rng(2).bytes(50_000))
    with pytest.raises(UserError, match="not a media file"):
        sniff(garbage)
    with pytest.raises(UserError, match="not found"):
        probe_video(tmp_path / "missing.mp4")
    with pytest.raises(UserError, match="not a file"):
        sniff(tmp_path)


def test_truncated_mp4_without_index_is_refused(tmp_path: Path) -> None:
    clip = tmp_path / "full.mp4"
    # moov at the end (the encoder default): the first half has no index at all.
    _write_raw_video(clip, [i * 40 for i in range(60)], size=(64, 64))
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    for fn in (sniff, probe_video, lambda p: count_frames(p, 25), lambda p: list(iter_frames(p))):
        with pytest.raises(UserError, match="truncated"):
            fn(cut)


def test_truncated_faststart_mp4_yields_what_is_there(tmp_path: Path) -> None:
    clip = tmp_path / "full.mp4"
    noise = np.random.default_rng(3).integers(0, 256, (100, 64, 64, 3), dtype=np.uint8)
    # Noise keeps every frame large, so half the file holds many whole frames behind the index.
    _write_raw_video(clip, [i * 40 for i in range(100)], size=(64, 64), faststart=True,
                     frame_fn=lambda i, h, w: noise[i])
    full = count_frames(clip, 25)
    assert full == 100
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert sniff(cut) == "video"
    info = probe_video(cut)
    t = count_frames(cut, 25)
    assert 10 < t < full and info.frame_count == t  # the header's 4 s are not trusted
    assert sum(1 for _ in iter_frames(cut, fps=25)) == t


def test_audio_only_where_video_needed(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "speech.mp4", _chirp(1.0, SR), SR)  # wav data under a video name
    assert sniff(wav) == "audio"
    for fn in (probe_video, lambda p: count_frames(p, 25), lambda p: list(iter_frames(p))):
        with pytest.raises(UserError, match="audio only"):
            fn(wav)


def test_image_or_silent_clip_given_as_audio(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".png", _pattern(0, 32, 32))
    image = tmp_path / "speech.wav"
    image.write_bytes(buf.tobytes())
    with pytest.raises(UserError, match="image"):
        load_audio(image)
    with pytest.raises(UserError, match="image"):
        audio_duration(image)
    silent = _write_clip(tmp_path / "silent.mp4", n=10, size=(32, 32))
    assert not probe_video(silent).has_audio
    with pytest.raises(UserError, match="video without a sound track"):
        load_audio(silent)


# ---------------------------------------------------------------- real clips


REAL_VIDEO = {
    # name: (width, height, fps, has_audio, approx duration s), from shared/data/README.md
    "vlog_woman_24s_720p.mp4": (1280, 720, 25, True, 24.3),
    "address_man_10s_512.mp4": (512, 512, 25, True, 10.0),
    "hdtf_woman_8s_512.mp4": (512, 512, 25, True, 8.06),
    "interview_yaw_14s_224.mp4": (224, 224, 25, True, 13.9),
    "small_face_7s_1080p.mp4": (1920, 1080, 30, True, 7.45),
    "lecture_man_25s_256_silent.mp4": (256, 256, 30, False, 25.0),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(REAL_VIDEO))
def test_probe_real_clips(shared_data: Path, name: str) -> None:
    path = shared_data / "video" / name
    width, height, fps, has_audio, seconds = REAL_VIDEO[name]
    assert sniff(path) == "video"
    info = probe_video(path)
    assert (info.width, info.height, info.has_audio, info.rotation) == (width, height, has_audio, 0)
    assert info.fps == pytest.approx(fps) and default_fps(info.fps) == fps and not info.is_vfr
    assert info.duration_s == pytest.approx(seconds, abs=0.1)
    assert count_frames(path) == round(info.duration_s * fps)
    if has_audio:
        assert load_audio(path).shape[0] / SR == pytest.approx(info.duration_s, abs=0.15)
    else:
        with pytest.raises(UserError, match="no audio"):
            load_audio(path)


@pytest.mark.realdata
def test_real_clip_frame_count_is_exact(shared_data: Path) -> None:
    path = shared_data / "video" / "interview_yaw_14s_224.mp4"
    for fps in (None, 30, 12.5):
        expected = count_frames(path, fps)
        assert sum(1 for _ in iter_frames(path, fps=fps, max_side=112)) == expected


@pytest.mark.realdata
@pytest.mark.parametrize("name", [
    "english_radio_8s.wav", "english_11s.wav", "german_9s_48k_24bit.wav", "very_quiet_4s.wav",
    "float32_11s.wav", "wav_data_named_mp3.mp3",
])
def test_load_real_audio(shared_data: Path, name: str) -> None:
    path = shared_data / "audio" / name
    assert sniff(path) == "audio"
    ref, sr = sf.read(path, dtype="float32", always_2d=True)  # soundfile reads the wav inside the .mp3
    got = load_audio(path, sr=SR)
    assert got.dtype == np.float32 and got.ndim == 1
    assert len(got) == round(len(ref) * SR / sr)
    assert audio_duration(path) == pytest.approx(len(ref) / sr, abs=1e-3)
    native = load_audio(path, sr=sr, mono=False)
    assert native.shape == (ref.shape[1], len(ref))
    assert np.abs(native - ref.T).max() < 1e-6
    # Resampled speech keeps its loudness (a broken resampler or channel mix changes it).
    rms_ref = float(np.sqrt(np.mean(ref.mean(axis=1) ** 2)))
    assert float(np.sqrt(np.mean(got**2))) == pytest.approx(rms_ref, rel=0.05)


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.realdata
def test_1080p_decode_streams_in_bounded_memory(shared_data: Path) -> None:
    path = shared_data / "video" / "small_face_7s_1080p.mp4"
    start = _rss_bytes()
    peak = start
    n = 0
    checksum = 0
    for i, rgb in iter_frames(path):
        assert rgb.shape == (1080, 1920, 3)
        checksum += int(rgb[540, 960, 1])
        n = i + 1
        if i % 10 == 0:
            peak = max(peak, _rss_bytes())
    assert n == count_frames(path) == 223
    assert checksum > 0
    # All 223 frames would be 1.4 GB; streaming holds a few, plus the decoder's own buffers.
    assert peak - start < 300 * 2**20, f"RSS grew by {(peak - start) / 2**20:.0f} MiB"
