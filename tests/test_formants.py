"""Formant columns of the motion features (backend/motion/formants.py): tracked, speaker-normalised, and
read only by the networks that were trained with them."""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import lfilter

from backend.motion import features, formants, phonetics
from backend.motion.clock import FEATURE_RATE, HOP, SR
from backend.motion.model import FORMANT_FEAT_DIM, MotionConfig, MotionEnsemble, MotionNet
from backend.motion.synthetic import speech_like


def _vowel(f1: float, f2: float, f3: float, seconds: float, f0: float = 120.0) -> np.ndarray:
    """A glottal pulse train through three formant resonators (a steady vowel)."""
    n = int(seconds * SR)
    x = (np.arange(n) % int(SR / f0) == 0).astype(np.float64)
    for f, bw in ((f1, 80.0), (f2, 100.0), (f3, 150.0)):
        r = np.exp(-np.pi * bw / SR)
        x = lfilter([1.0 - r], [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r], x)
    return 0.3 * x / np.abs(x).max()


def _two_vowels(scale: float = 1.0) -> np.ndarray:
    """/a/ (open jaw: high F1, low F2), 0.3 s of silence, /i/ (closed jaw: low F1, high F2)."""
    a = _vowel(750 * scale, 1200 * scale, 2500 * scale, 0.8)
    i = _vowel(300 * scale, 2300 * scale, 3000 * scale, 0.8)
    return np.concatenate([a, np.zeros(int(0.3 * SR)), i]).astype(np.float32)


def _halves(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = rows[int(0.2 * FEATURE_RATE): int(0.6 * FEATURE_RATE)]
    gap = rows[int(0.9 * FEATURE_RATE): int(1.0 * FEATURE_RATE)]
    i = rows[int(1.3 * FEATURE_RATE): int(1.7 * FEATURE_RATE)]
    return a, gap, i


def test_open_vowel_has_the_higher_f1_and_silence_reads_unvoiced() -> None:
    samples = _two_vowels()
    rows = formants.formant_rows(samples, len(samples) // HOP)
    a, gap, i = _halves(rows)
    assert a[:, 3].mean() > 0.9 and i[:, 3].mean() > 0.9  # both vowels voiced
    np.testing.assert_array_equal(gap, np.tile(formants.SILENCE_ROW, (len(gap), 1)))
    assert a[:, 0].mean() > i[:, 0].mean() + 1.0  # F1 (jaw) higher in /a/, in z units
    assert i[:, 1].mean() > a[:, 1].mean() + 1.0  # F2 (tongue front, spread lips) higher in /i/


def test_a_longer_vocal_tract_reads_the_same_after_normalisation() -> None:
    """Every formant 20 % lower (a larger speaker): the z-scored log formants barely move."""
    n = len(_two_vowels()) // HOP
    base = formants.formant_rows(_two_vowels(), n)
    low = formants.formant_rows(_two_vowels(0.8), n)
    for (x, y) in zip(_halves(base)[::2], _halves(low)[::2], strict=True):
        np.testing.assert_allclose(np.median(x[:, :2], axis=0), np.median(y[:, :2], axis=0), atol=0.35)


def test_no_voicing_gives_silence_rows() -> None:
    noise = (0.05 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)
    rows = formants.formant_rows(noise, 100)
    assert rows[:, 3].mean() < 0.2
    np.testing.assert_array_equal(formants.formant_rows(np.zeros(SR, np.float32), 100),
                                  np.tile(formants.SILENCE_ROW, (100, 1)))


def test_windows_carry_formants_last_and_older_networks_ignore_them() -> None:
    samples, _ = speech_like(2.0, seed=3)
    n = features.frame_count(2.0, 25.0)
    phon = features.speech_features(samples, phonetic=True).windows(n, 25.0)
    full = features.speech_features(samples, phonetic=True, formants=True).windows(n, 25.0)
    assert full.shape[-1] == FORMANT_FEAT_DIM
    np.testing.assert_array_equal(full[..., : phon.shape[-1]], phon)
    np.testing.assert_array_equal(full[0, 0, -formants.DIM:], formants.SILENCE_ROW)  # before the audio
    torch.manual_seed(0)
    older = MotionNet(MotionConfig(n_expr=4))
    assert not older.uses_formants
    np.testing.assert_allclose(older.predict([phon]), older.predict([full]), rtol=1e-6)


def test_formants_without_the_phone_decode_read_blank_phonetic_columns() -> None:
    """`animate --no-phonetics` with a formant network: the phonetic columns are NaN in the windows and the
    network reads them as its training mean, as in phonetic dropout."""
    torch.manual_seed(0)
    net = MotionNet(MotionConfig(n_expr=4, feat_dim=FORMANT_FEAT_DIM))
    assert net.uses_formants and net.uses_phonetics
    mean = np.linspace(-1, 1, FORMANT_FEAT_DIM).astype(np.float32)
    net.set_feature_stats(mean, np.ones_like(mean))
    samples, _ = speech_like(2.0, seed=4)
    n = features.frame_count(2.0, 25.0)
    windows = features.speech_features(samples, formants=True).windows(n, 25.0)
    p = slice(features.FEATURE_DIM, features.FEATURE_DIM + phonetics.DIM)
    assert np.isnan(windows[..., p]).all() and not np.isnan(windows[..., p.stop:]).any()
    blanked = windows.copy()
    blanked[..., p] = mean[p]
    out = net.predict([windows])
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out, net.predict([blanked]), rtol=1e-5, atol=1e-6)
    # an ensemble may mix networks with and without formants; each reads its own columns
    mixed = MotionEnsemble([net, MotionNet(MotionConfig(n_expr=4))])
    assert mixed.uses_formants
    assert mixed.predict([windows]).shape == (n, 4)


def test_feature_cache_adds_formants_to_an_old_cache_and_recomputes_a_stale_one(tmp_path) -> None:
    from backend.motion.data import FEATURE_CACHE, cached_speech_features
    from backend.motion.synthetic import write_profile

    profile = write_profile(tmp_path / "p", duration_s=3.0, seed=2)
    fresh = cached_speech_features(profile)
    assert fresh.formants is not None and fresh.formants.shape == (len(fresh.mfcc), formants.DIM)
    cache = profile / FEATURE_CACHE
    with np.load(cache) as z:
        saved = dict(z)
    # a cache written before the formant columns: they are added, the phone rows are kept, not decoded again
    marked = np.full_like(saved["phonetic"], 0.5)
    old = {k: v for k, v in saved.items() if k != "formants"} | {"phonetic": marked}
    np.savez(cache, **old)
    upgraded = cached_speech_features(profile)
    np.testing.assert_array_equal(upgraded.phonetic, marked)
    np.testing.assert_allclose(upgraded.formants, fresh.formants)
    with np.load(cache) as z:
        assert "formants" in z.files
    # another feature version or audio: everything is computed again
    np.savez(cache, **(saved | {"key": np.array("stale"), "phonetic": marked}))
    again = cached_speech_features(profile)
    np.testing.assert_array_equal(again.phonetic, fresh.phonetic)
