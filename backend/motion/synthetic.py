"""Synthetic speech-like audio and a profile whose face motion is a known function of it.

Used by the default test tier and benchmarks, where no real clip may be assumed. The audio is a train of
"syllables" (a glottal pulse train through two vowel formants, with a loudness envelope) separated by
short pauses; the jaw opening follows the syllable envelope with a small lag, scaled by how open the
vowel is, so a model that hears the audio can predict the mouth and one that does not cannot.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import lfilter

from backend.core.atomic import atomic_dir
from backend.face.model import load_template
from backend.motion.mouth import MouthModel

SR = 16000
VOWELS = ((730, 1090, 1.0), (270, 2290, 0.25), (530, 1840, 0.6), (300, 870, 0.3), (660, 1720, 0.8))


def _resonator(x: np.ndarray, freq: float, bw: float) -> np.ndarray:
    r = np.exp(-np.pi * bw / SR)
    a = [1.0, -2 * r * np.cos(2 * np.pi * freq / SR), r * r]
    return lfilter([1.0 - r], a, x)


def speech_like(duration_s: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(samples [N] float32 at 16 kHz, openness [N] in [0,1]: how open the jaw should be at each sample)."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * SR)
    out = np.zeros(n)
    openness = np.zeros(n)
    t = int(0.3 * SR)
    while t < n:
        dur = int(rng.uniform(0.09, 0.28) * SR)
        f1, f2, open_ = VOWELS[rng.integers(len(VOWELS))]
        f0 = rng.uniform(100, 210)
        seg = np.arange(min(dur, n - t))
        phase = np.cumsum(np.full(seg.size, f0 * (1 + 0.05 * rng.standard_normal()) / SR))
        pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
        voiced = _resonator(_resonator(pulses, f1, 90), f2, 120) + 0.02 * rng.standard_normal(seg.size)
        env = np.sin(np.pi * seg / max(seg.size, 1)) ** 0.7
        loud = rng.uniform(0.4, 1.0)
        out[t:t + seg.size] += loud * env * voiced / (np.abs(voiced).max() + 1e-9)
        openness[t:t + seg.size] = np.maximum(openness[t:t + seg.size], env * open_)
        gap = rng.uniform(0.02, 0.12) if rng.random() < 0.8 else rng.uniform(0.3, 0.7)
        t += seg.size + int(gap * SR)
    out += 0.001 * rng.standard_normal(n)
    return (0.3 * out / (np.abs(out).max() + 1e-9)).astype(np.float32), openness


def jaw_direction(mouth: MouthModel) -> np.ndarray:
    """[K] unit coefficient direction that opens the inner lips fastest from the neutral face."""
    k = mouth.basis.shape[0]
    eps = 1e-3
    base = mouth.opening(np.zeros((1, k)))[0]
    grad = np.array([mouth.opening(np.eye(k)[i:i + 1] * eps)[0] - base for i in range(k)]) / eps
    return grad / np.linalg.norm(grad)


def write_profile(out: str | Path, duration_s: float = 12.0, fps: float = 25.0, seed: int = 0,
                  lag_s: float = 0.04) -> Path:
    """A complete synthetic profile directory (docs/formats.md subset the motion stage reads)."""
    from backend.media import write_wav

    rng = np.random.default_rng(seed + 1)
    samples, openness = speech_like(duration_s, seed)
    face = load_template()
    n = int(round(duration_s * fps))
    t_idx = np.clip(((np.arange(n) / fps - lag_s) * SR).astype(int), 0, len(openness) - 1)
    smooth = gaussian_filter1d(openness, sigma=0.02 * SR)
    jaw = smooth[t_idx]
    jaw = (jaw - jaw.mean()) / (jaw.std() + 1e-9)
    with atomic_dir(out) as tmp:
        face.save(tmp / "face_model.npz")
        mouth = MouthModel.load(tmp / "face_model.npz")
        k = face.n_expr
        expr = jaw[:, None] * jaw_direction(mouth)[None] * 1.5
        expr += 0.3 * gaussian_filter1d(rng.standard_normal((n, k)), sigma=3, axis=0)  # audio-unrelated motion
        pose = gaussian_filter1d(rng.standard_normal((n, 6)), sigma=8, axis=0) * np.array(
            [0.6, 0.9, 0.3, 0.05, 0.05, 0.05]) + np.array([0, 0, 0, 0, 0, -0.6])
        np.savez(tmp / "fit.npz", expression=expr.astype(np.float32), pose=pose.astype(np.float32),
                 expression_raw=expr.astype(np.float32), pose_raw=pose.astype(np.float32),
                 valid=np.ones(n, bool))
        write_wav(tmp / "audio.wav", samples, SR)
        manifest = {"format": "talking-head-profile", "version": 1, "profile_id": f"synthetic{seed:04d}",
                    "cache_key": f"synthetic-{seed}", "source": {"clip_name": "synthetic", "audio_source": "file"},
                    "fps": fps, "frame_count": n, "width": 256, "height": 256, "face_model": face.model_id,
                    "basis_names": face.basis_names, "software_version": "synthetic"}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return Path(out)
