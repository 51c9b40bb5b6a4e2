"""Fitting recovers a known face-model state from noisy projected landmarks (data made here)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_face import synthetic_landmarks

from backend.analysis.fitting import fit_sequence, reprojection_nme
from backend.face.metrics import mouth_opening, pearson
from backend.face.model import load_template


@pytest.fixture(scope="module")
def fitted():
    model = load_template()
    lm, expr, pose, camera = synthetic_landmarks(model, frames=40, noise_px=0.5)
    return model, lm, expr, pose, camera, fit_sequence(lm, 512, 512, model)


def test_pose_recovered_within_one_degree(fitted):
    model, lm, expr, pose, camera, fit = fitted
    err = np.degrees(np.abs(fit.pose[:, :3] - pose[:, :3]))
    assert err.max() < 1.0, f"max rotation error {err.max():.3f} deg"


def test_expression_recovered(fitted):
    model, lm, expr, pose, camera, fit = fitted
    # compare the geometry the coefficients produce (the basis is not orthonormal in image space)
    true_disp = np.tensordot(expr, model.basis, axes=(1, 0))
    fit_disp = np.tensordot(fit.expression, model.basis, axes=(1, 0))
    rel = np.linalg.norm(fit_disp - true_disp) / np.linalg.norm(true_disp)
    assert rel < 0.25, f"relative expression displacement error {rel:.3f}"
    for k in range(4):  # the dominant components individually
        assert pearson(fit.expression[:, k], expr[:, k]) > 0.95
    true_mouth = mouth_opening(model.shape(expr))
    fit_mouth = mouth_opening(model.shape(fit.expression) - model.vertices + fit.identity)
    assert pearson(fit_mouth, true_mouth) > 0.98


def test_reprojection_error_at_noise_level(fitted):
    model, lm, expr, pose, camera, fit = fitted
    iod = np.linalg.norm(lm[:, 263, :2] - lm[:, 33, :2], axis=1).mean()
    nme = reprojection_nme(model, fit.identity, fit.expression, fit.pose, fit.camera, lm)
    # 0.5 px Gaussian noise per axis is ~0.63 px mean distance: the fit should not be far above it
    assert nme < 1.5 * 0.63 / iod
    assert abs(nme - fit.landmark_nme) < 1e-6


def test_focal_length_plausible(fitted):
    *_, camera, fit = fitted
    assert 0.5 * camera[0] < fit.camera[0] < 2.0 * camera[0]
