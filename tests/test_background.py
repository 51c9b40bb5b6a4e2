"""Key-frame background matching on synthetic pose curves, pose adjustment, feathered compositing."""

from __future__ import annotations

import numpy as np

from backend.render.background import (
    adjust_pose,
    composite,
    feather_mask,
    interpolate_source,
    key_frames,
    match_frames,
    match_key_frames,
    plan_background,
)


def _pose(yaw_deg: np.ndarray, pitch_deg: np.ndarray | None = None) -> np.ndarray:
    t = len(yaw_deg)
    p = np.zeros((t, 6))
    p[:, 1] = np.radians(yaw_deg)
    if pitch_deg is not None:
        p[:, 0] = np.radians(pitch_deg)
    p[:, 5] = -0.5
    return p


def test_key_frames_are_the_window_extremes_of_a_sine():
    # yaw = 10 sin(2 pi t / 40): extremes at t = 10, 30, 50, 70 (max, min, max, min)
    t = np.arange(80)
    yaw = 10 * np.sin(2 * np.pi * t / 40)
    keys = key_frames(np.radians(np.stack([yaw, np.zeros(80), np.zeros(80)], 1)), window=8)
    assert keys.tolist() == [0, 10, 30, 50, 70, 79]


def test_key_frames_merge_channels_and_ignore_flat_stretches():
    t = np.arange(60)
    yaw = np.where(t < 30, 0.0, np.radians(5.0))  # one step: no strict extreme inside flat runs...
    pitch = np.radians(-8 * np.exp(-((t - 45) / 4.0) ** 2))  # ...and a pitch dip at 45
    keys = key_frames(np.stack([pitch, yaw, np.zeros(60)], 1), window=5)
    assert 45 in keys.tolist()
    # the step's first high frame (30) and the last low frame's neighbourhood are window extremes; the
    # middle of a flat run (e.g. 10 or 50) is never a key
    assert 10 not in keys.tolist() and 52 not in keys.tolist()
    assert keys[0] == 0 and keys[-1] == 59


def test_match_picks_the_clip_frame_with_the_closest_pose():
    clip_yaw = np.linspace(-20, 20, 41)  # clip frame i has yaw i - 20 degrees
    clip = _pose(clip_yaw)
    query = _pose(np.array([-20.0, 3.2, 14.6, 19.9]))
    assert match_frames(query, clip).tolist() == [0, 23, 35, 40]
    # frames the fit marked invalid are never picked
    allowed = np.ones(41, bool)
    allowed[23] = False
    assert match_frames(query, clip, allowed).tolist() == [0, 24, 35, 40]  # yaw 4 is nearer 3.2 than 2


def test_match_weighs_image_position():
    clip = _pose(np.zeros(3))
    clip[:, 3] = [-0.1, 0.0, 0.1]  # head left, centre, right at the same rotation
    query = _pose(np.zeros(1))
    query[:, 3] = 0.09
    assert match_frames(query, clip).tolist() == [2]


def test_key_matching_prefers_calm_background_among_equal_poses():
    # The clip repeats its pose cycle: frames i and i + 100 look the same. Key frames 5 apart must not jump
    # 100 clip frames ahead (20x playback) when an equally good match lies nearby.
    t = np.arange(200)
    clip = _pose(10 * np.sin(2 * np.pi * t / 100))
    keys = np.array([0, 5, 10])
    query = clip[[10, 115, 20]]  # pose of 115 equals that of 15
    np.testing.assert_allclose(clip[115], clip[15], atol=1e-12)
    assert match_key_frames(keys, query, clip).tolist() == [10, 15, 20]
    # a clearly better pose still wins over speed: yaw -10 degrees exists only at frames 75 and 175, while
    # frames 0-20 (calm playback) are all >= 0 degrees
    query2 = clip[[10, 75, 20]]
    picked = match_key_frames(keys, query2, clip)[1]
    assert 65 <= picked <= 75 and abs(np.degrees(clip[picked, 1]) + 10) < 0.5


def test_source_index_is_linear_between_keys():
    src = interpolate_source(11, np.array([0, 4, 10]), np.array([100, 108, 96]))
    assert src.tolist() == [100, 102, 104, 106, 108, 106, 104, 102, 100, 98, 96]


