"""The generative head-pose style: sampled motion keeps the person's spread, speed and smoothness."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from backend.motion.metrics import jerk
from backend.motion.pose import PoseStyle, fit_pose_style, sample_pose

STD = np.array([0.05, 0.08, 0.02, 0.004, 0.003, 0.01])


def _person(sigma: float, n: int = 300, seed: int = 0) -> np.ndarray:
    """A head track: smoothed noise (smoothness set by `sigma` frames) with correlated axes."""
    rng = np.random.default_rng(seed)
    x = gaussian_filter1d(rng.standard_normal((n, 6)), sigma, axis=0)
    x[:, 3] += 0.5 * x[:, 1]  # turning the head moves it sideways too
    x = x / x.std(axis=0) * STD
    return x + np.array([0.1, -0.05, 0.0, 0.0, 0.02, -0.6])


def test_samples_keep_the_persons_spread_and_smoothness() -> None:
    pose = _person(sigma=5)
    style = fit_pose_style(pose, 25.0)
    sample = sample_pose(style, 3000, 25.0, np.ones(3000), np.random.default_rng(1))
    assert np.all(np.abs(sample.std(axis=0) / pose.std(axis=0) - 1) < 0.1)
    np.testing.assert_allclose(sample.mean(axis=0), pose.mean(axis=0), atol=0.2 * STD.max())
    scale = pose.std(axis=0)
    assert 0.5 < jerk(sample, scale) / jerk(pose, scale) <= 1.2
    # the sideways-with-yaw coupling survives (principal axes, not independent channels)
    true_corr = np.corrcoef(pose[:, 1], pose[:, 3])[0, 1]
    assert true_corr > 0.3
    assert abs(np.corrcoef(sample[:, 1], sample[:, 3])[0, 1] - true_corr) < 0.1


def test_a_jerky_person_gets_jerkier_samples_than_a_smooth_one() -> None:
    smooth, rough = _person(sigma=8, seed=2), _person(sigma=1.5, seed=2)
    rng = np.random.default_rng(3)
    s = sample_pose(fit_pose_style(smooth, 25.0), 2000, 25.0, np.ones(2000), rng)
    r = sample_pose(fit_pose_style(rough, 25.0), 2000, 25.0, np.ones(2000), rng)
    assert jerk(r, STD) > 3 * jerk(s, STD)


def test_no_speech_means_a_still_head_and_pauses_move_less() -> None:
    style = fit_pose_style(_person(sigma=5), 25.0)
    still = sample_pose(style, 200, 25.0, np.zeros(200), np.random.default_rng(0))
    np.testing.assert_allclose(still, np.tile(style.mean, (200, 1)), atol=1e-12)
    activity = np.zeros(2000)
    activity[:1000] = 1.0
    sample = sample_pose(style, 2000, 25.0, activity, np.random.default_rng(0))
    assert sample[1100:].std(axis=0).sum() < 0.8 * sample[:900].std(axis=0).sum()


def test_other_fps_keeps_the_speed_in_seconds() -> None:
    style = fit_pose_style(_person(sigma=5), 25.0)
    a = sample_pose(style, 5000, 25.0, np.ones(5000), np.random.default_rng(0))
    b = sample_pose(style, 10000, 50.0, np.ones(10000), np.random.default_rng(0))
    speed_a = np.abs(np.diff(a[:, 1])).mean() * 25.0  # radians per second
    speed_b = np.abs(np.diff(b[:, 1])).mean() * 50.0
    assert abs(speed_b / speed_a - 1) < 0.25


def test_short_outputs_are_bounded_and_style_round_trips() -> None:
    style = fit_pose_style(_person(sigma=5), 25.0)
    style = PoseStyle.from_dict(style.to_dict())
    for n in (1, 2, 5, 12):
        s = sample_pose(style, n, 25.0, np.ones(n), np.random.default_rng(n))
        assert s.shape == (n, 6) and np.isfinite(s).all()
        assert np.all(np.abs(s - style.mean) < 5 * STD + 1e-9)
