"""Audio features: loudness normalisation, chunked MFCC, frame-aligned windows, decoding of odd inputs."""

from __future__ import annotations

import numpy as np
import pytest

from backend.core.errors import UserError
from backend.media import write_wav
from backend.motion import features
from backend.motion.synthetic import speech_like


def _click_train(duration_s: float, times: list[float]) -> np.ndarray:
    """Quiet noise with short loud bursts at `times` (seconds)."""
    rng = np.random.default_rng(0)
    x = 1e-3 * rng.standard_normal(int(duration_s * features.SR)).astype(np.float32)
    for t in times:
        i = int(t * features.SR)
        x[i - 40: i + 40] += 0.5 * rng.standard_normal(80).astype(np.float32)
    return x


@pytest.mark.parametrize("fps", [24.0, 25.0, 30000 / 1001, 30.0])
def test_windows_line_up_with_frames(fps: float) -> None:
    duration = 3.73
    n = features.frame_count(duration, fps)
    assert n == round(duration * fps)
    burst_frames = [3, n // 2, n - 4]
    feats = features.speech_features(_click_train(duration, [k / fps for k in burst_frames]))
    windows = feats.windows(n, fps)
    assert windows.shape == (n, features.WINDOW, features.FEATURE_DIM)
    centre = features.WINDOW // 2
    for k in burst_frames:
        # the burst's energy (c0) peaks within one 10 ms step of the centre of frame k's window
        peak = int(np.argmax(windows[k, :, 0]))
        assert abs(peak - centre) <= 1, (fps, k, peak)
    # a frame far from every burst does not see one at its centre
    quiet = n // 4
    assert windows[quiet, centre, 0] < windows[burst_frames[1], centre, 0] - 5


def test_windows_cover_any_length_and_pad_with_silence() -> None:
    feats = features.speech_features(_click_train(0.2, [0.1]))
    n = features.frame_count(feats.duration_s, 25.0)
    assert n == 5
    w = feats.windows(n, 25.0)
    assert w.shape == (5, features.WINDOW, features.FEATURE_DIM) and np.isfinite(w).all()
    # frame 0's window starts 140 ms before the audio: those rows are the silence features
    np.testing.assert_allclose(w[0, 0], feats.silence_row)
    blocks = list(feats.iter_windows(n, 25.0, block=2))
    np.testing.assert_array_equal(np.concatenate(blocks), w)


def test_chunked_mfcc_equals_one_pass() -> None:
    x, _ = speech_like(7.0, seed=3)
    whole = features.mfcc(x, chunk_s=1000.0)
    chunked = features.mfcc(x, chunk_s=1.3)
    assert whole.shape == (len(x) // features.HOP + 1, features.FEATURE_DIM)
    np.testing.assert_allclose(chunked, whole, atol=1e-4)


def test_loudness_normalisation_lifts_quiet_speech_and_leaves_silence() -> None:
    x, _ = speech_like(4.0, seed=1)
    quiet = x * 10 ** (-30 / 20)
    loud_n, gain_loud = features.normalize_loudness(x)
    quiet_n, gain_quiet = features.normalize_loudness(quiet)
    assert gain_quiet == pytest.approx(gain_loud + 30, abs=0.5)  # same speech level after normalisation
    assert np.abs(quiet_n).max() <= 0.99
    silent, gain = features.normalize_loudness(np.zeros(16000, np.float32))
    assert gain == 0.0 and not silent.any()
    assert not features.voice_activity(silent).any()
    # the features of the quiet and the normal recording agree (the model sees the same speech)
    fq = features.speech_features(quiet).mfcc
    fl = features.speech_features(x).mfcc
    assert np.abs(fq - fl).mean() < 0.05 * np.abs(fl).mean()


def test_voice_activity_finds_the_syllables() -> None:
    x, openness = speech_like(6.0, seed=2)
    act = features.voice_activity(features.normalize_loudness(x)[0])
    truth = openness[:: features.HOP][: len(act)] > 0.2
    agree = (act[: len(truth)] == truth).mean()
    assert agree > 0.8


def test_load_speech_decodes_by_content(tmp_path) -> None:
    x, _ = speech_like(1.0)
    wav = tmp_path / "speech.mp3"  # wav data under an mp3 name
    write_wav(wav, x, 16000)
    y = features.load_speech(wav)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_corrupt_audio_is_a_user_error(tmp_path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" + bytes(200))
    with pytest.raises(UserError):
        features.load_speech(bad)


@pytest.mark.realdata
def test_real_recordings_normalise_to_the_same_level(shared_data) -> None:
    levels = {}
    for name in ("very_quiet_4s.wav", "german_9s_48k_24bit.wav", "float32_11s.wav", "wav_data_named_mp3.mp3"):
        x = features.load_speech(shared_data / "audio" / name)
        y, gain = features.normalize_loudness(x)
        act = features.voice_activity(y)
        assert 0.2 < act.mean() < 1.0, name
        db = features.frame_levels_db(y)[: len(act)][act]
        levels[name] = 10 * np.log10(np.mean(10 ** (db / 10)))
    assert levels["very_quiet_4s.wav"] == pytest.approx(features.TARGET_DBFS, abs=3)
    assert max(levels.values()) - min(levels.values()) < 6


@pytest.mark.realdata
def test_video_given_as_audio_uses_its_sound(shared_data) -> None:
    x = features.load_speech(shared_data / "video" / "hdtf_woman_8s_512.mp4")
    assert abs(len(x) / features.SR - 8.06) < 0.1
    assert features.voice_activity(features.normalize_loudness(x)[0]).mean() > 0.3


def test_numpy_mel_and_deltas_match_librosa() -> None:
    import librosa

    x, _ = speech_like(2.0, seed=4)
    ctx = np.pad(x, (features.N_FFT // 2, features.N_FFT // 2))
    ref = librosa.feature.melspectrogram(y=ctx, sr=features.SR, n_fft=features.N_FFT, hop_length=features.HOP,
                                         win_length=features.WIN, n_mels=features.N_MELS, fmin=20.0, fmax=7600.0,
                                         center=False, power=2.0)
    ours = features._mel_power(ctx)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    static = np.random.default_rng(0).standard_normal((13, 60))
    for order in (1, 2):
        np.testing.assert_allclose(features._deltas(static, order),
                                   librosa.feature.delta(static, width=9, order=order, mode="nearest"), atol=1e-9)


def test_vocal_tract_warp_keeps_the_band_ends_and_moves_a_tone_across_the_mel_bands() -> None:
    f = np.linspace(0, features.SR / 2, 801)
    assert np.array_equal(features.warp_frequency(f, 1.0), f)
    for alpha in features.VTLP_WARPS:
        w = features.warp_frequency(f, alpha)
        assert w[0] == 0 and abs(w[-1] - features.SR / 2) < 1e-6 and np.all(np.diff(w) > 0)
        low = f < 3000
        assert np.allclose(w[low], alpha * f[low])  # formants scale below the boundary
    t = np.arange(features.SR) / features.SR
    tone = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    peak = {a: int(np.argmax(features._mel_power(tone, a).mean(axis=1))) for a in (0.9, 1.0, 1.1)}
    # a filterbank stretched by alpha > 1 (a shorter vocal tract) sees 1 kHz where it saw 1 kHz / alpha
    assert peak[1.1] < peak[1.0] < peak[0.9], peak
    speech = speech_like(2.0, seed=1)[0]
    plain = features.speech_features(speech)
    assert np.array_equal(features.speech_features(speech, warp=1.0).mfcc, plain.mfcc)
    assert not np.allclose(features.speech_features(speech, warp=1.1).mfcc, plain.mfcc, atol=0.1)
