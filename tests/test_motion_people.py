"""Who is who in a training folder: person keys from clip names, a leave-out split that never puts one
person on both sides, and sampling weights that keep one big corpus from dominating."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.motion.people import leave_out, person_of, sampling_weights, spread_over_people

# the layout of ../shared/data/train (names only; the default tier needs no data)
TRAIN = [Path("train/clips") / n for n in (
    "feifei1_10s_256.mp4", "feifei2_15s_256.mp4", "feifei3_7s_256.mp4", "noem_18s_256.mp4", "hdtf_lieu_60s_256.mp4",
    "hdtf_radio2_8s.mp4", "hdtf_radio34_8s.mp4", "cnn_anchor_71s_512.mp4", "vox_00086_5s_224.mp4",
    "vox_00373_5s_224.mp4", "old_man_7s_480.mp4")] + [Path("train/grid_s1") / f"{s}.mp4" for s in
                                                     ("bbaf2n", "bbaf3s", "lwae8n", "swwp2s")]


def test_person_keys() -> None:
    assert {person_of(p) for p in TRAIN[:3]} == {"feifei"}  # one woman, three clips
    assert {person_of(p) for p in TRAIN if p.parent.name == "grid_s1"} == {"grid_s1"}  # one speaker's corpus
    assert person_of(TRAIN[3]) == "noem" and person_of(TRAIN[4]) == "hdtf_lieu"
    assert person_of(TRAIN[8]) != person_of(TRAIN[9])  # two VoxCeleb people stay apart


@pytest.mark.parametrize("people", [["feifei"], ["noem", "hdtf_lieu", "feifei"], ["feifei2_15s_256.mp4"],
                                    ["grid_s1"], ["hdtf_*"]])
def test_leave_out_never_puts_a_person_on_both_sides(people: list[str]) -> None:
    train, held = leave_out(TRAIN, people)
    assert held and train
    assert sorted(train + held) == sorted(TRAIN)
    assert not {person_of(p) for p in train} & {person_of(p) for p in held}
    if people == ["feifei2_15s_256.mp4"]:  # naming one clip takes that person's other clips out too
        assert {p.name for p in held} == {"feifei1_10s_256.mp4", "feifei2_15s_256.mp4", "feifei3_7s_256.mp4"}


def test_one_big_corpus_does_not_dominate() -> None:
    people = ["grid"] * 1000 + [f"p{i}" for i in range(20)]
    frames = [75] * 1000 + [400] * 20
    w = np.asarray(sampling_weights(people, frames))
    grid_share = w[:1000].sum() / w.sum()
    frame_share = 75_000 / (75_000 + 8_000)
    assert frame_share > 0.9 and grid_share < 0.15  # 90 % of the frames, at most three median persons
    np.testing.assert_allclose(grid_share, 3 / 23)  # exactly the cap: 3 of 23 median-person units
    np.testing.assert_allclose(w[:1000], w[0])  # within a person, by length


def test_the_cap_leaves_people_under_it_on_the_square_root() -> None:
    people = ["a", "b", "b", "c", "d"]
    frames = [100, 200, 200, 900, 400]  # person totals 100, 400, 900, 400: sqrt 10, 20, 30, 20; cap 60
    w = np.asarray(sampling_weights(people, frames))
    np.testing.assert_allclose([w[0], w[1] + w[2], w[3], w[4]], [10, 20, 30, 20])
    np.testing.assert_allclose(w[1], w[2])


def test_statistics_sample_counts_people_not_clips() -> None:
    people = ["grid_s1"] * 1000 + [f"p{i}" for i in range(20)] + ["feifei", "feifei"]
    items = list(range(len(people)))
    sample = spread_over_people(items, people, 32)
    picked = [people[i] for i in sample]
    assert len(sample) == 32 and len(set(sample)) == 32
    assert set(picked) == set(people)  # every one of the 22 people is in it
    assert picked.count("grid_s1") == 10 and picked.count("feifei") == 2  # the rest in turns, in order
    # each person's first clip in the order they appear, then second clips, then GRID's alone
    assert sample == [0, *range(1000, 1021), 1, 1021, *range(2, 10)]
    assert spread_over_people(items[:3], people[:3], 32) == [0, 1, 2]  # fewer items than asked: all of them
