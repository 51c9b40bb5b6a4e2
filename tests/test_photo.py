"""`talking-head analyze PHOTO`: a profile from one image (real MediaPipe, real files), its bad inputs, and
(realdata) photo -> tracks -> video on the shared portraits."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from backend.commands import main
from backend.core.tracks import load_tracks
from backend.media import probe_video, write_wav

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def save(path: Path, rgb: np.ndarray) -> Path:
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(png.tobytes())  # by bytes: the name may say anything
    return path


def analyze(photo: Path, out: Path, capsys) -> tuple[int, str]:
    code = main(["--progress", "json", "analyze", str(photo), "-o", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(scope="module")
def photo_profile(tmp_path_factory) -> Path:
    """The astronaut portrait saved under a video's name: sniffed by content, analysed as a photo."""
    d = tmp_path_factory.mktemp("photo")
    assert main(["--progress", "quiet", "analyze", str(save(d / "portrait.mp4", astronaut())),
                 "-o", str(d / "profile")]) == 0
    return d / "profile"


def test_a_photo_named_mp4_becomes_a_photo_profile(photo_profile: Path) -> None:
    manifest = json.loads((photo_profile / "manifest.json").read_text())
    assert manifest["source"]["kind"] == "photo" and manifest["frame_count"] == 1
    quality = json.loads((photo_profile / "quality.json").read_text())
    assert quality["landmark_nme"] < 0.01 and quality["texture_coverage"] > 0.6
    assert 64 <= quality["face_px"] < 512
    for name in ("photo.png", "texture.png", "face_model.npz", "fit.npz", "overlay.png", "tracks.json"):
        assert (photo_profile / name).is_file(), name
    with np.load(photo_profile / "fit.npz") as fit:
        assert fit["pose"].shape == (1, 6) and fit["landmarks"].shape == (1, 478, 3)


def test_photo_profile_needs_no_personalize(photo_profile: Path, capsys) -> None:
    assert main(["--progress", "quiet", "personalize", str(photo_profile)]) == 2
    assert "made from one photo" in capsys.readouterr().err


def test_several_faces_largest_wins_and_is_said(tmp_path: Path, capsys) -> None:
    img = astronaut()
    canvas = np.full((512, 900, 3), 200, np.uint8)
    canvas[:, :512] = img
    small = cv2.resize(img[0:260, 120:380], (160, 160), interpolation=cv2.INTER_AREA)  # the face, smaller
    canvas[300:460, 680:840] = small
    code, out = analyze(save(tmp_path / "two.png", canvas), tmp_path / "p", capsys)
    assert code == 0, out
    assert "2 faces in the photo: used the largest" in out
    with np.load(tmp_path / "p" / "fit.npz") as fit:
        assert fit["landmarks"][0, :468, 0].mean() < 512  # the big face on the left


@pytest.mark.parametrize(("make", "needle"), [
    (lambda: np.full((300, 300, 3), (90, 140, 200), np.uint8), "no face found"),
    (lambda: cv2.resize(astronaut(), (150, 150), interpolation=cv2.INTER_AREA), "px across; analyze needs at least 64"),
    (lambda: np.zeros((1, 1, 3), np.uint8), "is only 1x1 px"),
])
def test_bad_photos_are_clear_errors_and_write_nothing(tmp_path: Path, capsys, make, needle: str) -> None:
    code, out = analyze(save(tmp_path / "in.png", make()), tmp_path / "p", capsys)
    assert code == 2 and needle in out
    assert not (tmp_path / "p").exists()
    assert not [p for p in tmp_path.iterdir() if p.name != "in.png"]  # no temporary left behind


def test_truncated_image_is_a_clear_error(tmp_path: Path, capsys) -> None:
    png = save(tmp_path / "whole.png", astronaut()).read_bytes()
    (tmp_path / "cut.png").write_bytes(png[:200])
    code, out = analyze(tmp_path / "cut.png", tmp_path / "p", capsys)
    assert code == 2 and "cannot be decoded" in out and not (tmp_path / "p").exists()


pytestmark_real = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is absent (team machines only)")


@pytest.mark.realdata
@pytestmark_real
@pytest.mark.parametrize("name", ["portrait_woman_474.png", "jpeg_data_named_png.png"])
def test_shared_portraits_become_photo_profiles(tmp_path: Path, name: str) -> None:
    assert main(["--progress", "quiet", "analyze", str(DATA / "image" / name), "-o", str(tmp_path / "p")]) == 0
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    quality = json.loads((tmp_path / "p" / "quality.json").read_text())
    assert manifest["source"]["kind"] == "photo"
    assert quality["face_px"] >= 64 and quality["texture_coverage"] > 0.6
    assert quality["face_psnr_same_frame"] > 28


@pytest.mark.realdata
@pytestmark_real
def test_photo_to_tracks_to_video(tmp_path: Path) -> None:
    from backend.media import load_audio

    speech = load_audio(DATA / "audio" / "english_radio_8s.wav", sr=16000)[: 16000 * 4]  # 4 s keep it short
    wav = tmp_path / "speech.wav"
    write_wav(wav, speech, 16000)
    profile, tracks, video = tmp_path / "p", tmp_path / "t.json", tmp_path / "v.mp4"
    assert main(["--progress", "quiet", "analyze", str(DATA / "image" / "portrait_woman_256.png"), "-o", str(profile)]) == 0
    assert main(["--progress", "quiet", "animate", str(profile), str(wav), "-o", str(tracks)]) == 0
    t = load_tracks(tracks)
    assert t.provenance["model"] == "prior" and "blink" in t.layers and t.frame_count == 100
    assert main(["--progress", "quiet", "render", str(profile), str(tracks), str(wav), "-o", str(video),
                 "--no-refine"]) == 0
    info = probe_video(video)
    assert info.has_audio and (info.width, info.height) == (256, 256)
    import av

    with av.open(str(video)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32)
    assert len(frames) == 100
    with np.load(profile / "fit.npz") as fit:
        lm = fit["landmarks"][0]
    x0, y0 = lm[[61, 291, 0, 17], :2].min(0).astype(int)
    x1, y1 = lm[[61, 291, 0, 17], :2].max(0).astype(int)
    mouth = frames[:, y0:y1 + 1, x0:x1 + 1].std(axis=0).mean()
    corner = frames[:, :24, :24].std(axis=0).mean()
    assert mouth > 8 and corner < 2  # the mouth talks, the photo's corner stays still
