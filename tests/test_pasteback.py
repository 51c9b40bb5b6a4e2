"""Paste-back geometry on synthetic frames: crops and paste-back land exactly where the affine says, in the
rasterizer's pixel convention (centre of pixel i at i + 0.5)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from backend.face.crops import crop_affines, crop_camera
from backend.render import raster
from backend.render.pasteback import border_alpha, crop_frame, cv_affine, invert, paste_back


def _blob(h: int, w: int, x: float, y: float, sigma: float = 3.0) -> np.ndarray:
    """uint8 RGB image with a Gaussian blob centred at continuous pixel coordinates (x, y)."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return np.repeat((g * 250).round().astype(np.uint8)[..., None], 3, axis=2)


def _centroid(img: np.ndarray) -> np.ndarray:
    g = img[..., 0].astype(np.float64)
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]] + 0.5
    return np.array([(g * xx).sum() / g.sum(), (g * yy).sum() / g.sum()])


def _apply(affine: np.ndarray, p: np.ndarray) -> np.ndarray:
    return affine[:, :2] @ p + affine[:, 2]


AFFINE = crop_affines(np.array([[151.3, 97.6]]), side=173.0, size=256)[0]  # scale 1.48, like a real crop


def test_cv_affine_shifts_by_half_a_pixel_per_unit_of_scale():
    a = np.array([[2.0, 0.0, 5.0], [0.0, 2.0, -3.0]])
    # continuous x' = 2x + 5 -> on indices i' + 0.5 = 2(i + 0.5) + 5 -> i' = 2i + 5.5
    np.testing.assert_allclose(cv_affine(a), [[2, 0, 5.5], [0, 2, -2.5]])


def test_crop_puts_a_frame_point_where_the_affine_maps_it():
    frame = _blob(240, 320, 160.25, 101.7)
    crop = crop_frame(frame, AFFINE, 256)
    np.testing.assert_allclose(_centroid(crop), _apply(AFFINE, np.array([160.25, 101.7])), atol=0.03)


def test_paste_back_puts_a_crop_point_where_the_inverse_maps_it():
    crop = _blob(256, 256, 120.4, 141.9, sigma=4.0)
    frame = np.zeros((240, 320, 3), np.uint8)
    out = paste_back(frame, crop, AFFINE, alpha=np.ones((256, 256), np.float32))
    np.testing.assert_allclose(_centroid(out), _apply(invert(AFFINE), np.array([120.4, 141.9])), atol=0.03)


def test_crop_then_paste_back_reproduces_a_smooth_frame():
    yy, xx = np.mgrid[0:240, 0:320]
    frame = np.stack([100 + 60 * np.sin(xx / 17.0), 120 + 50 * np.cos(yy / 13.0),
                      90 + 40 * np.sin((xx + yy) / 23.0)], -1).round().astype(np.uint8)
    crop = crop_frame(frame, AFFINE, 256)
    out = paste_back(frame * 0, crop, AFFINE, alpha=np.ones((256, 256), np.float32))
    inner = invert(AFFINE) @ np.array([[20, 236], [20, 236], [1, 1]], dtype=np.float64)  # crop box less a margin
    x0, x1 = np.ceil(inner[0]).astype(int)
    y0, y1 = np.ceil(inner[1]).astype(int)
    diff = np.abs(out[y0:y1, x0:x1].astype(int) - frame[y0:y1, x0:x1].astype(int))
    assert diff.mean() < 0.6 and diff.max() <= 3
    assert (out[:, : int(x0) - 20] == 0).all()  # outside the crop the frame is untouched


def test_border_alpha_blends_only_inside_the_crop():
    a = border_alpha(100, feather=0.1)
    assert a[50, 50] == 1.0 and a[0, 50] == pytest.approx(0.05) and a[5, 5] == pytest.approx(0.55)
    frame = np.full((240, 320, 3), 40, np.uint8)
    crop = np.full((256, 256, 3), 200, np.uint8)
    out = paste_back(frame, crop, AFFINE)
    centre = np.round(_apply(invert(AFFINE), np.array([128.0, 128.0]))).astype(int)
    assert (out[centre[1], centre[0]] == 200).all()
    assert (out[0, 0] == 40).all()


def test_crop_partly_outside_the_frame_is_clipped():
    affine = crop_affines(np.array([[5.0, 230.0]]), side=173.0, size=256)[0]
    frame = np.zeros((240, 320, 3), np.uint8)
    out = paste_back(frame, np.full((256, 256, 3), 255, np.uint8), affine, alpha=np.ones((256, 256), np.float32))
    assert out.shape == frame.shape and out[239, 0, 0] == 255 and out[0, 319, 0] == 0


def test_poisson_paste_keeps_the_content_in_place():
    crop = np.full((256, 256, 3), 80, np.uint8) + _blob(256, 256, 130.0, 118.0, sigma=5.0) // 2
    frame = np.full((240, 320, 3), 80, np.uint8)
    alpha = np.zeros((256, 256), np.float32)
    alpha[40:216, 40:216] = 1
    out = paste_back(frame, crop, AFFINE, alpha=alpha, mode="poisson")
    moved = _centroid((out.astype(int) - 80).clip(0).astype(np.uint8))
    np.testing.assert_allclose(moved, _apply(invert(AFFINE), np.array([130.0, 118.0])), atol=0.6)


def test_face_rendered_in_crop_space_pastes_onto_the_full_frame_render():
    # A square plate 2 m in front of the camera, rendered (a) in the full frame and (b) in the crop with
    # crop_camera, then pasted back: the silhouettes must coincide to sub-pixel accuracy.
    camera = np.array([300.0, 161.0, 118.0], np.float32)
    verts = torch.tensor([[[-0.31, -0.237, -2.0], [0.283, -0.221, -2.0], [0.297, 0.262, -2.0], [-0.322, 0.251, -2.0]]])
    tris = torch.tensor([[0, 1, 2], [0, 2, 3]])
    full = raster.mask(raster.rasterize(raster.project(verts, torch.as_tensor(camera)), tris, 240, 320))[0, ..., 0]
    affine = crop_affines(np.array([[170.0, 110.0]]), side=200.0, size=256)[0]
    cam_crop = torch.as_tensor(crop_camera(camera, affine))
    crop_mask = raster.mask(raster.rasterize(raster.project(verts, cam_crop), tris, 256, 256))[0, ..., 0]
    crop_img = np.repeat((crop_mask.numpy() * 255).astype(np.uint8)[..., None], 3, axis=2)
    pasted = paste_back(np.zeros((240, 320, 3), np.uint8), crop_img, affine,
                        alpha=np.ones((256, 256), np.float32))[..., 0] >= 128
    full_np = full.numpy() > 0.5
    # Resampling a binary crop mask blurs its edge: pixels whose centre lies within a fraction of a pixel of
    # the edge may flip, but no pixel further inside or outside may, and nothing may shift.
    iou = (pasted & full_np).sum() / (pasted | full_np).sum()
    assert iou > 0.98
    kernel = np.ones((3, 3), np.uint8)
    band = (cv2.dilate(full_np.astype(np.uint8), kernel) > 0) & ~(cv2.erode(full_np.astype(np.uint8), kernel) > 0)
    assert not ((pasted != full_np) & ~band).any()
    np.testing.assert_allclose(_centroid(np.repeat(pasted[..., None], 3, 2).astype(np.uint8)),
                               _centroid(np.repeat(full_np[..., None], 3, 2).astype(np.uint8)), atol=0.05)
