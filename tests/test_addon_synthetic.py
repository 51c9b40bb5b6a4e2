"""A synthetic profile directory and tracks that follow docs/formats.md, so Blender-tier tests do not depend
on the analysis stage. Other add-on tests import `make_profile` / `make_tracks` from here; the tests below
check the synthetic data against both readers (the add-on's stdlib one and the backend's)."""

from __future__ import annotations

import json
import math
import struct
import wave
import zlib
from pathlib import Path

import numpy as np

from addon.data.formats import load_tracks as addon_load_tracks
from addon.data.profile import load_profile
from backend.core.tracks import Tracks, load_tracks, save_tracks

WIDTH, HEIGHT, FOCAL = 640, 480, 700.0


def _png(rgb: np.ndarray) -> bytes:
    """Minimal PNG writer (8-bit RGB) so the fixture needs no imaging library."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def face_mesh(rows: int = 9, cols: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An ellipsoid cap (face-sized, metres) as a grid: vertices, CCW-from-+z triangles, UVs in [0,1]."""
    u, v = np.meshgrid(np.linspace(0, 1, cols), np.linspace(0, 1, rows))
    x, y = (u - 0.5) * 0.15, (v - 0.5) * 0.2
    z = 0.06 * np.sqrt(np.clip(1 - (x / 0.09) ** 2 - (y / 0.12) ** 2, 0, 1))
    vertices = np.stack([x, y, z], -1).reshape(-1, 3).astype(np.float32)
    uvs = np.stack([u, v], -1).reshape(-1, 2).astype(np.float32)
    tris = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            a, b, d, e = r * cols + c, r * cols + c + 1, (r + 1) * cols + c, (r + 1) * cols + c + 1
            tris += [(a, b, e), (a, e, d)]  # x right, y up: counter-clockwise seen from +z
    return vertices, np.asarray(tris, dtype=np.int32), uvs


def make_profile(root: Path, *, k: int = 6, version: int = 1, profile_id: str = "5e7a1c0ffee0",
                 fps: float = 25.0, with_audio: bool = True, seed: int = 0) -> Path:
    """Write a complete synthetic profile directory (manifest, face_model.npz, fit.npz, texture, audio)."""
    rng = np.random.default_rng(seed)
    profile = root / f"profile_{profile_id}"
    profile.mkdir(parents=True, exist_ok=True)
    vertices, triangles, uvs = face_mesh()
    n = len(vertices)
    q, _ = np.linalg.qr(rng.normal(size=(n * 3, k)))  # orthonormal basis, a few mm per unit coefficient
    basis = (q.T.reshape(k, n, 3) * 0.004 * math.sqrt(n)).astype(np.float32)
    names = [f"exp_{i:02d}" for i in range(k)]
    np.savez(profile / "face_model.npz", vertices=vertices, triangles=triangles, uvs=uvs, basis=basis,
             basis_names=np.asarray(names), mouth_inner=np.arange(4, dtype=np.int32),
             mouth_pairs=np.asarray([[0, 2], [1, 3]], dtype=np.int32))
    t = 10
    np.savez(profile / "fit.npz", landmarks=np.zeros((t, 478, 3), np.float32), valid=np.ones(t, bool),
             pose_raw=np.zeros((t, 6), np.float32), pose=np.zeros((t, 6), np.float32),
             expression_raw=np.zeros((t, k), np.float32), expression=np.zeros((t, k), np.float32),
             camera=np.asarray([FOCAL, WIDTH / 2 + 12, HEIGHT / 2 - 8], np.float32),
             crop_256=np.zeros((t, 2, 3), np.float32), crop_512=np.zeros((t, 2, 3), np.float32))
    yy, xx = np.mgrid[0:64, 0:64]
    (profile / "texture.png").write_bytes(_png(np.stack([xx * 4, yy * 4, np.full_like(xx, 128)], -1)))
    (profile / "lighting.json").write_text(json.dumps({"sh": [[0.5, 0.5, 0.5]] + [[0.0] * 3] * 8}))
    if with_audio:
        write_wav(profile / "audio.wav", 2.0)
    manifest = {"format": "talking-head-profile", "version": version, "profile_id": profile_id,
                "cache_key": profile_id, "source": {"clip_name": "synthetic.mp4", "clip_sha256": "0" * 64,
                                                     "audio_sha256": None, "audio_source": "none"},
                "fps": fps, "frame_count": t, "width": WIDTH, "height": HEIGHT, "face_model": "synthetic-grid",
                "basis_names": names, "software_version": "test", "created": "2026-01-01T00:00:00Z"}
    (profile / "manifest.json").write_text(json.dumps(manifest, indent=2))
    save_tracks(make_tracks(names, frames=t, fps=fps, profile_id=profile_id, seed=seed + 1), profile / "tracks.json")
    return profile


def make_tracks(basis: list[str], *, frames: int = 50, fps: float = 25.0, profile_id: str = "5e7a1c0ffee0",
                seed: int = 1) -> Tracks:
    """Smooth random expression and a plausible head pose (small rotations, head ~0.6 m in front)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    phase = rng.uniform(0, 2 * np.pi, size=(len(basis), 1))
    expression = (1.5 * np.sin(2 * np.pi * 1.3 * t + phase) + 0.2 * rng.normal(size=(len(basis), frames))).T
    pose = np.stack([0.10 * np.sin(2 * np.pi * 0.7 * t), 0.25 * np.sin(2 * np.pi * 0.4 * t + 1),
                     0.05 * np.cos(2 * np.pi * 0.9 * t), 0.01 + 0.02 * np.sin(t), -0.015 + 0.01 * np.cos(t),
                     -0.6 - 0.05 * np.sin(0.5 * t)], -1)
    return Tracks(fps=fps, basis=list(basis), expression=expression.astype(np.float32),
                  pose=pose.astype(np.float32), profile_id=profile_id, face_model="synthetic-grid",
                  provenance={"source": "test"})


def write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def test_synthetic_profile_loads_in_the_addon_reader(tmp_path: Path) -> None:
    profile = load_profile(str(make_profile(tmp_path)))
    assert profile.basis.shape == (6, profile.vertices.shape[0], 3)
    assert profile.camera == (FOCAL, WIDTH / 2 + 12, HEIGHT / 2 - 8)
    assert profile.texture_path and profile.audio_path and profile.tracks_path
    # the triangles face +z (front), as the contract says
    v, f = profile.vertices, profile.triangles
    normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert (normals[:, 2] > 0).all()


def test_tracks_written_by_backend_read_identically_by_addon(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    ours = addon_load_tracks(str(profile / "tracks.json"))
    theirs = load_tracks(profile / "tracks.json")
    assert ours.basis == theirs.basis and ours.fps == theirs.fps
    np.testing.assert_array_equal(np.asarray(ours.expression, np.float32), theirs.expression)
    np.testing.assert_array_equal(np.asarray(ours.pose, np.float32), theirs.pose)
