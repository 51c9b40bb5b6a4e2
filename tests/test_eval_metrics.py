"""Eval metric functions on cases with known answers (docs/metrics.md)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from backend.eval.identity import descriptor, identity_cos
from backend.eval.landmarks import lmd_px, mouth_opening_px, retrack
from backend.eval.video import psnr, ssim, temporal_diff, temporal_diff_ratio
from backend.face.landmarks import MOUTH
from backend.motion.metrics import jerk, motion_report
from backend.motion.mouth import MouthModel


def _frames(seed: int = 0, n: int = 6, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 230, (n, size, size, 3), dtype=np.uint8)


def test_identical_videos() -> None:
    v = _frames()
    assert psnr(v, v.copy()) == 100.0
    assert ssim(v, v.copy()) == pytest.approx(1.0)
    assert temporal_diff_ratio(v, v.copy()) == pytest.approx(1.0)


def test_psnr_of_a_known_offset() -> None:
    real = _frames()
    out = real + np.uint8(5)  # every pixel off by 5 grey levels: MSE 25
    assert psnr(out, real) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-9)
    assert ssim(out, real) < 1.0


def test_psnr_uses_the_common_frames_and_refuses_other_sizes() -> None:
    real = _frames(n=6)
    assert psnr(real[:4], real) == 100.0
    with pytest.raises(ValueError):
        psnr(real[:, :32], real)


def test_temporal_diff_known_values() -> None:
    still = np.full((5, 8, 8, 3), 100, np.uint8)
    assert temporal_diff(still) == 0.0
    real = still.copy()
    real[1::2] = 110  # alternates by 10 grey levels
    flicker = still.copy()
    flicker[1::2] = 120  # by 20
    assert temporal_diff(real) == pytest.approx(10.0)
    assert temporal_diff_ratio(flicker, real) == pytest.approx(2.0)
    assert temporal_diff_ratio(still, real) == 0.0
    assert math.isnan(temporal_diff_ratio(real, still))  # nothing moves in the reference: undefined


def test_lmd_px_of_a_shifted_mouth() -> None:
    rng = np.random.default_rng(1)
    real = rng.uniform(50, 200, (10, 478, 2)).astype(np.float32)
    out = real.copy()
    out[:, MOUTH] += np.array([3.0, 4.0], np.float32)  # the whole mouth 5 px away
    assert lmd_px(out, real) == (pytest.approx(5.0, abs=1e-4), 1.0)
    assert lmd_px(out, real, centred=True)[0] == pytest.approx(0.0, abs=1e-4)  # same shape
    out[3] = np.nan  # a frame without a face is skipped and counted
    assert lmd_px(out, real) == (pytest.approx(5.0, abs=1e-4), 0.9)
    assert lmd_px(np.full_like(real, np.nan), real)[1] == 0.0


def test_mouth_opening_px_of_a_known_gap() -> None:
    from backend.face.landmarks import MOUTH_PAIRS

    lm = np.zeros((2, 478, 2), np.float32)
    lm[1, MOUTH_PAIRS[:, 1], 1] = 7.0  # lower lip 7 px below the upper lip
    assert mouth_opening_px(lm).tolist() == pytest.approx([0.0, 7.0])


def test_constant_pose() -> None:
    rng = np.random.default_rng(2)
    true_pose = np.cumsum(rng.normal(0, 0.01, (80, 6)), axis=0)
    still = np.tile(true_pose.mean(0), (80, 1))
    scale = true_pose.std(0)
    assert jerk(still, scale) == 0.0
    k = 4
    basis = rng.normal(0, 1e-3, (k, 468, 3)).astype(np.float32)
    from backend.face.landmarks import INNER_LIP_LOWER, INNER_LIP_UPPER, MOUTH_PAIRS

    mouth = MouthModel.from_arrays(rng.normal(0, 0.03, (468, 3)).astype(np.float32), basis, MOUTH_PAIRS,
                                   np.concatenate([INNER_LIP_UPPER, INNER_LIP_LOWER]))
    expr = rng.normal(0, 1, (80, k)).astype(np.float32)
    r = motion_report(mouth, expr, expr, still, true_pose, expr.mean(0))
    assert all(v == 0.0 for v in r["pose_std_ratio"].values())
    assert r["jerk_ratio"] == 0.0
    same = motion_report(mouth, expr, expr, true_pose, true_pose, expr.mean(0))
    assert all(v == pytest.approx(1.0) for v in same["pose_std_ratio"].values())
    assert same["jerk_ratio"] == pytest.approx(1.0)


def test_identity_cos_of_known_vectors() -> None:
    a, b = np.eye(128)[0], np.eye(128)[1]
    assert identity_cos({0: a, 1: a}, {0: a, 1: 2 * a}) == (pytest.approx(1.0), 2)
    assert identity_cos({0: a}, {0: b}) == (pytest.approx(0.0), 1)
    assert math.isnan(identity_cos({0: a}, {1: a})[0])


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    from skimage import data

    img = data.astronaut()[20:260, 110:350]  # the face with some margin, 240 px
    return cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)


def test_retracked_shift_and_identity_on_a_real_face(face: np.ndarray) -> None:
    shift = np.float32([[1, 0, 6], [0, 1, 0]])
    moved = cv2.warpAffine(face, shift, (256, 256), borderMode=cv2.BORDER_REPLICATE)
    lm = retrack(np.stack([face, face, moved]))
    assert np.isfinite(lm).all()
    dist, used = lmd_px(lm[2:], lm[:1])
    assert used == 1.0 and dist == pytest.approx(6.0, abs=1.5)  # the image moved 6 px, so did the mouth
    assert lmd_px(lm[2:], lm[:1], centred=True)[0] < 1.0
    d = descriptor(face, lm[0])
    assert d is not None and d.shape == (128,)
    assert identity_cos({0: d}, {0: descriptor(face, lm[1])})[0] == pytest.approx(1.0, abs=1e-6)
    assert identity_cos({0: d}, {0: descriptor(moved, lm[2])})[0] > 0.95  # same person, moved
