"""Speech features for the audio->motion model: loudness-normalised 16 kHz mono audio, MFCCs at 100 Hz,
and a 280 ms feature window around every output video frame, for any fps and any length.

Alignment rule (docs/motion.md): output frame i shows time t_i = i / fps; MFCC frame j is centred on
j / 100 s; the window of frame i is the `WINDOW` MFCC frames centred on round(100 * t_i). Audio beyond the
ends counts as silence (the waveform is zero-padded), so the first and last frames see real context.

Everything here is chunked: MFCCs are computed over bounded pieces of the waveform with enough overlap that
the result equals the whole-signal computation, and windows are cut per block of frames (`iter_windows`),
so a long recording never needs [T, W, F] in memory at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from backend.motion.clock import FEATURE_RATE, HOP, SR

if TYPE_CHECKING:
    from backend.motion.phonetics import PhoneticDecode

N_FFT = 512
WIN = 400  # 25 ms analysis window
N_MELS = 40
N_MFCC = 13
FEATURE_DIM = 3 * N_MFCC  # MFCC + delta + delta-delta
WINDOW = 28  # 280 ms of MFCC frames around each video frame (the paper's window)
TARGET_DBFS = -20.0  # speech level after normalisation
MAX_GAIN_DB = 45.0  # never lift noise more than this
SILENCE_DBFS = -70.0  # frames below this are treated as silence whatever the recording
LOG_FLOOR = 1e-6  # fixed floor so features never depend on a chunk's own maximum
CHUNK_S = 60.0  # MFCC chunk length; memory stays bounded for any duration
_MARGIN = 32  # MFCC frames of overlap per chunk side (covers the STFT and delta support)


def load_speech(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode any audio (or a video's audio stream) to 16 kHz mono float32 via backend.media (sniffs content)."""
    from backend.media import load_audio

    return np.asarray(load_audio(Path(path), sr=SR, mono=True), dtype=np.float32)


def frame_levels_db(samples: np.ndarray, hop: int = HOP) -> np.ndarray:
    """RMS level per `hop`-sample frame in dBFS (digital silence -> -120)."""
    n = max(1, int(np.ceil(len(samples) / hop)))
    padded = np.zeros(n * hop, dtype=np.float64)
    padded[: len(samples)] = samples
    power = (padded.reshape(n, hop) ** 2).mean(axis=1)
    return 10.0 * np.log10(np.maximum(power, 1e-12))


def normalize_loudness(samples: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale speech to TARGET_DBFS measured over its active frames; return (samples, gain in dB).

    Recordings with nothing above SILENCE_DBFS are left alone (no gain), so silence stays silence and a
    quiet recording is lifted at most MAX_GAIN_DB. A peak limit keeps the result inside [-1, 1].
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0:
        return samples, 0.0
    db = frame_levels_db(samples)
    active = db[db > max(SILENCE_DBFS, db.max() - 40.0)]
    if active.size == 0 or db.max() <= SILENCE_DBFS:
        return samples, 0.0
    level = 10.0 * np.log10(np.mean(10.0 ** (active / 10.0)))
    gain_db = float(np.clip(TARGET_DBFS - level, -40.0, MAX_GAIN_DB))
    out = samples * np.float32(10.0 ** (gain_db / 20.0))
    peak = float(np.abs(out).max())
    if peak > 0.99:
        out *= np.float32(0.99 / peak)
        gain_db += 20.0 * np.log10(0.99 / peak)
    return out, gain_db


def voice_activity(samples: np.ndarray) -> np.ndarray:
    """[N] bool per 10 ms frame: speech-like energy, i.e. clearly above the recording's noise floor.

    The threshold sits a quarter of the way from the noise floor (10th percentile level) to the loud
    speech level (95th percentile), at least 6 dB above the floor: noisy recordings (floor -35 dBFS) keep
    their quieter syllables, clean ones do not count breaths. Nothing under SILENCE_DBFS + 20 is speech.
    """
    db = frame_levels_db(samples)
    floor, loud = np.percentile(db, 10), np.percentile(db, 95)
    threshold = floor + max(6.0, 0.25 * (loud - floor))
    return db > max(SILENCE_DBFS + 20.0, threshold)


_MEL: dict[float, np.ndarray] = {}
VTLP_BOUNDARY_HZ = 4800.0  # vocal-tract-length warps are linear below this, then meet at the Nyquist frequency
VTLP_WARPS = (0.9, 0.95, 1.05, 1.1)  # the general model's warped member draws one of these or none per crop


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, np.float64)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, f / (200.0 / 3))


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def warp_frequency(f: np.ndarray, alpha: float) -> np.ndarray:
    """Vocal-tract-length perturbation (Jaitly & Hinton 2013): f -> alpha * f up to a boundary, then a line
    to the Nyquist frequency, so the warped axis still covers 0..SR/2 (alpha 1 is the identity)."""
    f = np.asarray(f, np.float64)
    nyq = SR / 2
    knee = VTLP_BOUNDARY_HZ * min(alpha, 1.0) / alpha
    upper = nyq - (nyq - VTLP_BOUNDARY_HZ * min(alpha, 1.0)) / (nyq - knee) * (nyq - f)
    return np.where(f <= knee, f * alpha, upper)


