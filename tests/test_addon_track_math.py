"""Pure tracks <-> keyframe conversions of the add-on (no Blender needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from addon.data.track_math import (
    next_take_number,
    resample,
    resample_pose,
    resampled_count,
    source_frame_positions,
    take_action_names,
    unwrap,
)


def test_resample_equal_rates_is_an_exact_copy() -> None:
    rows = [[0.1234567, -2.0], [1.0, 3.0]]
    out = resample(rows, 25, 25)
    assert out == rows and out[0] is not rows[0]


@pytest.mark.parametrize("dst", [24.0, 30.0, 50.0, 23.976])
def test_resample_matches_linear_interpolation_in_time(dst: float) -> None:
    src = 25.0
    t_src = np.arange(40) / src
    signal = np.stack([np.sin(3 * t_src), t_src**2], -1)
    out = np.asarray(resample(signal.tolist(), src, dst))
    assert len(out) == resampled_count(40, src, dst)
    t_dst = np.arange(len(out)) / dst
    assert t_dst[-1] <= t_src[-1] + 1e-9 and t_dst[-1] > t_src[-1] - 1 / dst
    for c in range(2):
        np.testing.assert_allclose(out[:, c], np.interp(t_dst, t_src, signal[:, c]), atol=1e-12)


def test_resampled_count_keeps_exact_multiples() -> None:
    assert resampled_count(25, 25, 50) == 49
    assert resampled_count(26, 25, 24) == 25  # 1.0 s span -> 24 intervals
    assert resampled_count(1, 25, 30) == 1


def test_unwrap_removes_two_pi_jumps_only_in_angle_columns() -> None:
    rows = [[3.1, 0, 0, 10.0, 0, 0], [-3.1, 0, 0, -10.0, 0, 0], [-3.0, 0, 0, 0, 0, 0]]
    out = unwrap(rows)
    assert out[1][0] == pytest.approx(-3.1 + 2 * math.pi) and out[2][0] == pytest.approx(-3.0 + 2 * math.pi)
    assert out[1][3] == -10.0  # translation untouched


def test_resample_pose_interpolates_across_the_pi_seam_the_short_way() -> None:
    pose = [[math.pi - 0.05, 0, 0, 0, 0, 0], [-math.pi + 0.05, 0, 0, 0, 0, 0]]
    mid = resample_pose(pose, 1.0, 2.0)[1][0]
    assert mid == pytest.approx(math.pi)  # not 0, which would spin the head round


def test_source_frame_positions() -> None:
    assert source_frame_positions(3, 25, 50, 1) == [1, 3, 5]


def test_take_numbering() -> None:
    assert next_take_number([]) == 1
    assert next_take_number(["TH_take_001_shapes", "TH_take_007_pose", "Other", "TH_take_x_shapes"]) == 8
    assert take_action_names(12) == ("TH_take_012_shapes", "TH_take_012_pose")
