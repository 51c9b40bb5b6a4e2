"""eval-motion: analyze a clip, personalise on its first N frames, animate the rest from its audio alone,
and compare with the rest's fitted tracks (metrics in backend/motion/metrics.py, docs/motion.md)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.core.atomic import atomic_path, write_json
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.core.tracks import POSE_CHANNELS
from backend.motion import features
from backend.motion.animation import animate_samples, load_personal, recording_gain
from backend.motion.blinks import blink_rate
from backend.motion.data import MotionClip, load_clip, read_manifest
from backend.motion.metrics import motion_report
from backend.motion.model import MotionConfig
from backend.motion.personalization import personalize
from backend.motion.train import TrainConfig

TARGETS = {"mouth_corr_min": 0.65, "mouth_lmd_reduction_min": 0.25, "mouth_open_std_ratio_range": [0.8, 1.25],
           "sync_offset_frames_max": 1, "pose_std_ratio_range": [0.7, 1.3], "jerk_ratio_max": 1.2,
           "blink_rate_ratio_range": [0.5, 2.0]}


def check_targets(report: dict) -> dict:
    lo, hi = TARGETS["pose_std_ratio_range"]
    s_lo, s_hi = TARGETS["mouth_open_std_ratio_range"]
    b_lo, b_hi = TARGETS["blink_rate_ratio_range"]
    blink = report.get("blink_rate_ratio")
    return {
        "mouth_corr": report["mouth_corr"] >= TARGETS["mouth_corr_min"],
        "mouth_lmd": report["mouth_lmd_reduction"] >= TARGETS["mouth_lmd_reduction_min"],
        "mouth_open_std_ratio": s_lo <= report["mouth_open_std_ratio"] <= s_hi,
        "sync_offset_frames": abs(report["sync_offset_frames"]) <= TARGETS["sync_offset_frames_max"],
        "pose_std_ratio": all(lo <= v <= hi for v in report["pose_std_ratio"].values()),
        "jerk_ratio": report["jerk_ratio"] <= TARGETS["jerk_ratio_max"],
        "blink_rate_ratio": blink is not None and b_lo <= blink <= b_hi,
    }


def evaluate_motion(clip: Path, out_dir: Path, speech: Path | None = None, train_frames: int = 300,
                    profile: Path | None = None, general: Path | None = None, scratch: bool = False,
                    seed: int = 0, progress: Progress = QUIET) -> dict:
    from backend.analysis.pipeline import analyze

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = analyze(clip, profile or out_dir / "profile", audio=speech, progress=progress, overlay=False)
    report = evaluate_profile(profile, out_dir, train_frames, general, scratch, seed, progress=progress)
    report["audio"] = Path(speech).name if speech else "clip"
    write_json(out_dir / "motion_report.json", report)
    return report


@dataclass
class HeldOut:
    """A profile split as eval-motion splits it: frames before `train_frames` personalise, the rest are
    predicted from their own speech (`test_audio`) and compared with the fitted face as seen (`truth`, blinks
    included; `clip` has them taken out, as the model is trained)."""

    clip: MotionClip
    truth: MotionClip
    train_frames: int
    test_audio: np.ndarray

    @classmethod
    def load(cls, profile: Path, train_frames: int) -> HeldOut:
        clip = load_clip(profile)
        samples = features.load_speech(profile / "audio.wav")
        return cls(clip, load_clip(profile, speech_only=False), train_frames,
                   samples[int(round(train_frames / clip.fps * features.SR)):])

    @property
    def true_expr(self) -> np.ndarray:
        return self.truth.expression[self.train_frames:]

    @property
    def true_pose(self) -> np.ndarray:
        return self.clip.pose[self.train_frames:]

    @property
    def baseline(self) -> np.ndarray:
        """The mean-face prediction: the training frames' mean expression."""
        return self.truth.expression[:self.train_frames].mean(axis=0)


