"""`talking-head render`: end to end on a synthetic profile (default tier) and on a real one (realdata);
decode the mp4 back; bad inputs give clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from backend import media
from backend.commands import main as cli_main
from backend.core.errors import UserError
from backend.core.tracks import Tracks, load_tracks, save_tracks
from backend.face.crops import crop_affines
from backend.face.model import load_template
from backend.face.posing import posed_vertices_np, project_np
from backend.render.shading import UNIFORM_WHITE
from backend.render.video import render_video

FPS = 25.0
T = 14
W, H = 192, 160
CAMERA = np.array([420.0, 96.0, 80.0], np.float32)
SKIN = (200, 150, 120)


def _clip_pose(n: int) -> np.ndarray:
    t = np.arange(n)
    pose = np.zeros((n, 6), np.float32)
    pose[:, 1] = np.radians(8 * np.sin(2 * np.pi * t / n))
    pose[:, 0] = np.radians(3 * np.cos(2 * np.pi * t / n))
    pose[:, 3] = 0.004 * np.sin(2 * np.pi * t / n)
    pose[:, 5] = -0.55
    return pose


def _write_clip(path: Path, n: int) -> None:
    yy, xx = np.mgrid[0:H, 0:W]
    with media.VideoWriter(path, FPS, W, H) as vw:
        for i in range(n):
            # a moving blue/green gradient: the background frame actually used is visible in the output
            img = np.stack([20 + 0 * xx, (60 + xx // 2 + 3 * i) % 256, 120 + yy // 2], -1).astype(np.uint8)
            vw.write(img)


def make_profile(root: Path, n: int = T) -> Path:
    """A minimal but complete profile directory (docs/formats.md) over a synthetic clip."""
    model = load_template()
    prof = root / "profile"
    prof.mkdir(parents=True)
    clip = root / "target.mp4"
    _write_clip(clip, n)
    pose = _clip_pose(n)
    k = model.n_expr
    centres = np.stack([project_np(posed_vertices_np(model.vertices, model.basis, np.zeros((1, k)), pose[i:i + 1])[0],
                                   CAMERA).mean(0) for i in range(n)])
    fit = {"landmarks": np.zeros((n, 478, 3), np.float32), "valid": np.ones(n, bool), "pose_raw": pose,
           "pose": pose, "expression_raw": np.zeros((n, k), np.float32), "expression": np.zeros((n, k), np.float32),
           "camera": CAMERA, "crop_256": crop_affines(centres, 150.0, 256), "crop_512": crop_affines(centres, 150.0, 512)}
    np.savez_compressed(prof / "fit.npz", **fit)
    model.save(prof / "face_model.npz")
    cv2.imwrite(str(prof / "texture.png"), np.full((512, 512, 3), SKIN[::-1], np.uint8))
    (prof / "lighting.json").write_text(json.dumps({"sh": [[UNIFORM_WHITE[i]] * 3 for i in range(9)]}))
    manifest = {"format": "talking-head-profile", "version": 1, "profile_id": "5e1f0000aaaabbbb", "cache_key": "x",
                "source": {"clip_name": clip.name, "clip_sha256": media.sha256_file(clip), "audio_sha256": None,
                           "audio_source": "none"},
                "fps": FPS, "frame_count": n, "width": W, "height": H, "face_model": model.model_id,
                "basis_names": model.basis_names}
    (prof / "manifest.json").write_text(json.dumps(manifest))
    return prof


def make_tracks(path: Path, n: int, profile_id: str = "5e1f0000aaaabbbb") -> Path:
    model = load_template()
    rng = np.random.default_rng(1)
    pose = _clip_pose(T)[::-1][np.arange(n) % T].copy()  # the clip's poses played backwards
    expr = rng.normal(0, 0.3, (n, model.n_expr)).astype(np.float32)
    return save_tracks(Tracks(fps=FPS, basis=model.basis_names, expression=expr, pose=pose, profile_id=profile_id,
                              face_model=model.model_id), path)


def make_audio(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * 16000)) / 16000
    media.write_wav(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("render")
    prof = make_profile(root)
    return {"root": root, "profile": prof, "clip": root / "target.mp4",
            "tracks": make_tracks(root / "tracks.json", T), "audio": make_audio(root / "speech.wav", T / FPS)}


def _decode(path: Path) -> tuple[media.VideoInfo, list[np.ndarray], float]:
    info = media.probe_video(path)
    frames = [f for _, f in media.iter_frames(path, info.fps)]
    return info, frames, len(media.load_audio(path, sr=16000)) / 16000


def test_render_writes_full_frames_with_audio(synthetic, tmp_path):
    out = tmp_path / "out.mp4"
    result = render_video(synthetic["profile"], synthetic["tracks"], synthetic["audio"], out, clip=synthetic["clip"])
    info, frames, audio_s = _decode(out)
    assert (info.width, info.height) == (W, H) and len(frames) == T == result.frames
    assert info.fps == pytest.approx(FPS)
    assert audio_s == pytest.approx(T / FPS, abs=0.03)
    clip_frames = [f for _, f in media.iter_frames(synthetic["clip"], FPS)]
    for i in (0, T // 2):
        src = clip_frames[result.plan.source[i]].astype(int)
        diff = np.abs(frames[i].astype(int) - src).sum(-1)
        # the face is drawn in the middle (skin-coloured: lots of red), the corners stay the background frame
        assert frames[i][80, 96, 0] > 120 and src[80, 96, 0] < 40
        assert diff[:12, :12].mean() < 15 and diff[-12:, -12:].mean() < 15  # codec noise only (sum of RGB)


def test_render_crop_only(synthetic, tmp_path):
    out = tmp_path / "crop.mp4"
    render_video(synthetic["profile"], synthetic["tracks"], synthetic["audio"], out, clip=synthetic["clip"],
                 size=256, crop_only=True)
    info, frames, _ = _decode(out)
    assert (info.width, info.height) == (256, 256) and len(frames) == T


def test_cli_render_without_a_trained_refiner_says_so(synthetic, tmp_path, capsys):
    out = tmp_path / "cli.mp4"
    code = cli_main(["--progress", "quiet", "render", str(synthetic["profile"]), str(synthetic["tracks"]),
                     str(synthetic["audio"]), "-o", str(out), "--clip", str(synthetic["clip"])])
    assert code == 0 and out.is_file()
    assert "has no trained refiner: rendering unrefined" in capsys.readouterr().err


def test_tracks_longer_than_audio_is_a_clear_error(synthetic, tmp_path):
    short = make_audio(tmp_path / "short.wav", T / FPS / 2)
    with pytest.raises(UserError, match=r"tracks are .* audio .* lasts only"):
        render_video(synthetic["profile"], synthetic["tracks"], short, tmp_path / "x.mp4", clip=synthetic["clip"])
    assert not (tmp_path / "x.mp4").exists()


def test_tracks_for_another_profile_is_a_clear_error(synthetic, tmp_path):
    other = make_tracks(tmp_path / "other.json", T, profile_id="0123456789abcdef")
    with pytest.raises(UserError, match="belong to profile 0123456789abcdef"):
        render_video(synthetic["profile"], other, synthetic["audio"], tmp_path / "x.mp4", clip=synthetic["clip"])


def test_wrong_or_missing_clip_is_a_clear_error(synthetic, tmp_path):
    wrong = tmp_path / "wrong.mp4"
    _write_clip(wrong, T + 3)
    with pytest.raises(UserError, match="not the clip"):
        render_video(synthetic["profile"], synthetic["tracks"], synthetic["audio"], tmp_path / "x.mp4", clip=wrong)
    with pytest.raises(UserError, match="--clip"):
        render_video(synthetic["profile"], synthetic["tracks"], synthetic["audio"], tmp_path / "x.mp4")


@pytest.mark.realdata
def test_render_real_profile_with_shared_audio(shared_data, tmp_path_factory):
    from backend.analysis.pipeline import analyze

    root = tmp_path_factory.mktemp("real_render")
    clip = shared_data / "video" / "address_man_10s_512.mp4"
    prof = analyze(clip, root / "profile", overlay=False)
    audio = shared_data / "audio" / "english_radio_8s.wav"
    own = load_tracks(prof / "tracks.json")  # 250 frames = 10 s: longer than the 8 s speech
    with pytest.raises(UserError, match="lasts only"):
        render_video(prof, prof / "tracks.json", audio, root / "x.mp4", clip=clip)
    n = int(media.audio_duration(audio) * own.fps)
    own.expression, own.pose = own.expression[:n], own.pose[:n]
    tracks = save_tracks(own, root / "tracks8.json")
    out = root / "out.mp4"
    render_video(prof, tracks, audio, out, clip=clip, size=256)
    info, frames, audio_s = _decode(out)
    assert len(frames) == n and info.fps == pytest.approx(own.fps) and (info.width, info.height) == (512, 512)
    assert audio_s == pytest.approx(n / own.fps, abs=0.05)
