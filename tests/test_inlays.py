"""backend.render.inlays: the memory of real eyes and mouths (keys from geometry, values warped into the
render's outlines). Synthetic crops on the real face template."""

from __future__ import annotations

import numpy as np
import pytest

from backend.face.model import load_template
from backend.render.inlays import REGIONS, Inlays, choose_memory, farthest_points, region_keys, similarity

S = 128


@pytest.fixture(scope="module")
def model():
    return load_template()


def _mouth_coefficient(model) -> int:
    """The basis component that opens the inner lips the most."""
    ring = REGIONS["mouth"]
    return int(np.argmax(np.ptp(model.basis[:, ring, 1], axis=1)))


def _outlines(centre: tuple[float, float], scale: float) -> np.ndarray:
    """[478,2] landmarks in crop px with each region a small ellipse: eyes up left/right, mouth below."""
    pts = np.zeros((478, 2), np.float32)
    offsets = {"eye_left": (-20, -15), "eye_right": (20, -15), "mouth": (0, 20)}
    for name, loop in REGIONS.items():
        a = np.linspace(0, 2 * np.pi, len(loop), endpoint=False)
        dx, dy = offsets[name]
        pts[loop, 0] = centre[0] + scale * (dx + 8 * np.cos(a))
        pts[loop, 1] = centre[1] + scale * (dy + 4 * np.sin(a))
    return pts


def test_similarity_recovers_a_known_map():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (16, 2))
    ang, scale, t = np.radians(12), 1.3, np.array([5.0, -7.0])
    r = scale * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    m = similarity(src, src @ r.T + t)
    np.testing.assert_allclose(m[:, :2], r, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-7)


def test_farthest_points_spread_over_the_range():
    x = np.concatenate([np.zeros(50), np.linspace(0, 1, 10), np.ones(50)])[:, None]
    idx = farthest_points(x, 3)
    assert {float(x[i, 0]) for i in idx} >= {0.0, 1.0}  # both ends, not just the common value
    assert len(farthest_points(x, 500)) == len(x)


def test_memory_spans_open_and_closed_mouths(model):
    k = _mouth_coefficient(model)
    expr = np.zeros((200, model.n_expr), np.float32)
    expr[:, k] = np.concatenate([np.zeros(190), np.linspace(1, 3, 10)])  # mostly closed, a few wide open
    chosen = choose_memory(model, expr, np.zeros((200, 6), np.float32), np.ones(200, bool), count=8)
    assert len(chosen) == 8 and chosen.max() >= 190
    valid = np.ones(200, bool)
    valid[190:] = False
    assert choose_memory(model, expr, np.zeros((200, 6)), valid, count=8).max() < 190  # invalid frames never


def test_a_query_reads_the_frame_with_its_own_shape_warped_onto_the_render(model):
    k = _mouth_coefficient(model)
    expr = np.zeros((2, model.n_expr), np.float32)
    expr[1, k] = 2.0  # frame 1: mouth open
    crops = np.stack([np.full((S, S, 3), 40, np.uint8), np.full((S, S, 3), 200, np.uint8)])
    crops[1, :, : S // 2, 2] = 10  # frame 1: its left half has a different blue, to see the warp
    lm = np.stack([_outlines((S / 2, S / 2), 1.0)] * 2)
    inlays = Inlays(model, crops, expr, np.zeros((2, 6), np.float32), lm)
    assert len(inlays) == 2
    render = np.full((S, S, 3), 128, np.uint8)
    # the render's outlines sit 10 px right of the memory's and 1.2x larger
    dst = _outlines((S / 2 + 10, S / 2), 1.2)
    frame = inlays.frames(expr[1:], np.zeros((1, 6), np.float32), dst[None])[0]
    out = inlays.apply(render, frame)
    assert inlays.picks["mouth"] == [1]
    mx, my = dst[REGIONS["mouth"]].mean(0).round().astype(int)
    assert out[my, mx, 0] == pytest.approx(200, abs=2)  # the open mouth's frame, not the closed one's (40)
    # the memory's left/right boundary (x = S/2) lands at 10 + 1.2 * (S/2 - S/2) px right of the mouth centre
    assert out[my, mx - 3, 2] == pytest.approx(10, abs=3) and out[my, mx + 3, 2] == pytest.approx(200, abs=3)
    far = out[5, 5].astype(int)
    assert tuple(far) == (128, 128, 128)  # outside every outline the render is untouched


def test_hysteresis_keeps_a_nearly_equal_previous_pick(model):
    k = _mouth_coefficient(model)
    expr = np.zeros((2, model.n_expr), np.float32)
    expr[:, k] = [1.0, 1.1]
    lm = np.stack([_outlines((S / 2, S / 2), 1.0)] * 2)
    inlays = Inlays(model, np.zeros((2, S, S, 3), np.uint8), expr, np.zeros((2, 6)), lm)
    walk = np.array([[1.0], [1.052], [1.04], [1.1]], np.float32)
    for value in walk:
        q = np.zeros((1, model.n_expr), np.float32)
        q[0, k] = value[0]
        inlays.pick("mouth", inlays.frames(q, np.zeros((1, 6)), lm[:1])[0].keys["mouth"])
    # 1.052 is nearer 1.1, but within the hysteresis of the previous pick (1.0): kept; 1.1 switches
    assert inlays.picks["mouth"] == [0, 0, 0, 1]


def test_a_closed_region_or_a_memory_without_usable_frames_leaves_the_render_alone(model):
    lm = _outlines((S / 2, S / 2), 1.0)
    closed = lm.copy()
    for loop in REGIONS.values():
        closed[loop, 1] = closed[loop, 1].mean()  # every outline flattened to a line
    inlays = Inlays(model, np.full((1, S, S, 3), 250, np.uint8), np.zeros((1, model.n_expr)), np.zeros((1, 6)),
                    lm[None])
    render = np.full((S, S, 3), 128, np.uint8)
    out = inlays.apply(render, inlays.frames(np.zeros((1, model.n_expr)), np.zeros((1, 6)), closed[None])[0])
    assert np.abs(out.astype(int) - 128).max() <= 1  # only the blend's faint margin, no memory pixels inside
    # a frame with untracked (zero) landmarks never enters the memory
    empty = Inlays(model, np.full((1, S, S, 3), 250, np.uint8), np.zeros((1, model.n_expr)), np.zeros((1, 6)),
                   np.zeros((1, 478, 2), np.float32))
    assert len(empty) == 0
    assert np.array_equal(empty.apply(render, empty.frames(np.zeros((1, model.n_expr)), np.zeros((1, 6)),
                                                           lm[None])[0]), render)


def test_region_keys_separate_open_from_closed(model):
    k = _mouth_coefficient(model)
    expr = np.zeros((3, model.n_expr), np.float32)
    expr[:, k] = [0.0, 0.1, 2.0]
    key = region_keys(model, expr, np.zeros((3, 6)))["mouth"]
    assert np.linalg.norm(key[0] - key[1]) < 0.2 * np.linalg.norm(key[0] - key[2])
