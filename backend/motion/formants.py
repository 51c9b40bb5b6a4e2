"""Formant features: the first three vocal-tract resonances every 10 ms, normalised per recording.

F1 rises as the jaw opens and F2 moves with the tongue and the lips' rounding, so the formants carry most
of what the lips show in a vowel. Their absolute values depend on the speaker's vocal-tract length (a
child's F1 is far above a man's); z-scoring the log formants over the recording's own voiced frames
(Lobanov normalisation) removes that, which MFCCs cannot do for a voice the model never heard.

Praat's Burg tracker (through parselmouth) gives the formants, Praat's pitch tracker the voicing; frames
are on the MFCC grid (frame j at j / 100 s). Unvoiced frames, where the formants mean little, read 0 in the
formant columns (their voiced mean) and 0 in the voicing column.
"""

from __future__ import annotations

import numpy as np

from backend.motion.clock import FEATURE_RATE, SR

COLUMNS = ("log_f1", "log_f2", "log_f3", "voiced")
DIM = len(COLUMNS)
SILENCE_ROW = np.zeros(DIM, np.float32)  # mean formants, unvoiced
MAX_FORMANT_HZ = 5500.0  # Praat's recommendation for a voice of unknown sex (5000 for a man)
MIN_VOICED = 50  # 0.5 s of voicing to estimate a speaker's own formant statistics
# rough adult log-formant mean and spread (round numbers of the order of Peterson & Barney's 1952 vowel means,
# not fitted to data), used only when a recording has too little voicing for its own statistics
POPULATION_MEAN = np.log(np.array([530.0, 1650.0, 2600.0]))
POPULATION_STD = np.array([0.35, 0.30, 0.12])


def formant_rows(samples: np.ndarray, n_frames: int) -> np.ndarray:
    """[n_frames, DIM] formant values of 16 kHz mono speech on the 100 Hz MFCC grid."""
    import parselmouth

    out = np.tile(SILENCE_ROW, (n_frames, 1))
    samples = np.asarray(samples, np.float64)
    if len(samples) < SR // 10 or not np.any(samples):
        return out
    sound = parselmouth.Sound(samples, sampling_frequency=SR)
    formant = sound.to_formant_burg(time_step=1.0 / FEATURE_RATE, max_number_of_formants=5,
                                    maximum_formant=MAX_FORMANT_HZ, window_length=0.025)
    pitch = sound.to_pitch(time_step=1.0 / FEATURE_RATE)
    times = np.arange(n_frames) / FEATURE_RATE
    f = np.array([[formant.get_value_at_time(k, t) for k in (1, 2, 3)] for t in times], np.float64)
    voiced = np.array([np.isfinite(pitch.get_value_at_time(t)) for t in times]) & np.isfinite(f).all(axis=1)
    log_f = np.log(np.where(voiced[:, None], f, 1.0))
    if voiced.sum() >= MIN_VOICED:
        mean, std = log_f[voiced].mean(axis=0), np.maximum(log_f[voiced].std(axis=0), 1e-3)
    else:
        mean, std = POPULATION_MEAN, POPULATION_STD
    out[voiced, :3] = np.clip((log_f[voiced] - mean) / std, -4.0, 4.0)
    out[voiced, 3] = 1.0
    return out
