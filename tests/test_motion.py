"""The audio->motion stage end to end on a synthetic profile whose mouth is a known function of its audio:
personalize learns it, animate turns new speech into valid tracks, bad inputs give clear errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.commands import main
from backend.core.errors import UserError
from backend.core.tracks import load_tracks
from backend.media import VideoWriter, write_wav
from backend.motion import features
from backend.motion.animation import animate, animate_samples, load_personal
from backend.motion.data import load_clip
from backend.motion.metrics import motion_report
from backend.motion.personalization import SCRATCH, personalize
from backend.motion.synthetic import speech_like, write_profile

TRAIN_FRAMES = 300
QUICK = replace(SCRATCH, steps=450, eval_every=25, patience=8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 20 s synthetic profile personalised on its first 300 frames."""
    torch.set_num_threads(1)
    profile = write_profile(tmp_path_factory.mktemp("motion") / "synthetic", duration_s=20.0, fps=25.0, seed=0)
    # from scratch: the test is that the model learns a known audio->mouth function, not transfer
    personalize(profile, train_frames=TRAIN_FRAMES, cfg=QUICK, scratch=True)
    return profile


def test_personalized_model_predicts_the_mouth_on_unseen_audio(trained: Path) -> None:
    model, meta = load_personal(trained)
    clip = load_clip(trained)
    samples = features.load_speech(trained / "audio.wav")
    rest = samples[int(TRAIN_FRAMES / clip.fps * features.SR):]
    expr, pose = animate_samples(model, meta, rest, clip.fps)
    report = motion_report(clip.mouth, expr, clip.expression[TRAIN_FRAMES:], pose, clip.pose[TRAIN_FRAMES:],
                           clip.expression[:TRAIN_FRAMES].mean(axis=0))
    assert report["frames"] == len(clip) - TRAIN_FRAMES
    assert report["mouth_corr"] > 0.7, report
    assert report["mouth_lmd_reduction"] > 0.25, report
    # the same model driven by other speech does not match this mouth track: it listens to the audio
    other, _ = speech_like(len(rest) / features.SR, seed=99)
    expr_other, _ = animate_samples(model, meta, other, clip.fps)
    wrong = motion_report(clip.mouth, expr_other, clip.expression[TRAIN_FRAMES:], pose, clip.pose[TRAIN_FRAMES:],
                          clip.expression[:TRAIN_FRAMES].mean(axis=0))
    assert wrong["mouth_corr"] < report["mouth_corr"] - 0.4


