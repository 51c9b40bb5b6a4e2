"""Mouth cavity: dark, covered, following the lips, wound toward the viewer; per-person tint fitted back."""

from __future__ import annotations

import math

import numpy as np
import torch

from backend.face.landmarks import INNER_LIP_LOWER, INNER_LIP_UPPER
from backend.face.model import FaceModel, load_template
from backend.face.posing import posed_vertices_np, project_np
from backend.render.face import FaceRenderer
from backend.render.mouth import DEFAULT_COLOURS, cavity_mesh, cavity_vertices
from backend.render.mouth_colours import fit_colours
from backend.render.shading import UNIFORM_WHITE, vertex_normals

WHITE = np.array([[UNIFORM_WHITE[i]] * 3 for i in range(9)], np.float32)


def _opening_model() -> tuple[FaceModel, np.ndarray]:
    """The template with one expression that drops the lower lip and jaw (~1.2 cm)."""
    model = load_template()
    v = model.vertices
    lip_y = v[np.concatenate([INNER_LIP_UPPER, INNER_LIP_LOWER])][:, 1].mean()
    drop = np.zeros_like(v)
    below = v[:, 1] < lip_y - 1e-4
    drop[below, 1] = -0.012 * np.exp(-np.maximum(0, lip_y - v[below, 1] - 0.03) / 0.02)
    return FaceModel(model.vertices, model.triangles, model.uvs, drop[None], ["open"]), drop


def _camera(model: FaceModel, pose: np.ndarray) -> np.ndarray:
    """Intrinsics that put the upper inner lip (13) at the centre of a 256 px image."""
    cam = np.array([[700.0, 128.0, 128.0]], np.float32)
    cam[0, 1:] += 128 - project_np(posed_vertices_np(model.vertices, model.basis, np.zeros((1, 1)), pose)[0],
                                   cam[0])[13]
    return cam


def test_mouth_cavity_is_dark_and_follows_the_lips():
    opening, drop = _opening_model()
    model, v = opening, opening.vertices
    renderer = FaceRenderer(opening, np.full((512, 512, 3), 0.75, np.float32), WHITE, 256)
    pose = np.array([[0, 0, 0, 0, 0, -0.5]], np.float32)
    cam = _camera(opening, pose)
    upper = project_np(posed_vertices_np(v, drop[None], np.zeros((1, 1)), pose)[0], cam[0])
    closed_img, closed_mask = renderer.render(np.zeros((1, 1)), pose, cam)
    open_img, open_mask = renderer.render(np.ones((1, 1)), pose, cam)
    opened = project_np(posed_vertices_np(v, drop[None], np.ones((1, 1)), pose)[0], cam[0])
    # the point half-way between the upper lip (13) and the dropped lower lip (14)
    mid = np.round((upper[13] + opened[14]) / 2 - 0.5).astype(int)
    assert open_mask[0, mid[1], mid[0]]  # covered: no hole into the background
    assert open_img[0, mid[1], mid[0]].mean() < 0.35  # dark cavity, not skin (0.75)
    assert closed_img[0, mid[1], mid[0]].mean() > 0.6  # shut mouth: the lips cover the cavity
    # the teeth proxy sits under the upper lip: brighter than the throat
    below_upper = np.round(upper[13] + [0, 1.5] - 0.5).astype(int)
    assert open_img[0, below_upper[1], below_upper[0]].mean() > open_img[0, mid[1], mid[0]].mean()
    assert not math.isnan(float(open_img.mean()))
    # cavity triangles are wound like the face: the back wall's normal faces the viewer (+z, head-local)
    local = cavity_vertices(torch.as_tensor(v + drop)[None])[0]
    normals = vertex_normals(local, torch.as_tensor(cavity_mesh(v, model.triangles, model.uvs).triangles))
    assert normals[-1, 2] > 0.8


def test_fitted_tint_recovers_the_gains_that_made_the_frames():
    opening, _ = _opening_model()
    albedo = np.full((512, 512, 3), 0.7, np.float32)
    sh = WHITE.copy()
    sh[2] = 0.6  # some light from the front (+z): shading is part of what the fit must see through
    pose = np.array([[0.05, 0.1, 0, 0, 0, -0.5], [0, -0.1, 0.02, 0, 0, -0.5]], np.float32)
    cams = np.concatenate([_camera(opening, pose[i:i + 1]) for i in range(2)])
    expr = np.ones((2, 1), np.float32)
    gains = np.array([0.6, 1.3, 0.9], np.float32)
    truth = FaceRenderer(opening, albedo, sh, 256, mouth_colours=DEFAULT_COLOURS * gains).render(expr, pose, cams)[0]
    frames = (truth * 255).round().astype(np.uint8)
    colours, n = fit_colours((opening, albedo, sh, 256), expr, pose, cams, frames)
    assert n > 200
    np.testing.assert_allclose(colours / DEFAULT_COLOURS, np.broadcast_to(gains, (3, 3)), rtol=0.02)
    # too few cavity pixels to judge (a tiny face): the defaults stay
    small = cams / 8
    colours, n = fit_colours((opening, albedo, sh, 32), expr, pose, small, frames[:, ::8, ::8])
    assert 0 < n < 200 and (colours == DEFAULT_COLOURS).all()

