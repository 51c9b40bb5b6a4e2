"""`talking-head eval`: bad inputs refused up front; end to end on a short real clip, a valid report with every
key (realdata tier)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from backend import media
from backend.commands import main
from backend.eval.protocol import REFINED, RENDERED, REQUIRED_KEYS, VIDEO_METRICS


def test_eval_refuses_bad_inputs_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from backend.media.demo_clip import write_demo_clip

    silent = write_demo_clip(tmp_path / "silent.mp4", frames=80, with_audio=False)
    assert main(["eval", str(silent), "--train-frames", "20", "-o", str(tmp_path / "a"), "--progress", "quiet"]) == 2
    assert "no audio stream" in capsys.readouterr().err
    assert main(["eval", str(silent), "--train-frames", "60", "-o", str(tmp_path / "b"), "--progress", "quiet"]) == 2
    assert "need at least 110" in capsys.readouterr().err
    assert not (tmp_path / "a" / "work" / "full_profile").exists()


REFINER_STEPS = 150


@pytest.fixture(scope="module")
def report_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    clip = shared_data / "video" / "hdtf_woman_8s_512.mp4"
    # a short draft refiner training (docs/render.md has the full preset's figures)
    assert main(["eval", str(clip), "--train-frames", "120", "-o", str(out), "--progress", "quiet",
                 "--refiner-preset", "draft", "--refiner-steps", str(REFINER_STEPS)]) == 0
    return out


@pytest.mark.realdata
def test_report_has_every_key(report_dir: Path, shared_data: Path) -> None:
    report = json.loads((report_dir / "report.json").read_text())
    assert set(REQUIRED_KEYS) <= set(report)
    assert report["train_frames"] == 120 and report["test_frames"] >= 50
    # the shipped models/motion.pt was trained on hdtf (among others): the report must say whether it saw it
    from backend.media import sha256_file
    from backend.motion.evaluation import general_trained_on

    seen = sha256_file(shared_data / "video" / "hdtf_woman_8s_512.mp4") in general_trained_on(report["motion_init"],
                                                                                            None)
    assert report["general_model_saw_clip"] is seen
    if seen:
        assert "general motion model was trained on this clip" in (report_dir / "report.md").read_text()
    assert 0 < report["landmark_nme"] < 0.05
    assert -1 <= report["mouth_corr"] <= 1
    assert report["mouth_lmd"] > 0 and report["mouth_lmd_baseline"] > 0
    assert set(report["pose_std_ratio"]) == {"rx", "ry", "rz", "tx", "ty", "tz"}
    for metric in VIDEO_METRICS:
        for name in RENDERED + REFINED:
            value = report[metric][name]
            assert isinstance(value, float) and math.isfinite(value), (metric, name, value)
    assert report["missing"] == [] and report["timings"]["refiner_train_s"] > 0
    for name in RENDERED + REFINED:
        v = report["variants"][name]
        assert 10 < v["psnr"] < 60 and 0 < v["ssim"] <= 1 and v["identity_cos"] > 0.5
        assert v["lmd_frames_fraction"] > 0.8 and v["temporal_diff_ratio"] > 0
        assert (report_dir / f"{name}.mp4").is_file()
    assert all(v >= 0 for v in report["timings"].values()) and report["timings"]["total_s"] > 0


@pytest.mark.realdata
def test_fitted_tracks_beat_predicted_pose(report_dir: Path) -> None:
    """The renderer's ceiling (true expression and pose) must look more like the real frames than a video whose
    head pose was sampled, else the comparison is broken (e.g. frames out of step)."""
    v = json.loads((report_dir / "report.json").read_text())["variants"]
    assert v["coarse_fitted_tracks"]["lmd_px"] < v["coarse_predicted_pose"]["lmd_px"]


@pytest.mark.realdata
def test_refiner_beats_the_render_it_starts_from(report_dir: Path, tmp_path: Path) -> None:
    """Personalised on the clip's first 120 frames, the refiner makes the held-out frames (fitted tracks)
    closer to the real ones than the coarse render it starts from. Both without the inlays: they fill the eyes
    and mouth of either video from the same real frames (docs/render.md), which is not the refiner's work."""
    from backend.eval.protocol import video_metrics
    from backend.render.video import render_video

    report = json.loads((report_dir / "report.json").read_text())
    work, m = report_dir / "work", report["test_frames"]
    # the eval leaves the split and the real held-out crops in its work folder for the render benchmarks
    assert json.loads((work / "split.json").read_text()) == {"train_frames": report["train_frames"], "test_frames": m}
    real = np.load(work / "real_256.npy")
    assert real.shape == (m, 256, 256, 3) and real.dtype == np.uint8
    videos = {}
    for refine in (False, True):
        out = render_video(work / "target_profile", work / "coarse_fitted_tracks.json", work / "heldout_audio.wav",
                           tmp_path / f"refine_{refine}.mp4", clip=work / "target.mp4", size=256, crop_only=True,
                           refine=refine, inlays=False)
        assert out.refined == refine
        videos[refine] = np.stack([rgb for _, rgb in media.iter_frames(out.path, report["fps"])])[:m]
    metrics, _, _ = video_metrics(real[:len(videos[True])], {"coarse": videos[False], "refined": videos[True]})
    assert metrics["refined"]["psnr"] > metrics["coarse"]["psnr"]
    # and the product's own variants (inlays on both) are reported side by side
    v = report["variants"]
    assert {"psnr", "ssim"} <= set(v["refined_fitted_tracks"]) and {"psnr", "ssim"} <= set(v["coarse_fitted_tracks"])


@pytest.mark.realdata
def test_markdown_and_figures(report_dir: Path) -> None:
    text = (report_dir / "report.md").read_text()
    assert "| PSNR" in text and "refined_fitted_pose" in text and "![frame strip](strip.png)" in text
    for name in ("motion.png", "mouth_video.png", "strip.png"):
        assert (report_dir / name).stat().st_size > 1000
