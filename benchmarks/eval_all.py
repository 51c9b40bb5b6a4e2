"""`make eval`: `talking-head eval` over every clip in ../shared/data/video, one summary table printed and
written to docs/evaluation.md. Each clip runs in its own process (memory and failures stay per clip); its
report directory (.cache/eval/<clip>) keeps the analysed profiles, so a rerun reuses them.

    .venv/bin/python benchmarks/eval_all.py [--clips NAME ...] [--train-frames 300] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend import media  # noqa: E402
from backend.core.atomic import atomic_path  # noqa: E402
from backend.eval.report import fmt  # noqa: E402

DATA = Path(os.environ.get("TALKING_HEAD_SHARED_DATA", ROOT.parent / "shared" / "data"))
OUT = ROOT / ".cache" / "eval"
DOC = ROOT / "docs" / "evaluation.md"
MIN_TEST = 50
LEAK_MARK = " (seen)"
COLUMNS = ("clip", "N / test", "landmark_nme", "mouth_corr", "mouth_lmd mm (base)", "pose_std_ratio rx/ry/rz",
           "jerk_ratio", "psnr fit / pred / ceil", "ssim fit / pred / ceil", "lmd_px fit / pred / ceil",
           "identity_cos fit", "temporal_diff_ratio fit", "refined ceil psnr / ssim", "total s")


def train_frames_for(total: int, wanted: int) -> int:
    """`wanted` target frames, fewer on short clips so at least 40 % (and 50 frames) stay held out."""
    return max(10, min(wanted, round(0.6 * total), total - MIN_TEST))


def speech_for(clip: Path) -> Path | None:
    if media.probe_video(clip).has_audio:
        return None
    wav = clip.with_suffix(".wav")
    return wav if wav.is_file() else None


def run_clip(clip: Path, wanted: int) -> dict:
    fps = media.default_fps(media.probe_video(clip).fps)
    n = train_frames_for(media.count_frames(clip, fps), wanted)
    out = OUT / clip.stem
    cmd = [sys.executable, "-m", "backend", "eval", str(clip), "--train-frames", str(n), "-o", str(out),
           "--progress", "quiet"]
    speech = speech_for(clip)
    if speech:
        cmd += ["--audio", str(speech)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"clip": clip.name, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads((out / "report.json").read_text())


def row(r: dict) -> list[str]:
    if "error" in r:
        return [r["clip"], "failed: " + r["error"]] + [""] * (len(COLUMNS) - 2)
    v = r["variants"]
    trio = ("coarse_fitted_pose", "coarse_predicted_pose", "coarse_fitted_tracks")

    def three(key: str, digits: int) -> str:
        return " / ".join(fmt(v[name].get(key), digits) for name in trio)

    p = r["pose_std_ratio"]
    seen = LEAK_MARK if r.get("general_model_saw_clip") else ""
    return [r["clip"] + (" (+wav)" if r["audio"] != "clip" else ""), f"{r['train_frames']} / {r['test_frames']}",
            fmt(r["landmark_nme"], 4), fmt(r["mouth_corr"], 2) + seen,
            f"{r['mouth_lmd_mm']:.2f} ({r['mouth_lmd_baseline_mm']:.2f})" + seen,
            f"{p['rx']:.2f}/{p['ry']:.2f}/{p['rz']:.2f}", fmt(r["jerk_ratio"], 2), three("psnr", 1),
            three("ssim", 3), three("lmd_px", 2), fmt(v["coarse_fitted_pose"]["identity_cos"], 3),
            fmt(v["coarse_fitted_pose"]["temporal_diff_ratio"], 2), refined(v.get("refined_fitted_tracks", {})),
            f"{r['timings']['total_s']:.0f}"]


def refined(v: dict) -> str:
    return "missing" if not v or "missing" in v else f"{fmt(v.get('psnr'), 1)} / {fmt(v.get('ssim'), 3)}"


def table(results: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(r)) + " |" for r in results]
    return "\n".join(lines)


def document(results: list[dict]) -> str:
    ok = [r for r in results if "error" not in r]
    machine = ok[0]["machine"] if ok else {}
    loads = sorted({tuple(r["machine"].get("load_average", [])) for r in ok})
    return "\n".join([
        "# Evaluation on the shared clips", "",
        f"Written by `make eval` (`benchmarks/eval_all.py`) on {dt.date.today().isoformat()}. Protocol and every "
        "metric: [metrics.md](metrics.md). Per clip the first N frames are the target (N = 300, or 60 % of a "
        "shorter clip), the rest is driven by its own speech and compared with the real frames. "
        "`fit / pred / ceil` = the coarse (unrefined) 256 px render with animate's expression and the fitted head "
        "pose / with the sampled pose / with the fitted expression and pose (the renderer's ceiling); `refined "
        "ceil` = the fitted tracks through the refiner personalised on the target frames (draft preset on the "
        "CPU; docs/render.md).", "",
        table(results), "",
        "`(seen)`: the general motion model (`models/motion.pt`) was trained on this clip, its test frames "
        "included, so its mouth figures are not a measurement on an unseen person. Clips without the mark are not "
        "in its data; the leave-out figures on more people are in [motion.md](motion.md#measured-results).", "",
        f"Machine: {machine.get('cpu_count', '?')} CPU cores, torch {machine.get('torch', '?')}, "
        f"{machine.get('device', 'cpu')}; shared with other engineers' jobs while measuring (load averages at the "
        f"end of each clip: {', '.join(str(list(x)) for x in loads) or 'n/a'}), so the times are upper bounds. "
        "GPU: not measured (no GPU lent).", ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="*", help="clip file names (default: every .mp4 in the shared video dir)")
    parser.add_argument("--train-frames", type=int, default=300)
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/evaluation.md")
    args = parser.parse_args()
    video = DATA / "video"
    if not video.is_dir():
        print(f"no shared clips at {video}", file=sys.stderr)
        return 2
    clips = sorted(p for p in video.glob("*.mp4") if not args.clips or p.name in args.clips)
    results = []
    for clip in clips:
        print(f"eval {clip.name} ...", file=sys.stderr, flush=True)
        results.append(run_clip(clip, args.train_frames))
    print(table(results))
    if not args.no_doc:
        with atomic_path(DOC) as tmp:
            tmp.write_text(document(results))
        print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
