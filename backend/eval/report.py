"""report.md of `talking-head eval`: the report.json numbers as readable tables plus the figures."""

from __future__ import annotations

from pathlib import Path

from backend.core.atomic import atomic_path

VIDEO_ROWS = (("psnr", "PSNR (dB, 256 px crop)"), ("ssim", "SSIM"), ("lmd_px", "mouth LMD (px at 256)"),
              ("lmd_px_centred", "mouth LMD, centred (px)"), ("identity_cos", "identity cosine (dlib)"),
              ("temporal_diff_ratio", "temporal diff ratio"))


def fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(report: dict) -> str:
    variants = [v for v in report["variants"] if not v.startswith("_")]
    lines = [f"# Evaluation: {report['clip']}", "",
             f"Target: the first {report['train_frames']} frames ({report['train_frames'] / report['fps']:.1f} s); "
             f"held out: {report['test_frames']} frames driven by their own speech ({report['audio']}). "
             "Metric definitions: docs/metrics.md.", ""]
    if report.get("general_model_saw_clip"):
        lines += ["**Warning:** the general motion model was trained on this clip, its held-out frames included: "
                  "the mouth figures below are not a measurement on an unseen person.", ""]
    lines += ["## Tracks", "", "| metric | value |", "|---|---|",
             f"| landmark_nme (target analysis) | {fmt(report['landmark_nme'], 4)} |",
             f"| mouth_corr | {fmt(report['mouth_corr'])} |",
             f"| mouth_lmd (mm) | {fmt(report['mouth_lmd_mm'])} |",
             f"| mouth_lmd_baseline (mm) | {fmt(report['mouth_lmd_baseline_mm'])} |",
             f"| pose_std_ratio | {' '.join(f'{k} {v:.2f}' for k, v in report['pose_std_ratio'].items())} |",
             f"| jerk_ratio | {fmt(report['jerk_ratio'])} |", "",
             "## Video (256 px face crops against the real held-out crops)", "",
             "| metric | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for key, label in VIDEO_ROWS:
        cells = ["missing" if "missing" in report["variants"][v] else fmt(report["variants"][v].get(key))
                 for v in variants]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Variants: `coarse_*` = rasterized face over matched background crops, no refiner; "
              "`*_predicted_pose` = animate's expression and sampled pose; `*_fitted_pose` = animate's expression "
              "with the held-out frames' fitted pose; `coarse_fitted_tracks` = fitted expression and pose (the "
              "renderer's ceiling). Missing: " + "; ".join(report["missing"]) + ".", "",
              "## Timings (s)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["timings"].items()]
    m = report["machine"]
    lines += ["", f"Machine: {m['cpu_count']} CPU cores, {m['platform']}, torch {m['torch']}, device {m['device']}"
              f"{', load average ' + str(m['load_average']) if 'load_average' in m else ''}.", "",
              "## Figures", "", "![motion curves](motion.png)", "", "![mouth opening on the videos](mouth_video.png)",
              "", "![frame strip](strip.png)", ""]
    return "\n".join(lines)


def write_markdown(path: Path, report: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(markdown(report))