def test_plan_on_a_clip_that_contains_the_curve_maps_key_frames_to_their_twins():
    # The output's pose curve is the clip's frames 40..119 played in order: every key frame must be
    # matched to its twin in the clip, so the background plays exactly those frames.
    rng = np.random.default_rng(0)
    t = np.arange(200)
    clip = _pose(12 * np.sin(t / 9.0) + rng.normal(0, 0.01, 200), 5 * np.cos(t / 13.0))
    tracks = clip[40:120].copy()
    plan = plan_background(tracks, clip, fps=25.0)
    assert (plan.matched == plan.keys + 40).all()
    assert (plan.source == np.arange(80) + 40).all()
    np.testing.assert_allclose(plan.pose, tracks, atol=1e-6)


def test_adjust_pose_takes_translation_and_pulls_rotation_within_the_limit():
    pose = _pose(np.array([10.0, 30.0]))
    bg = _pose(np.array([6.0, 0.0]))
    bg[:, 3:] = [[0.01, 0.02, -0.6], [0.0, 0.0, -0.4]]
    out = adjust_pose(pose, bg, rotation_weight=0.5, max_gap_deg=6.0)
    np.testing.assert_allclose(out[:, 3:], bg[:, 3:], atol=1e-7)
    np.testing.assert_allclose(np.degrees(out[:, 1]), [8.0, 6.0], atol=1e-5)  # halfway; clamped to 6 degrees


def test_feathered_composite_keeps_inside_and_outside():
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    alpha = feather_mask(mask, feather_px=6)
    assert alpha[32, 32] > 0.999 and alpha[2, 2] == 0.0
    assert (alpha[~mask] < 0.05).all()  # the ramp lies inside the silhouette: no halo
    ramp = alpha[32, 10:40]
    assert (np.diff(ramp[:15]) >= -1e-6).all() and 0.2 < alpha[32, 17] < 0.9
    face = np.full((64, 64, 3), 1.0, np.float32)
    bg = np.zeros((64, 64, 3), np.uint8)
    out = composite(face, alpha, bg)
    assert out[32, 32].tolist() == [255, 255, 255] and out[2, 2].tolist() == [0, 0, 0]


def test_plan_handles_a_single_frame_and_a_one_frame_clip():
    clip = _pose(np.array([3.0]))
    plan = plan_background(_pose(np.array([4.0, 5.0, 6.0])), clip, fps=30.0)
    assert plan.source.tolist() == [0, 0, 0]
    plan = plan_background(_pose(np.array([4.0])), _pose(np.array([9.0, 4.1, 0.0])), fps=25.0)
    assert plan.keys.tolist() == [0] and plan.source.tolist() == [1]


def test_playback_stats_count_reversals_holds_and_jumps():
    from backend.render.background import playback_stats

    src = np.array([0, 1, 2, 2, 2, 2, 3, 7, 6, 5, 6, 7])  # a 4-frame hold, a jump of 4, two turns
    s = playback_stats(src)
    per = 100 / len(src)
    assert s["holds_per_100"] == round(per, 2) and s["longest_hold"] == 4
    assert s["jumps_per_100"] == round(per, 2) and s["largest_jump"] == 4
    assert s["reversals_per_100"] == round(2 * per, 2)


def test_playback_plays_forward_where_the_key_frame_path_judders():
    # Output and clip poses are the same kind of slow noisy sway at different rates: the key-frame path plays
    # half of it backwards with a 10-frame hold (as the issue saw on real clips); the playback path must run
    # forward at real speed instead.
    from backend.render.background import playback_stats

    rng = np.random.default_rng(2)
    t = np.arange(300)
    clip = _pose(4 * np.sin(t / 15.0) + rng.normal(0, 0.3, 300), 2 * np.cos(t / 23.0))
    out = _pose(4 * np.sin(t[:200] / 13.0 + 1) + rng.normal(0, 0.3, 200), 2 * np.cos(t[:200] / 19.0))
    old = playback_stats(plan_background(out, clip, 25.0, method="keyframes").source)
    new_plan = plan_background(out, clip, 25.0)
    new = playback_stats(new_plan.source)
    assert old["backward_fraction"] > 0.3 and old["longest_hold"] >= 5
    assert new["jumps_per_100"] == 0 and new["longest_hold"] <= 2 and new["reversals_per_100"] <= 1.0
    assert new["backward_fraction"] < 0.05
    # the pose it trades against stays close: the rendered rotation moves a few degrees at most
    assert np.degrees(np.abs(new_plan.pose[:, 1] - out[:, 1])).max() <= 6.0 + 1e-6