def load_runs(profile: Path, runs: list[Path]) -> tuple[HeldOut, list[dict]]:
    """eval-motion output folders of one profile (e.g. other seeds, for benchmarks that re-animate their
    personal models): their reports and the held-out split they share."""
    reports = [json.loads((r / "motion_report.json").read_text()) for r in runs]
    train_frames = {int(r["train_frames"]) for r in reports}
    if len(train_frames) != 1:
        raise UserError(f"the runs used different --train-frames: {sorted(train_frames)}",
                        hint="compare runs of one eval-motion setting")
    return HeldOut.load(profile, train_frames.pop()), reports


def evaluate_profile(profile: Path, out_dir: Path, train_frames: int = 300, general: Path | None = None,
                     scratch: bool = False, seed: int = 0, cfg: TrainConfig | None = None,
                     model_cfg: MotionConfig | None = None,
                     progress: Progress = QUIET) -> dict:
    """eval-motion on an existing profile: personalise on the first frames, predict the rest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(profile)
    n_total = int(manifest["frame_count"])
    if n_total < train_frames + 50:
        raise UserError(f"{profile} has {n_total} frames: need at least {train_frames + 50} to train on "
                        f"{train_frames} and test on the rest", hint="use a longer clip or lower --train-frames")
    result = personalize(profile, out=out_dir / "motion.pt", train_frames=train_frames, general=general,
                         scratch=scratch, seed=seed, cfg=cfg, model_cfg=model_cfg,
                         progress=progress)
    model, meta = load_personal(profile, out_dir / "motion.pt")
    held = HeldOut.load(profile, train_frames)
    full, fps, test_audio = held.clip, held.clip.fps, held.test_audio
    t0 = time.monotonic()
    layers: dict = {}
    expr, pose = animate_samples(model, meta, test_audio, fps, "predicted", seed=seed, layers=layers)
    animate_s = time.monotonic() - t0
    true_expr, true_pose = held.true_expr, held.true_pose
    report = score_heldout(full, expr, layers, true_expr, pose, true_pose, held.baseline, test_audio)
    raw, _ = animate_samples(model, meta, test_audio, fps, "predicted", seed=seed, blinks=False, mouth_gain=1.0)
    raw_report = motion_report(full.mouth, raw, true_expr, pose, true_pose, held.baseline)
    report["without_mouth_gain"] = {k: raw_report[k] for k in ("mouth_corr", "mouth_lmd_reduction",
                                                                "mouth_open_std_ratio", "sync_offset_frames")}
    # diagnostic: the gain that would have matched the test frames' range exactly (not known at animate time)
    report["mouth_gain_oracle"] = round(1.0 / max(raw_report["mouth_open_std_ratio"], 1e-9), 3)
    centre = np.asarray(meta.get("mouth_centre", meta["rest_expression"]), np.float32)
    activity = features.speech_features(test_audio).frame_activity(len(raw), fps)
    report["mouth_gain_recording"] = round(recording_gain(meta, raw, centre, activity), 3)
    report.update({
        "clip": manifest.get("source", {}).get("clip_name", profile.name),
        "fps": fps,
        "train_frames": train_frames,
        "test_frames": report["frames"],
        "init": result.init,
        "personalize_s": round(result.seconds, 1),
        "animate_s": round(animate_s, 3),
        "animate_realtime_factor": round(len(test_audio) / features.SR / max(animate_s, 1e-9), 1),
        "best_step": result.history.best_step,
        **({"member_best_steps": [h.best_step for h in result.histories]} if len(result.histories) > 1 else {}),
        "mouth_gain": meta.get("mouth_gain", 1.0),
        "blink_source": full.blink_stats.source,
        # what a perfect copy of the training frames' pose style would score: std(train) / std(test)
        "pose_std_ratio_train_vs_test": {c: round(float(a / max(b, 1e-12)), 4) for c, a, b in zip(
            POSE_CHANNELS, full.pose[:train_frames].std(axis=0), true_pose.std(axis=0), strict=True)},
    })
    if general_model_saw(manifest, result.init, general):
        report["warning"] = "the general model was trained on this clip: the test frames leaked into training"
    report["targets"] = TARGETS
    report["pass"] = check_targets(report)
    write_json(out_dir / "motion_report.json", report)
    plot_eval(full.mouth.opening(expr), full.mouth.opening(true_expr[: len(expr)]), pose, true_pose[: len(pose)],
              fps, train_frames, out_dir / "motion_eval.png", report)
    return report


def score_heldout(clip: MotionClip, expr: np.ndarray, layers: dict, true_expr: np.ndarray, pose: np.ndarray,
                  true_pose: np.ndarray, baseline: np.ndarray, test_audio: np.ndarray) -> dict:
    """motion_report for animated held-out frames, with the silent-frame shares (the test audio's voice
    activity) and the blink rate against the clip's own (None when the clip showed too few blinks)."""
    fps = clip.fps
    activity = features.speech_features(test_audio).frame_activity(len(expr), fps)
    pred_blinks = blink_rate(layers["blink"].weight, fps) if "blink" in layers else 0.0
    own = clip.blink_stats.rate_per_min if clip.blink_stats.source == "clip" else None
    return motion_report(clip.mouth, expr, true_expr, pose, true_pose, baseline, activity=activity, fps=fps,
                         pred_blink_rate=pred_blinks, true_blink_rate=own)