def test_personalize_writes_model_and_loss_curve(trained: Path) -> None:
    assert (trained / "motion_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _, meta = load_personal(trained)
    assert meta["init"] == "scratch" and meta["train_frames"] == TRAIN_FRAMES
    assert 0 < meta["best_step"] <= QUICK.steps
    assert len(meta["clip_pose"]) == TRAIN_FRAMES


def test_animate_cli_writes_tracks_at_any_fps(trained: Path, tmp_path: Path) -> None:
    x, _ = speech_like(3.0, seed=5)
    wav = tmp_path / "new speech.wav"
    write_wav(wav, x, 16000)
    out = tmp_path / "tracks.json"
    assert main(["--progress", "quiet", "animate", str(trained), str(wav), "-o", str(out), "--fps", "24"]) == 0
    tracks = load_tracks(out)
    assert tracks.frame_count == 72 and tracks.fps == 24
    assert tracks.expression.shape[1] == len(tracks.basis)
    assert tracks.provenance["source"] == "animate" and tracks.audio["duration_s"] == pytest.approx(3.0)
    assert np.ptp(tracks.pose[:, :3], axis=0).max() > 0  # the head moves
    assert tracks.provenance["options"]["phonetics"] is True
    fast = tmp_path / "fast.json"
    assert main(["--progress", "quiet", "animate", str(trained), str(wav), "-o", str(fast), "--fps", "24",
                 "--no-phonetics"]) == 0
    fast_tracks = load_tracks(fast)
    assert fast_tracks.provenance["options"]["phonetics"] is False
    assert fast_tracks.frame_count == 72 and not np.allclose(fast_tracks.expression, tracks.expression)


def test_pose_modes(trained: Path) -> None:
    model, meta = load_personal(trained)
    x, _ = speech_like(4.0, seed=6)
    _, still = animate_samples(model, meta, x, 25.0, "still")
    assert np.ptp(still, axis=0).max() == 0
    _, replay = animate_samples(model, meta, x, 25.0, "clip")
    np.testing.assert_allclose(replay, np.asarray(meta["clip_pose"])[:100], atol=1e-6)
    _, a = animate_samples(model, meta, x, 25.0, "predicted", seed=1)
    _, b = animate_samples(model, meta, x, 25.0, "predicted", seed=1)
    _, c = animate_samples(model, meta, x, 25.0, "predicted", seed=2)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0
    with pytest.raises(UserError):
        animate_samples(model, meta, x, 25.0, "nodding")


def test_silence_gives_a_still_head_and_closed_mouth(trained: Path) -> None:
    model, meta = load_personal(trained)
    clip = load_clip(trained)
    expr, pose = animate_samples(model, meta, np.zeros(2 * features.SR, np.float32), 25.0)
    assert len(expr) == 50
    assert np.ptp(pose, axis=0).max() < 1e-6
    opening = clip.mouth.opening(expr)
    assert opening.max() <= np.quantile(clip.mouth.opening(clip.expression[:TRAIN_FRAMES]), 0.15)


def test_expression_scale_and_smoothing(trained: Path) -> None:
    model, meta = load_personal(trained)
    x, _ = speech_like(3.0, seed=7)
    rest = np.asarray(meta["rest_expression"])
    e1, _ = animate_samples(model, meta, x, 25.0, blinks=False)  # blinks are a layer of their own, unscaled
    e0, _ = animate_samples(model, meta, x, 25.0, expression_scale=0.0, blinks=False)
    e2, _ = animate_samples(model, meta, x, 25.0, expression_scale=2.0, blinks=False)
    np.testing.assert_allclose(e0, np.broadcast_to(rest, e0.shape), atol=1e-6)
    np.testing.assert_allclose(e2 - rest, 2 * (e1 - rest), atol=1e-4)
    es, _ = animate_samples(model, meta, x, 25.0, smoothing=2.0, blinks=False)
    assert np.abs(np.diff(es, axis=0)).mean() < np.abs(np.diff(e1, axis=0)).mean()


def test_very_short_audio(trained: Path, tmp_path: Path) -> None:
    x, _ = speech_like(0.2, seed=8)
    wav = tmp_path / "short.wav"
    write_wav(wav, x, 16000)
    tracks = animate(trained, wav)
    assert tracks.frame_count == 5
    assert np.isfinite(tracks.expression).all() and np.isfinite(tracks.pose).all()


def test_corrupt_audio_is_refused(trained: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "speech.wav"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    assert main(["--progress", "quiet", "animate", str(trained), str(bad), "-o", str(tmp_path / "t.json")]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_video_given_as_audio_uses_its_audio_stream(trained: Path, tmp_path: Path) -> None:
    x, _ = speech_like(1.6, seed=9)
    clip = tmp_path / "clip.mp4"
    with VideoWriter(clip, 25, 64, 64, audio=(x, 16000), preset="ultrafast") as vw:
        for _ in range(40):
            vw.write(np.full((64, 64, 3), 128, np.uint8))
    tracks = animate(trained, clip)
    assert abs(tracks.frame_count - 40) <= 1


def test_profile_without_model_says_to_personalize(tmp_path: Path, capsys) -> None:
    profile = write_profile(tmp_path / "fresh", duration_s=4.0)
    x, _ = speech_like(1.0)
    wav = tmp_path / "s.wav"
    write_wav(wav, x, 16000)
    code = main(["--progress", "quiet", "animate", str(profile), str(wav), "-o", str(tmp_path / "t.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "no trained motion model" in err and "personalize" in err and "--personalize" in err
    code = main(["--progress", "quiet", "animate", str(tmp_path), str(wav), "-o", str(tmp_path / "t.json")])
    assert code == 2 and "not a profile" in capsys.readouterr().err


def test_profile_without_audio_cannot_be_personalized(tmp_path: Path) -> None:
    profile = write_profile(tmp_path / "mute", duration_s=4.0)
    (profile / "audio.wav").unlink()
    with pytest.raises(UserError, match="no audio.wav"):
        personalize(profile, cfg=QUICK)


def test_animate_writes_a_seeded_blink_layer_and_no_blinks_turns_it_off(trained: Path, tmp_path: Path) -> None:
    x, _ = speech_like(12.0, seed=9)
    wav = tmp_path / "speech.wav"
    write_wav(wav, x, 16000)
    paths = {name: tmp_path / f"{name}.json" for name in ("a", "b", "off")}
    for name, extra in (("a", []), ("b", []), ("off", ["--no-blinks"])):
        assert main(["--progress", "quiet", "animate", str(trained), str(wav), "-o", str(paths[name]), *extra]) == 0
    a, b, off = (load_tracks(paths[n]) for n in ("a", "b", "off"))
    assert a.version == 2 and "blink" in a.layers and not off.layers and off.provenance["options"]["blinks"] is False
    np.testing.assert_array_equal(a.layers["blink"].weight, b.layers["blink"].weight)  # seeded
    assert a.layers["blink"].weight.max() > 0.8  # 12 s at the population rate: a few full blinks
    # the speech part is the same with and without blinks; the layer is exactly what was added
    np.testing.assert_allclose(a.without_layers(), off.expression, atol=1e-4)  # float32 rounding
    np.testing.assert_array_equal(a.pose, off.pose)
    _, meta = load_personal(trained)
    assert meta["blink"]["source"].startswith("population") and len(meta["blink"]["shape"]) == a.expression.shape[1]


def test_any_recording_gets_the_persons_mouth_range(trained: Path) -> None:
    """The gain is measured per recording: quiet and loud, this voice or another, the speaking frames'
    opening std lands on the person's own (unless the gain is clipped), instead of the shrunk mean."""
    model, meta = load_personal(trained)
    clip = load_clip(trained)
    assert meta["mouth_open_std"] > 0 and len(meta["mouth_open_grad"]) == clip.expression.shape[1]
    for seed, level in ((11, 1.0), (12, 0.05)):
        x, _ = speech_like(8.0, seed=seed)
        x = (level * x).astype(np.float32)
        full, _ = animate_samples(model, meta, x, 25.0, blinks=False)
        raw, _ = animate_samples(model, meta, x, 25.0, blinks=False, mouth_gain=1.0)
        speaking = features.speech_features(x).frame_activity(len(full), 25.0) > 0
        o_full, o_raw = clip.mouth.opening(full)[speaking], clip.mouth.opening(raw)[speaking]
        assert o_full.std() >= o_raw.std() - 1e-9
        if o_raw.std() * 2.5 > meta["mouth_open_std"]:  # within the gain's range: matched
            assert o_full.std() == pytest.approx(meta["mouth_open_std"], rel=0.2)


def test_opening_gain_scales_the_opening_and_keeps_the_rest_of_the_shape() -> None:
    """gain_direction "opening": the linearised opening of every frame is scaled by its gain exactly, and a
    coefficient that does not go with the opening keeps the network's estimate; "all" scales it too."""
    from backend.motion.animation import scale_mouth

    rng = np.random.default_rng(0)
    t, k = 400, 6
    grad = np.array([1.0, 0.5, 0, 0, 0, 0], np.float32)
    opening = rng.normal(size=t)
    expr = np.zeros((t, k), np.float32)
    expr[:, 0], expr[:, 1] = 0.8 * opening, 0.4 * opening  # the jaw and lip shapes that open the mouth
    expr[:, 3] = rng.normal(size=t)  # a brow, not in the opening
    centre = np.zeros(k, np.float32)
    gains = np.full(t, 2.0, np.float32)
    meta = {"mouth_open_grad": grad.tolist()}
    out = scale_mouth(expr, centre, gains, meta, "opening")
    np.testing.assert_allclose((out - centre) @ grad, 2.0 * ((expr - centre) @ grad), rtol=1e-4, atol=1e-5)
    assert abs(out[:, 3].std() - expr[:, 3].std()) < 0.05 * expr[:, 3].std()
    assert scale_mouth(expr, centre, gains, meta, "all")[:, 3].std() == pytest.approx(2 * expr[:, 3].std(), rel=1e-4)
    np.testing.assert_array_equal(scale_mouth(expr, centre, np.ones(t, np.float32), meta, "opening"), expr)


def test_an_ensemble_predicts_its_members_mean_and_survives_its_checkpoint(tmp_path: Path) -> None:
    from backend.motion.model import MotionConfig, MotionEnsemble, MotionNet, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    members = [MotionNet(MotionConfig(n_expr=5)) for _ in range(2)]
    ensemble = MotionEnsemble(members)
    feats = features.speech_features(speech_like(3.0, seed=2)[0], phonetic=False)
    n = features.frame_count(feats.duration_s, 25.0)
    mean = np.mean([m.predict(feats.iter_windows(n, 25.0, block=16)) for m in members], axis=0)
    got = ensemble.predict(feats.iter_windows(n, 25.0, block=16))  # a generator, read once
    assert got.shape == (n, 5) and np.allclose(got, mean, atol=1e-6)
    assert not np.allclose(members[0].predict([feats.windows(n, 25.0)]), mean, atol=1e-3)  # members differ
    save_checkpoint(tmp_path / "e.pt", ensemble, {"kind": "test"})
    loaded, meta = load_checkpoint(tmp_path / "e.pt")
    assert isinstance(loaded, MotionEnsemble) and meta == {"kind": "test"}
    assert np.allclose(loaded.predict([feats.windows(n, 25.0)]), mean, atol=1e-6)
    with pytest.raises(ValueError, match="same"):
        MotionEnsemble([members[0], MotionNet(MotionConfig(n_expr=4))])
