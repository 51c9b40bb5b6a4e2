"""Real MediaPipe on a real photograph shipped with scikit-image (public domain), and gap filling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from backend.analysis.tracking import FaceTracker, fill_gaps, frame_ranges, track_frames
from backend.core.errors import UserError


def test_mediapipe_finds_478_landmarks_on_a_real_face():
    tracker = FaceTracker()
    try:
        lm = tracker.process(data.astronaut())
    finally:
        tracker.close()
    assert lm is not None and lm.shape == (478, 3)
    iod = np.linalg.norm(lm[263, :2] - lm[33, :2])
    assert 40 < iod < 200  # the astronaut's face is ~150 px wide in the 512 px image


def test_no_face_is_refused_naming_the_problem():
    blank = np.full((256, 256, 3), 127, np.uint8)
    with pytest.raises(UserError, match="no usable face"):
        track_frames(((i, blank) for i in range(12)), 12, 25.0)


def test_long_gap_is_refused_with_frame_ranges():
    face, blank = data.astronaut(), np.zeros((512, 512, 3), np.uint8)
    frames = [face] * 5 + [blank] * 20 + [face] * 5
    with pytest.raises(UserError, match="frames 5-24"):
        track_frames(enumerate(frames), len(frames), 25.0)


def test_short_gaps_are_interpolated():
    lm = np.zeros((10, 2, 3), np.float32)
    lm[:, :, 0] = np.arange(10)[:, None]
    valid = np.ones(10, bool)
    valid[3:6] = False
    filled, too_long = fill_gaps(np.where(valid[:, None, None], lm, np.nan), valid, max_gap=3)
    assert not too_long
    np.testing.assert_allclose(filled[:, 0, 0], np.arange(10))
    assert frame_ranges(~valid) == [(3, 5)]


def test_two_faces_keep_the_main_person_and_say_so():
    """Two copies of the photograph, the larger on the left; the smaller one moves closer over time."""
    face = data.astronaut()[0:260, 100:360]
    frames = []
    for i in range(10):
        canvas = np.full((300, 540, 3), 200, np.uint8)
        canvas[20:280, 0:260] = face
        x = 320 - 4 * i
        canvas[60:240, x:x + 180] = cv2.resize(face, (180, 180))
        frames.append(canvas)
    result = track_frames(enumerate(frames), len(frames), 25.0)
    centres = result.landmarks[:, :468, :2].mean(1)
    assert (centres[:, 0] < 260).all(), "the larger (left) face must be kept in every frame"
    assert any("several faces" in note for note in result.notes)