def general_trained_on(init: str, general: Path | None) -> set[str]:
    """sha256 of the clips the general model behind `init` ("general:<sha>") was trained on (empty: scratch)."""
    if not init.startswith("general:"):
        return set()
    from backend.motion.model import load_checkpoint
    from backend.motion.personalization import general_model_path

    _, meta = load_checkpoint(general or general_model_path())
    return {sha for sha in meta.get("trained_on", []) if sha}  # profiles without a source clip have none


def general_model_saw(manifest: dict, init: str, general: Path | None) -> bool:
    """Whether the general model behind `init` was trained on the clip of the profile with `manifest`."""
    return manifest.get("source", {}).get("clip_sha256") in general_trained_on(init, general)


def plot_eval(pred_open: np.ndarray, true_open: np.ndarray, pred_pose: np.ndarray, true_pose: np.ndarray,
              fps: float, offset: int, path: Path, report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(pred_open), len(true_open))
    t = (offset + np.arange(n)) / fps
    fig, axes = plt.subplots(4, 1, figsize=(10, 8), dpi=90, sharex=True)
    axes[0].plot(t, 1000 * true_open[:n], label="true (fitted)", color="k", lw=1)
    axes[0].plot(t, 1000 * pred_open[:n], label="predicted", color="tab:red", lw=1)
    axes[0].set_ylabel("inner-lip opening (mm)")
    axes[0].set_title(f"{report['clip']}: mouth_corr {report['mouth_corr']:.2f}, mouth_lmd "
                      f"{report['mouth_lmd_mm']:.2f} mm (baseline {report['mouth_lmd_baseline_mm']:.2f}), "
                      f"jerk_ratio {report['jerk_ratio']:.2f}")
    axes[0].legend(loc="upper right")
    for i, name in enumerate(("rx (pitch)", "ry (yaw)", "rz (roll)")):
        ax = axes[i + 1]
        ax.plot(t, np.degrees(true_pose[:n, i]), color="k", lw=1)
        ax.plot(t, np.degrees(pred_pose[:n, i]), color="tab:blue", lw=1)
        ax.set_ylabel(f"{name} (deg)")
    axes[-1].set_xlabel("time in the clip (s); frames before the start were used for training")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def summary_line(report: dict) -> str:
    p = report["pose_std_ratio"]
    return (f"{report['clip']}: mouth_corr {report['mouth_corr']:.3f}  mouth_lmd {report['mouth_lmd_mm']:.2f} mm "
            f"vs baseline {report['mouth_lmd_baseline_mm']:.2f} mm ({100 * report['mouth_lmd_reduction']:.0f} % "
            f"lower)  pose_std_ratio " + " ".join(f"{k} {v:.2f}" for k, v in p.items()) +
            f"  jerk_ratio {report['jerk_ratio']:.2f}  mouth_open_std_ratio {report['mouth_open_std_ratio']:.2f}  "
            f"sync_offset_frames {report['sync_offset_frames']}  blink_rate_ratio {report.get('blink_rate_ratio')}  "
            f"silent_closed_share {report.get('silent_closed_share')} (true {report.get('silent_closed_share_true')})"
            f"  pass {json.dumps(report['pass'])}")
