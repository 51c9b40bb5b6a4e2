"""The blink generator and measurement: rate and duration as asked, seeded, blinks at pauses, dips found in
an eyelid curve, and a basis-space shape that really closes the template's eyes."""

from __future__ import annotations

import numpy as np
import pytest

from backend.face.landmarks import MOUTH
from backend.face.model import load_template
from backend.motion.blinks import (
    POPULATION,
    BlinkStats,
    blink_shape_from_basis,
    eyelid_opening,
    find_blinks,
    generate_blinks,
    measure_blinks,
)

FPS = 25.0


@pytest.mark.parametrize(("rate", "duration"), [(20.0, 0.25), (8.0, 0.35), (30.0, 0.18)])
def test_generated_rate_and_duration_match_the_stats(rate: float, duration: float) -> None:
    counts, durations = [], []
    for seed in range(5):
        weight = generate_blinks(int(300 * FPS), FPS, BlinkStats(rate, duration, "test"), seed=seed)
        assert weight.min() >= 0.0 and weight.max() <= 1.0
        events = find_blinks(1.0 - 0.8 * weight, FPS)
        counts.append(len(events.peaks) / 5.0)  # 300 s = 5 min
        durations.extend(events.durations_s)
    assert np.mean(counts) == pytest.approx(rate, rel=0.15)
    assert np.median(durations) == pytest.approx(duration, abs=2.5 / FPS)  # within a frame or two


def test_same_seed_same_blinks_other_seed_other_blinks() -> None:
    a = generate_blinks(500, FPS, seed=3)
    assert np.array_equal(a, generate_blinks(500, FPS, seed=3))
    assert not np.array_equal(a, generate_blinks(500, FPS, seed=4))


def test_no_blink_is_cut_off_at_the_ends() -> None:
    for seed in range(20):
        weight = generate_blinks(60, FPS, BlinkStats(60.0, 0.3, "test"), seed=seed)
        assert weight[0] == 0.0 and weight[-1] < 0.05


def test_blinks_move_toward_pauses() -> None:
    frames = int(120 * FPS)
    activity = np.ones(frames, np.float32)
    pause = (np.arange(frames) % 30) < 12  # a 0.48 s pause every 1.2 s: 40 % of the time
    activity[pause] = 0.0
    peaks = []
    for seed in range(5):
        weight = generate_blinks(frames, FPS, POPULATION, seed=seed, activity=activity)
        onsets = np.flatnonzero((weight[1:] > 0) & (weight[:-1] == 0)) + 1
        peaks.extend(onsets.tolist())
    in_pause = np.mean(pause[np.clip(np.array(peaks) - 1, 0, frames - 1)])
    assert in_pause > 0.75  # by chance it would be about 0.4


def test_find_blinks_on_a_noisy_curve() -> None:
    rng = np.random.default_rng(0)
    weight = generate_blinks(int(60 * FPS), FPS, BlinkStats(15.0, 0.3, "test"), seed=1)
    true = find_blinks(1.0 - weight, FPS)
    drift = 0.3 + 0.02 * np.sin(np.arange(len(weight)) / 40.0)  # head pitch changes the apparent gap
    noisy = drift * (1.0 - 0.7 * weight) + rng.normal(0.0, 0.004, len(weight))
    found = find_blinks(noisy, FPS)
    assert abs(len(found.peaks) - len(true.peaks)) <= 1
    assert len(find_blinks(drift + rng.normal(0.0, 0.004, len(weight)), FPS).peaks) == 0  # no blinks, none found


def test_basis_shape_closes_the_template_eyes_and_keeps_the_mouth() -> None:
    model = load_template()
    shape = blink_shape_from_basis(model.vertices, model.basis)
    neutral, closed = model.shape(np.zeros(model.n_expr)), model.shape(shape)
    before, after = eyelid_opening(neutral[None])[0], eyelid_opening(closed[None])[0]
    assert after < 0.5 * before
    mouth_move = np.linalg.norm(closed[MOUTH] - neutral[MOUTH], axis=-1).max()
    assert mouth_move < 0.002  # under 2 mm


def test_measure_falls_back_to_population_without_blinks() -> None:
    model = load_template()
    frames = int(10 * FPS)
    still = np.repeat(model.shape(np.zeros(model.n_expr))[None], frames, axis=0)
    stats, shape = measure_blinks(still, np.zeros((frames, model.n_expr), np.float32), FPS, model.vertices,
                                  model.basis)
    assert stats == POPULATION and shape.shape == (model.n_expr,)


def test_measure_reads_rate_and_shape_from_a_blinking_face() -> None:
    """A synthetic clip of the template blinking with the basis shape: the measured rate is the true one and
    the regressed shape points the same way as the one that made it."""
    model = load_template()
    true_shape = blink_shape_from_basis(model.vertices, model.basis)
    frames = int(60 * FPS)
    weight = generate_blinks(frames, FPS, BlinkStats(18.0, 0.3, "test"), seed=2)
    rng = np.random.default_rng(5)
    expression = weight[:, None] * true_shape[None] + rng.normal(0, 0.05, (frames, model.n_expr)).astype(np.float32)
    verts = model.shape(expression)
    true_count = len(find_blinks(1.0 - weight, FPS).peaks)
    stats, shape = measure_blinks(verts, expression, FPS, model.vertices, model.basis)
    assert stats.source == "clip" and stats.events == true_count
    assert stats.rate_per_min == pytest.approx(true_count, rel=0.01)  # a 1-minute clip
    cos = float(shape @ true_shape / (np.linalg.norm(shape) * np.linalg.norm(true_shape)))
    assert cos > 0.95
