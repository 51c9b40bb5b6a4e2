"""Phonetic features (PocketSphinx phone loop -> articulatory values): silence, chunking, real speech, and
models that predate them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.motion import features, phonetics
from backend.motion.model import MotionConfig, MotionNet
from backend.motion.synthetic import speech_like


def test_every_phone_maps_to_known_articulation() -> None:
    for phone, row in phonetics.PHONES.items():
        assert len(row) == phonetics.DIM, phone
        assert all(0.0 <= v <= 1.0 for v in row), phone
    # lips shut for the bilabials, wide open for the open vowel, rounded for UW
    closed, open_, rnd = (phonetics.ARTICULATORY.index(k) for k in ("closed", "open", "round"))
    assert all(phonetics.PHONES[p][closed] == 1 for p in ("P", "B", "M"))
    assert phonetics.PHONES["AA"][open_] > phonetics.PHONES["IY"][open_] > phonetics.PHONES["M"][open_]
    assert phonetics.PHONES["UW"][rnd] > phonetics.PHONES["IY"][rnd]


def test_silence_away_from_speech_is_silence() -> None:
    """The phone loop hears phones in anything; features say silence where the voice activity says so."""
    speech, _ = speech_like(2.0, seed=4)
    x = np.concatenate([np.zeros(features.SR, np.float32), speech, np.zeros(features.SR, np.float32)])
    feats = features.speech_features(x, phonetic=True)
    rows = feats.phonetic
    assert rows.shape == (len(feats.mfcc), phonetics.DIM)
    silent = np.tile(phonetics.SILENCE_ROW, (90, 1))
    np.testing.assert_array_equal(rows[:90], silent)
    np.testing.assert_array_equal(rows[-90:], silent)
    assert (rows[100:300, phonetics.ARTICULATORY.index("silence")] == 0).any()


def test_chunked_decoding_matches_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    samples, _ = speech_like(9.0, seed=3)
    n = len(samples) // features.HOP + 1
    whole = phonetics.articulatory_frames(samples, n, workers=1)
    assert (whole[:, phonetics.ARTICULATORY.index("silence")] == 0).mean() > 0.2  # it heard sounds
    monkeypatch.setattr(phonetics, "CHUNK_S", 2.5)
    serial = phonetics.articulatory_frames(samples, n, workers=1)
    parallel = phonetics.articulatory_frames(samples, n, workers=2)
    np.testing.assert_array_equal(serial, parallel)  # worker processes change nothing
    agree = (np.abs(serial - whole).sum(axis=1) == 0).mean()
    assert agree > 0.85, f"chunked decoding agrees with one pass on only {agree:.0%} of frames"


def test_windows_carry_phonetic_columns_after_the_mfccs() -> None:
    samples, _ = speech_like(3.0, seed=1)
    plain = features.speech_features(samples)
    both = features.speech_features(samples, phonetic=True)
    n = features.frame_count(plain.duration_s, 25.0)
    w_plain, w_both = plain.windows(n, 25.0), both.windows(n, 25.0)
    assert w_both.shape[-1] == features.FEATURE_DIM + phonetics.DIM
    np.testing.assert_array_equal(w_both[..., : features.FEATURE_DIM], w_plain)
    # beyond the ends of the audio the phonetic columns say silence
    np.testing.assert_array_equal(w_both[0, 0, features.FEATURE_DIM:], phonetics.SILENCE_ROW)


def test_mfcc_only_model_ignores_phonetic_columns() -> None:
    """Checkpoints written before the phonetic features (feat_dim 39) still predict the same."""
    torch.manual_seed(0)
    old = MotionNet(MotionConfig(n_expr=4, feat_dim=features.FEATURE_DIM))
    assert not old.uses_phonetics and MotionNet(MotionConfig(n_expr=4)).uses_phonetics
    samples, _ = speech_like(2.0, seed=2)
    n = features.frame_count(2.0, 25.0)
    plain = old.predict([features.speech_features(samples).windows(n, 25.0)])
    wide = old.predict([features.speech_features(samples, phonetic=True).windows(n, 25.0)])
    np.testing.assert_allclose(plain, wide)


@pytest.mark.realdata
def test_real_speech_has_vowels_and_lip_closures(shared_data) -> None:
    samples = features.load_speech(shared_data / "audio" / "english_11s.wav")
    feats = features.speech_features(samples, phonetic=True)
    rows = feats.phonetic
    col = {name: i for i, name in enumerate(phonetics.ARTICULATORY)}
    speech = feats.activity
    assert rows[speech, col["vowel"]].mean() > 0.3  # about half of speech time is vowels
    assert rows[~speech, col["silence"]].mean() > rows[speech, col["silence"]].mean() + 0.3
    assert rows[:, col["closed"]].sum() >= 5  # some p/b/m closures in 11 s of English
    # louder 10 ms frames are more open on average (vowels carry the energy)
    loud = feats.mfcc[:, 0] > np.median(feats.mfcc[speech, 0])
    assert rows[loud & speech, col["open"]].mean() > rows[~loud & speech, col["open"]].mean()


def test_phonetic_model_runs_on_mfcc_only_windows() -> None:
    """`animate --no-phonetics`: missing phonetic columns read as blank (their training mean), exactly as
    in phonetic-dropout training."""
    torch.manual_seed(0)
    model = MotionNet(MotionConfig(n_expr=4))
    assert model.uses_phonetics
    mean = np.linspace(-1, 1, model.cfg.feat_dim).astype(np.float32)
    model.set_feature_stats(mean, np.ones_like(mean))
    samples, _ = speech_like(2.0, seed=5)
    n = features.frame_count(2.0, 25.0)
    mfcc_only = features.speech_features(samples).windows(n, 25.0)
    blanked = np.concatenate([mfcc_only, np.broadcast_to(mean[features.FEATURE_DIM:],
                                                         mfcc_only.shape[:-1] + (phonetics.DIM,))], axis=-1)
    np.testing.assert_allclose(model.predict([mfcc_only]), model.predict([blanked]), rtol=1e-5, atol=1e-6)


def test_decoding_started_early_gives_the_same_features() -> None:
    """`animate` starts the phone decoder in a worker process before torch is imported; same result."""
    samples, _ = speech_like(3.0, seed=6)
    early = features.start_phonetics(samples)
    direct = features.speech_features(samples, phonetic=True)
    np.testing.assert_array_equal(features.speech_features(samples, phonetic=True, decode=early).phonetic,
                                  direct.phonetic)