def _mel_filters(warp: float = 1.0) -> np.ndarray:
    """[N_MELS, N_FFT//2+1] Slaney-normalised triangular mel filters, equal to librosa.filters.mel (tested);
    computed here because importing librosa's filters costs seconds on first use. `warp` != 1 moves the
    filters' edges by `warp_frequency` (a different vocal-tract length; training augmentation only)."""
    if warp not in _MEL:
        fft_freqs = np.linspace(0, SR / 2, N_FFT // 2 + 1)
        edges = _mel_to_hz(np.linspace(_hz_to_mel(20.0), _hz_to_mel(7600.0), N_MELS + 2))
        if warp != 1.0:
            edges = warp_frequency(edges, warp)
        ramps = edges[:, None] - fft_freqs[None, :]
        fdiff = np.diff(edges)
        lower = -ramps[:-2] / fdiff[:-1, None]
        upper = ramps[2:] / fdiff[1:, None]
        weights = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
        _MEL[warp] = weights.astype(np.float32)
    return _MEL[warp]


def _mel_power(ctx: np.ndarray, warp: float = 1.0) -> np.ndarray:
    """[N_MELS, frames] mel power of a pre-padded signal, frame j = ctx[j*HOP : j*HOP + N_FFT].

    Same numbers as librosa.feature.melspectrogram(center=False) (a test checks it), in plain numpy:
    librosa's first STFT call costs ~2.4 s of lazy imports and JIT loading, more than animating a minute.
    """
    n = 1 + (len(ctx) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(ctx, shape=(n, N_FFT), strides=(ctx.strides[0] * HOP, ctx.strides[0]))
    window = np.zeros(N_FFT, np.float32)
    off = (N_FFT - WIN) // 2
    window[off: off + WIN] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)  # periodic Hann
    spec = np.fft.rfft(frames * window, axis=1)
    return _mel_filters(warp) @ (spec.real ** 2 + spec.imag ** 2).T.astype(np.float32)


def _deltas(x: np.ndarray, order: int, width: int = 9) -> np.ndarray:
    """Savitzky-Golay derivative along time with edge-value padding (librosa.feature.delta, mode='nearest').

    Same numbers as scipy.signal.savgol_filter(x, width, order, deriv=order, mode='nearest'), without
    importing scipy.signal (0.4 s of `animate`'s start-up)."""
    half = width // 2
    positions = np.arange(-half, half + 1, dtype=np.float64)
    # least-squares polynomial fit of degree `order`: row `order` of the pseudo-inverse gives the
    # coefficient of t**order; times order! it is the order-th derivative at the window's centre
    coeffs = np.linalg.pinv(np.vander(positions, order + 1, increasing=True))[order] * float(np.prod(
        np.arange(1, order + 1)))
    padded = np.concatenate([np.repeat(x[..., :1], half, axis=-1), x, np.repeat(x[..., -1:], half, axis=-1)],
                            axis=-1)
    out = np.zeros(x.shape, dtype=np.float64)
    for k, c in enumerate(coeffs):
        out += c * padded[..., k: k + x.shape[-1]]
    return out.astype(x.dtype)


def _mfcc_padded(ctx: np.ndarray, warp: float = 1.0) -> np.ndarray:
    """MFCC+deltas of a signal already padded by N_FFT//2 samples on both sides (frame j at ctx[j*HOP])."""
    from scipy.fft import dct

    static = dct(np.log(_mel_power(ctx, warp) + LOG_FLOOR), type=2, axis=0, norm="ortho")[:N_MFCC]
    return np.concatenate([static, _deltas(static, 1), _deltas(static, 2)], axis=0).T.astype(np.float32)


def mfcc(samples: np.ndarray, chunk_s: float = CHUNK_S, warp: float = 1.0) -> np.ndarray:
    """[len//HOP + 1, FEATURE_DIM] MFCC+deltas at 100 Hz, frame j centred on sample j*HOP (zeros outside).

    Computed in chunks of `chunk_s` seconds with _MARGIN frames of overlap on each side, which makes the
    result equal (to float rounding) to one whole-signal pass while bounding the working memory.
    """
    samples = np.asarray(samples, dtype=np.float32)
    n_frames = len(samples) // HOP + 1
    chunk = max(int(chunk_s * FEATURE_RATE), 4 * _MARGIN)
    out = np.empty((n_frames, FEATURE_DIM), dtype=np.float32)
    for start in range(0, n_frames, chunk):
        stop = min(start + chunk, n_frames)
        lo, hi = max(0, start - _MARGIN), min(n_frames, stop + _MARGIN)
        a, b = lo * HOP - N_FFT // 2, (hi - 1) * HOP + N_FFT // 2 + 1
        ctx = np.zeros(b - a, dtype=np.float32)  # zeros beyond the signal = librosa's constant centring
        s0, s1 = max(a, 0), min(b, len(samples))
        if s1 > s0:
            ctx[s0 - a: s1 - a] = samples[s0:s1]
        out[start:stop] = _mfcc_padded(ctx, warp)[start - lo: stop - lo]
    return out


def frame_count(duration_s: float, fps: float) -> int:
    """Output frames that cover `duration_s` seconds at `fps` (at least one)."""
    return max(1, int(round(duration_s * fps)))


def frame_centres(n_frames: int, fps: float) -> np.ndarray:
    """[T] MFCC frame index nearest to each output frame's time i / fps."""
    return np.round(np.arange(n_frames) * (FEATURE_RATE / fps)).astype(np.int64)


@dataclass
class SpeechFeatures:
    """Per-recording features, ready to be windowed for any fps."""

    mfcc: np.ndarray  # [N, FEATURE_DIM] at 100 Hz, cepstral-mean normalised over speech frames
    activity: np.ndarray  # [N] bool voice activity at 100 Hz
    duration_s: float
    gain_db: float
    silence_row: np.ndarray  # the feature vector of digital silence (after the same normalisation)
    phonetic: np.ndarray | None = None  # [N, phonetics.DIM] articulatory values, appended after the MFCCs
    formants: np.ndarray | None = None  # [N, formants.DIM] normalised formants, after the phonetic columns

    @property
    def dim(self) -> int:
        from backend.motion import formants, phonetics

        if self.formants is not None:
            return FEATURE_DIM + phonetics.DIM + formants.DIM
        return self.mfcc.shape[1] + (0 if self.phonetic is None else self.phonetic.shape[1])

    def windows(self, n_frames: int, fps: float, start: int = 0, stop: int | None = None) -> np.ndarray:
        """[stop-start, WINDOW, dim] windows for output frames start..stop (silence outside audio). Columns:
        MFCCs, phonetic values, formants; with formants but no phonetic values the phonetic columns are NaN,
        which a model reads as blank (MotionNet.embed_windows)."""
        stop = n_frames if stop is None else stop
        centres = frame_centres(n_frames, fps)[start:stop]
        idx = centres[:, None] + np.arange(-(WINDOW // 2), WINDOW - WINDOW // 2)[None, :]
        out = np.empty(idx.shape + (self.dim,), dtype=np.float32)
        inside = (idx >= 0) & (idx < len(self.mfcc))
        out[inside, :FEATURE_DIM] = self.mfcc[idx[inside]]
        out[~inside, :FEATURE_DIM] = self.silence_row
        if self.phonetic is not None:
            from backend.motion.phonetics import SILENCE_ROW

            p = slice(FEATURE_DIM, FEATURE_DIM + self.phonetic.shape[1])
            out[inside, p] = self.phonetic[idx[inside]]
            out[~inside, p] = SILENCE_ROW
        if self.formants is not None:
            from backend.motion import formants

            f = slice(self.dim - formants.DIM, self.dim)
            if self.phonetic is None:
                out[..., FEATURE_DIM:f.start] = np.nan
            out[inside, f] = self.formants[idx[inside]]
            out[~inside, f] = formants.SILENCE_ROW
        return out

    def iter_windows(self, n_frames: int, fps: float, block: int = 2048) -> Iterator[np.ndarray]:
        """Windows in blocks of `block` frames: bounded memory for any length."""
        for start in range(0, n_frames, block):
            yield self.windows(n_frames, fps, start, min(n_frames, start + block))

    def frame_activity(self, n_frames: int, fps: float) -> np.ndarray:
        """[T] fraction of speech-active 10 ms frames within +-70 ms of each output frame's time."""
        centres = frame_centres(n_frames, fps)
        idx = centres[:, None] + np.arange(-(WINDOW // 4), WINDOW // 4 + 1)[None, :]
        inside = (idx >= 0) & (idx < len(self.activity))
        act = np.where(inside, self.activity[np.clip(idx, 0, len(self.activity) - 1)], False)
        return act.mean(axis=1).astype(np.float32)


_SILENCE: dict[float, np.ndarray] = {}


def _silence_features(warp: float = 1.0) -> np.ndarray:
    if warp not in _SILENCE:
        _SILENCE[warp] = _mfcc_padded(np.zeros(N_FFT + 8 * HOP, np.float32), warp)[4]
    return _SILENCE[warp].copy()


def start_phonetics(samples: np.ndarray) -> PhoneticDecode:
    """Start decoding the phones of 16 kHz mono speech in the background (worker processes); pass the
    result to `speech_features(..., phonetic=True, decode=...)` for the same samples."""
    from backend.motion.phonetics import PhoneticDecode

    return PhoneticDecode(normalize_loudness(np.asarray(samples, dtype=np.float32))[0], background=True)


def speech_features(samples: np.ndarray, sr: int = SR, phonetic: bool = False,
                    decode: PhoneticDecode | None = None, warp: float = 1.0,
                    formants: bool = False) -> SpeechFeatures:
    """Loudness-normalise and featurise 16 kHz mono speech (with `phonetic`, add backend.motion.phonetics' values,
    from `decode` when `start_phonetics` already started them; with `formants`, backend.motion.formants' values).

    Cepstral mean normalisation (the mean static MFCC over speech-active frames is subtracted) removes
    the recording channel (microphone, room), which is what lets a model trained on the target clip's audio
    run on a different recording. With under 0.5 s of speech the mean is not subtracted (too few frames to
    estimate it; the loudness normalisation already fixes c0).
    """
    if sr != SR:
        raise ValueError(f"speech_features expects {SR} Hz audio, got {sr}")
    samples = np.asarray(samples, dtype=np.float32)
    samples, gain_db = normalize_loudness(samples)
    feats = mfcc(samples, warp=warp)
    act = voice_activity(samples)
    act = np.concatenate([act, np.zeros(max(0, len(feats) - len(act)), bool)])[: len(feats)]
    offset = np.zeros(FEATURE_DIM, np.float32)
    if act.sum() >= 50:
        offset[:N_MFCC] = feats[act, :N_MFCC].mean(axis=0)
        offset[0] = 0.0  # c0 carries loudness, already normalised: keep it absolute so silence stays silent
    feats -= offset
    phones = None
    if phonetic:
        from backend.motion.phonetics import PhoneticDecode, silence_away_from_speech

        phones = silence_away_from_speech((decode or PhoneticDecode(samples)).rows(len(feats)), act)
    formant_values = None
    if formants:
        from backend.motion.formants import formant_rows

        formant_values = formant_rows(samples, len(feats))
    return SpeechFeatures(mfcc=feats, activity=act, duration_s=len(samples) / SR, gain_db=gain_db,
                          silence_row=_silence_features(warp) - offset, phonetic=phones, formants=formant_values)
