"""Animate a profile analyzed from a real shared clip with real recordings of every awkward kind."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.motion import features
from backend.motion.animation import animate
from backend.motion.mouth import MouthModel
from backend.motion.personalization import SCRATCH, personalize

pytestmark = pytest.mark.realdata

RECORDINGS = ("german_9s_48k_24bit.wav", "very_quiet_4s.wav", "float32_11s.wav", "wav_data_named_mp3.mp3")


@pytest.fixture(scope="module")
def profile(shared_data: Path, tmp_path_factory) -> Path:
    if importlib.util.find_spec("backend.analysis.pipeline") is None:
        pytest.skip("the analyze stage (backend/analysis/pipeline.py) is not available yet")
    from backend.analysis.pipeline import analyze

    torch.set_num_threads(1)
    out = analyze(shared_data / "video" / "hdtf_woman_8s_512.mp4", tmp_path_factory.mktemp("real") / "hdtf",
                  overlay=False)
    personalize(out, cfg=replace(SCRATCH, steps=300))
    return out


@pytest.mark.parametrize("name", RECORDINGS)
def test_animate_real_recordings(profile: Path, shared_data: Path, name: str) -> None:
    path = shared_data / "audio" / name
    tracks = animate(profile, path)
    duration = features.load_speech(path).size / features.SR
    assert tracks.frame_count == features.frame_count(duration, tracks.fps)
    assert np.isfinite(tracks.expression).all() and np.isfinite(tracks.pose).all()
    opening = MouthModel.load(profile / "face_model.npz").opening(tracks.expression)
    assert opening.std() > 3e-4, f"{name}: the mouth barely moves ({opening.std() * 1000:.2f} mm std)"
    assert np.degrees(tracks.pose[:, :3].std(axis=0)).max() > 0.2, f"{name}: the head does not move"


def test_quiet_recording_moves_the_mouth_like_a_normal_one(profile: Path, shared_data: Path) -> None:
    mouth = MouthModel.load(profile / "face_model.npz")
    quiet = mouth.opening(animate(profile, shared_data / "audio" / "very_quiet_4s.wav").expression).std()
    normal = mouth.opening(animate(profile, shared_data / "audio" / "german_9s_48k_24bit.wav").expression).std()
    assert quiet > 0.5 * normal
