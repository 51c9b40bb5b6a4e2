"""The person's head-pose style as a generative model, sampled under new speech.

Regressing pose from ~10 s of audio collapses to the mean (design.md 5b), so instead we learn how this
person's head moves and draw new motion with the same statistics:

- principal axes of the 6-D pose (rotation + translation) over the clip, and each axis's std;
- each axis's power spectrum (Welch, on a frequency grid in Hz so any output fps works): the spectrum
  fixes both the speed of the motion and its smoothness, so the sampled jerk matches the person's;
- speech modulation: the person moves more while speaking than in pauses (ratio measured on the clip),
  and an audio without any speech gives a still head.

Sampling = white noise shaped by each axis's spectrum (FFT filtering), scaled to the person's std,
rotated back to pose space, multiplied by the speech envelope, plus the person's mean pose.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

PAUSE_FLOOR = 0.5  # motion amplitude in pauses relative to speech, when the clip cannot tell us


@dataclass
class PoseStyle:
    mean: list[float]  # [6]
    axes: list[list[float]]  # [6, 6] rows: principal directions
    std: list[float]  # [6] std along each principal direction
    freqs: list[float]  # [F] Hz
    amplitude: list[list[float]]  # [6, F] sqrt(PSD), normalised to unit variance
    pause_floor: float  # amplitude in pauses / amplitude in speech
    fps: float
    jerk: float  # mean |third difference| per frame^3 of the unit-std components, at `fps`

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PoseStyle:
        return cls(**d)


def fit_pose_style(pose: np.ndarray, fps: float, activity: np.ndarray | None = None) -> PoseStyle:
    """Fit the style from a clip's [T, 6] pose track (smoothed, as written by analyze)."""
    pose = np.asarray(pose, np.float64)
    mean = pose.mean(axis=0)
    centred = pose - mean
    cov = np.cov(centred.T) if len(pose) > 1 else np.zeros((6, 6))
    evals, evecs = np.linalg.eigh(cov)
    axes = evecs.T[::-1]  # largest first
    comps = centred @ axes.T
    std = comps.std(axis=0)
    nper = int(min(128, max(8, len(pose) // 2)))
    from scipy.signal import welch  # here, not at the top: `animate` never needs scipy.signal (0.4 s)

    freqs, psd = welch(comps, fs=fps, nperseg=nper, axis=0, detrend="constant", window="hann")
    psd = np.maximum(psd.T, 0.0)  # [6, F]
    # normalise each spectrum to unit variance (integral over frequency)
    df = freqs[1] - freqs[0] if len(freqs) > 1 else 1.0
    area = psd.sum(axis=1, keepdims=True) * df
    amp = np.sqrt(np.where(area > 0, psd / np.maximum(area, 1e-30), 0.0))
    floor = PAUSE_FLOOR
    if activity is not None and len(activity) == len(pose) and len(pose) > 10:
        speed = np.linalg.norm(np.diff(comps / np.maximum(std, 1e-9), axis=0), axis=1)
        speaking = np.asarray(activity[1:]) > 0.5
        if speaking.mean() > 0.15 and (~speaking).mean() > 0.15:
            ratio = speed[~speaking].mean() / max(speed[speaking].mean(), 1e-9)
            floor = float(np.clip(ratio, 0.3, 1.0))
    return PoseStyle(mean=mean.tolist(), axes=axes.tolist(), std=std.tolist(), freqs=freqs.tolist(),
                     amplitude=amp.tolist(), pause_floor=floor, fps=float(fps),
                     jerk=_unit_jerk(comps[:, std > 0] / std[std > 0]))


def _unit_jerk(x: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(x, n=3, axis=0)))) if len(x) > 3 and x.size else 0.0


def speech_envelope(activity: np.ndarray, fps: float, floor: float) -> np.ndarray:
    """[T] motion amplitude: 1 while speaking, `floor` in pauses, smoothed over ~0.5 s; 0 for no speech."""
    activity = np.asarray(activity, np.float64)
    if activity.size == 0 or activity.max() <= 0:
        return np.zeros_like(activity)
    speaking = gaussian_filter1d(np.clip(activity * 2.0, 0, 1), sigma=0.25 * fps, mode="nearest")
    return floor + (1.0 - floor) * np.clip(speaking, 0, 1)


def sample_pose(style: PoseStyle, n_frames: int, fps: float, activity: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """[T, 6] new head motion in the person's style, modulated by the driving audio's speech activity."""
    std = np.asarray(style.std)
    axes = np.asarray(style.axes)
    mean = np.asarray(style.mean)
    pad = max(64, int(2 * fps))  # generate extra and crop: avoids the FFT's circular wrap-around
    n = n_frames + 2 * pad
    freqs = np.fft.rfftfreq(n, d=1.0 / fps)
    src_f = np.asarray(style.freqs)
    comps = np.zeros((n_frames, 6))
    for k in range(6):
        if std[k] <= 0 or len(src_f) < 2:
            continue
        amp = np.interp(freqs, src_f, np.asarray(style.amplitude[k]), right=0.0)
        x = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * amp, n)[pad: pad + n_frames]
        if n_frames >= 4 * fps:  # long output: exactly the person's std (the std is part of the style)
            x = (x - x.mean()) / max(x.std(), 1e-12)
        else:  # short output: expected unit variance, so a 0.2 s clip does not get a full-size swing
            x = x / max(_filtered_std(amp, n), 1e-12)
        comps[:, k] = x * std[k]
    env = speech_envelope(activity, fps, style.pause_floor)
    return _limit_jerk(comps, std, style.jerk * (style.fps / fps) ** 3) * env[:, None] @ axes + mean


def _limit_jerk(comps: np.ndarray, std: np.ndarray, target: float) -> np.ndarray:
    """Smooth the sample (keeping its std) until it is no jerkier than the person's clip.

    A spectrum estimated from ~10 s leaks a little high-frequency power (window side lobes), which shows
    up as jerk; this guard keeps sampled motion as smooth as the person's own."""
    live = std > 0
    if target <= 0 or not live.any() or len(comps) < 8:
        return comps
    unit = comps[:, live] / std[live]
    out, sigma = unit, 0.0
    while _unit_jerk(out) > target and sigma < 8.0:
        sigma += 0.5
        out = gaussian_filter1d(unit, sigma, axis=0, mode="nearest")
        out = out * (unit.std(axis=0) / np.maximum(out.std(axis=0), 1e-12))
    result = comps.copy()
    result[:, live] = out * std[live]
    return result


def _filtered_std(amp: np.ndarray, n: int) -> float:
    """Expected std of irfft(rfft(white noise) * amp) of length n (Parseval over the two-sided spectrum)."""
    two_sided = amp[0] ** 2 + 2 * np.sum(amp[1:] ** 2) - (amp[-1] ** 2 if n % 2 == 0 else 0.0)
    return float(np.sqrt(two_sided / n))
