"""A profile directory on the real MediaPipe topology: the shipped template (mean face, shared expression
basis, UVs) as the identity, a texture painted by UV, the test SH lighting, and tracks made of ARKit-like
motion so the ARKit solve has something true to find. Used by the add-on's ARKit, render and retarget tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from test_addon_synthetic import _png, write_wav

from backend.core.tracks import Tracks, save_tracks
from backend.face import arkit
from backend.face.model import load_template

WIDTH, HEIGHT, FOCAL = 512, 512, 600.0


def make_mp_profile(root: Path, frames: int = 50, fps: float = 25.0) -> Path:
    model = load_template()
    profile = root / "mp_profile"
    profile.mkdir(parents=True, exist_ok=True)
    model.save(profile / "face_model.npz")
    np.savez(profile / "fit.npz", camera=np.asarray([FOCAL, WIDTH / 2, HEIGHT / 2], np.float32))
    yy, xx = np.mgrid[0:128, 0:128]  # R grows with u, G with v (row 0 is v = 1)
    (profile / "texture.png").write_bytes(_png(np.stack([xx * 2, 255 - yy * 2, np.full_like(xx, 90)], -1)))
    sh = [[math.sqrt(4 * math.pi) * 0.9] * 3, [0.3] * 3, [0.6] * 3] + [[0.0] * 3] * 6
    (profile / "lighting.json").write_text(json.dumps({"sh": sh, "frame": "camera"}))
    write_wav(profile / "audio.wav", frames / fps)
    manifest = {"format": "talking-head-profile", "version": 1, "profile_id": "mp468test0001",
                "cache_key": "mp468test0001", "source": {"clip_name": "synthetic.mp4", "clip_sha256": "0" * 64,
                                                        "audio_sha256": None, "audio_source": "none"},
                "fps": fps, "frame_count": frames, "width": WIDTH, "height": HEIGHT, "face_model": model.model_id,
                "basis_names": model.basis_names, "software_version": "test", "created": "2026-01-01T00:00:00Z"}
    (profile / "manifest.json").write_text(json.dumps(manifest, indent=2))
    save_tracks(speech_like_tracks(model, frames, fps), profile / "tracks.json")
    return profile


def speech_like_tracks(model, frames: int = 50, fps: float = 25.0, seed: int = 0) -> Tracks:
    """Expression = rest + ARKit-shaped motion (jaw opening like syllables, some smile and pucker, a blink)."""
    rng = np.random.default_rng(seed)
    ak = arkit.arkit_basis(model.vertices, model.triangles, model.basis)
    t = np.arange(frames) / fps
    w = np.zeros((frames, len(ak.names)))
    w[:, ak.names.index("jawOpen")] = 0.45 * (1 + np.sin(2 * np.pi * 3.1 * t + rng.uniform(0, 6))) / 2
    w[:, ak.names.index("mouthSmileLeft")] = 0.3 * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
    w[:, ak.names.index("mouthSmileRight")] = 0.3 * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
    w[:, ak.names.index("mouthPucker")] = 0.4 * np.clip(np.sin(2 * np.pi * 0.9 * t), 0, 1)
    blink = np.exp(-((t - t[frames // 2]) / 0.06) ** 2)
    w[:, ak.names.index("eyeBlinkLeft")] = w[:, ak.names.index("eyeBlinkRight")] = blink
    rest = np.zeros(model.n_expr)
    expression = rest + w @ ak.shapes + 0.02 * rng.normal(size=(frames, model.n_expr))
    pose = np.tile([0.05, 0.1, 0.0, 0.0, 0.0, -0.55], (frames, 1)) + 0.01 * np.sin(t)[:, None]
    return Tracks(fps=fps, basis=list(model.basis_names), expression=expression.astype(np.float32),
                  pose=pose.astype(np.float32), profile_id="mp468test0001", face_model=model.model_id,
                  provenance={"source": "test"})


def install_untuned_motion_model(profile: Path) -> Path:
    """The shipped general motion model saved as this profile's 'personal' model without fine-tuning (the
    batch tests need `animate` to run for real, not to be good; personalising would take minutes)."""
    import torch

    from backend.face.model import models_dir
    from backend.motion.model import load_checkpoint, save_checkpoint
    from backend.motion.pose import fit_pose_style

    model, meta = load_checkpoint(models_dir() / "motion.pt")
    del torch
    fps = 25.0
    pose = np.tile([0.05, 0.1, 0.0, 0.0, 0.0, -0.55], (100, 1)) + 0.01 * np.sin(np.arange(100) / 7)[:, None]
    personal = {"kind": "personal", "init": "general:untuned-test", "face_model": meta["face_model"],
                "basis_names": meta["basis_names"], "profile_id": "mp468test0001", "fps": fps,
                "rest_expression": [0.0] * len(meta["basis_names"]),
                "pose_style": fit_pose_style(pose, fps, np.ones(100)).to_dict(), "clip_pose": pose.tolist()}
    return save_checkpoint(profile / "motion.pt", model, personal)
