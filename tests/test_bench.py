"""Bench bookkeeping: the stage meter's memory and time accounting, and the stage table's arithmetic."""

from __future__ import annotations

import time

import numpy as np
import pytest

from backend.eval.benchmark import stage_table
from backend.eval.memory import StageMeter, rss_mb


def test_meter_sees_a_stage_allocating_memory() -> None:
    with StageMeter() as meter:
        meter.label("small")
        time.sleep(0.05)
        meter.label("big")
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        time.sleep(0.1)
        del block
        meter.label("small")  # a label that comes back adds up
        time.sleep(0.05)
    big, small = meter.stats["big"], meter.stats["small"]
    assert big["peak_rss_mb"] - big["start_rss_mb"] >= 150
    assert small["peak_rss_mb"] - small["start_rss_mb"] < 150 or small["start_rss_mb"] < big["start_rss_mb"]
    assert small["wall_s"] >= 0.09 and big["wall_s"] >= 0.09
    assert rss_mb() > 0


def test_stage_table_splits_decode_out_of_track() -> None:
    stat = {"wall_s": 0.0, "cpu_s": 0.0, "start_rss_mb": 100.0, "peak_rss_mb": 100.0}
    stats = {"decode": {**stat, "wall_s": 2.0, "cpu_s": 1.0}, "analyze": {**stat, "wall_s": 0.5, "cpu_s": 0.5},
             "track": {**stat, "wall_s": 5.0, "cpu_s": 4.0}, "fit": {**stat, "wall_s": 10.0, "cpu_s": 9.0,
                                                                     "peak_rss_mb": 300.0},
             "texture": {**stat, "wall_s": 3.0, "cpu_s": 3.0}}
    out = stage_table(stats, {"personalize": "no speech"}, frames=100)
    assert out["track"]["s"] == 3.0 and out["track"]["cpu_s"] == 3.0 and out["track"]["per_frame_ms"] == 30.0
    assert out["analyze"]["s"] == pytest.approx(0.5 + 3.0 + 2.0 + 10.0 + 3.0)  # the whole analyze call
    assert out["analyze"]["peak_rss_mb"] == 300.0
    assert out["personalize"] == {"error": "no speech"}
