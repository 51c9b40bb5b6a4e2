"""The new motion metrics and the rest shape: sync offset of a shifted signal, closed-mouth share in
silences, blink rate of a generated track, and rest-shape selection on a face whose mean mouth is open."""

from __future__ import annotations

import numpy as np
import pytest

from backend.face.landmarks import INNER_LIP_LOWER, INNER_LIP_UPPER, MOUTH_PAIRS
from backend.face.model import load_template
from backend.motion.blinks import BlinkStats, blink_rate, closure_weight, find_blinks, generate_blinks
from backend.motion.data import MotionClip
from backend.motion.metrics import closed_share, silent_frames, sync_offset
from backend.motion.mouth import MouthModel
from backend.motion.personalization import rest_expression

FPS = 25.0


def _mouth() -> tuple[MouthModel, np.ndarray]:
    """The template's mouth and the unit coefficient vector that opens it most."""
    t = load_template()
    mouth = MouthModel.from_arrays(t.vertices, t.basis, MOUTH_PAIRS, np.concatenate([INNER_LIP_UPPER, INNER_LIP_LOWER]))
    base = mouth.opening(np.zeros((1, t.n_expr)))[0]
    gains = [mouth.opening(np.eye(t.n_expr)[k][None])[0] - base for k in range(t.n_expr)]
    k = int(np.argmax(np.abs(gains)))
    return mouth, np.eye(t.n_expr, dtype=np.float32)[k] * np.sign(gains[k])


@pytest.mark.parametrize("lag", [-3, 0, 2, 5])
def test_sync_offset_finds_the_lag(lag: int) -> None:
    rng = np.random.default_rng(0)
    true = np.convolve(rng.normal(size=400), np.ones(5) / 5, mode="same")
    pred = np.roll(true, lag) + rng.normal(0, 0.05, 400)  # pred[t + lag] == true[t]: late by lag
    assert sync_offset(pred, true) == lag


def test_closed_share_counts_only_pauses() -> None:
    activity = np.r_[np.ones(50), np.zeros(50), np.ones(50)]
    silent = silent_frames(activity, FPS)
    assert silent.sum() == 50 - 2 * round(0.15 * FPS)  # pause edges are not counted
    true = np.r_[np.linspace(1, 5, 50), np.zeros(50), np.linspace(5, 1, 50)]
    assert closed_share(true, true, silent) == 1.0
    assert closed_share(np.full(150, 3.0), true, silent) == 0.0  # a mouth that stays half open
    assert closed_share(true, true, np.zeros(150, bool)) is None


def test_blink_rate_and_closure_of_a_generated_track() -> None:
    weight = generate_blinks(int(120 * FPS), FPS, BlinkStats(15.0, 0.3, "test"), seed=4)
    assert blink_rate(weight, FPS) == pytest.approx(15.0, rel=0.35)
    events = find_blinks(1.0 - 0.8 * weight, FPS)
    closure = closure_weight(events)
    assert closure.max() == pytest.approx(1.0) and np.all(closure[weight == 0] == 0)
    assert np.corrcoef(closure, weight)[0, 1] > 0.95


def test_rest_shape_is_closed_when_the_mean_face_is_open() -> None:
    """A person who talks and pauses with an open smile, closing the lips for a few silent frames only: the
    rest face is the closed one, not the mean."""
    mouth, opener = _mouth()
    rng = np.random.default_rng(1)
    n = 400
    amount = np.clip(1.5 + 0.5 * rng.normal(size=n), 0.5, None)  # open most of the time
    activity = (rng.random(n) < 0.7).astype(np.float32)
    closed = rng.choice(np.flatnonzero(activity == 0), 30, replace=False)
    amount[closed] = 0.0
    expression = (amount[:, None] * opener[None]).astype(np.float32)
    clip = MotionClip("open", FPS, np.zeros((n, 1, 1), np.float32), activity, expression, np.zeros((n, 6), np.float32),
                      np.ones(n, bool), mouth, "test", [])
    rest = rest_expression(clip)
    o_rest = mouth.opening(rest[None])[0]
    o_closed = mouth.opening(np.zeros((1, len(opener))))[0]
    o_mean = mouth.opening(expression.mean(0)[None])[0]
    assert o_mean - o_closed > 0.003  # the average face is open by millimetres
    assert o_rest - o_closed < 0.1 * (o_mean - o_closed)
