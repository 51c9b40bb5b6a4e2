"""`talking-head eval CLIP -o DIR`: the whole product measured on a clip's own held-out end."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.numbers import POSITIVE_INT, SEED
from backend.core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate tracks and video on the held-out end of a clip",
                       description="Analyze the clip's first N frames as the target, personalise, animate the "
                                   "remaining frames from their speech, render them (256 px face crops) with the "
                                   "predicted and the fitted head poses and compare with the real frames. Writes "
                                   "DIR/report.json, DIR/report.md, plots and the rendered videos (metric "
                                   "definitions: docs/metrics.md). The refiner is personalised on the target "
                                   "frames too and the same tracks are rendered through it (refined_*).")
    p.add_argument("clip", type=Path, help="video of a person talking (at least N + 50 frames)")
    p.add_argument("--audio", type=Path, help="the clip's speech as a separate file (when the clip has none)")
    p.add_argument("--train-frames", type=POSITIVE_INT.argparse_type(), default=300, help="frames used as the target (default 300)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="compute device (default cpu)")
    p.add_argument("-o", "--output", type=Path, required=True, help="report directory")
    p.add_argument("--general", type=Path, help="general motion model to start from (default: models/motion.pt)")
    p.add_argument("--scratch", action="store_true", help="ignore any general motion model")
    p.add_argument("--seed", type=SEED.argparse_type(), default=0, help="random seed (default 0)")
    p.add_argument("--refiner-preset", choices=("auto", "draft", "full"), default="auto",
                   help="refiner preset (default auto: full on CUDA, draft on the CPU)")
    p.add_argument("--refiner-steps", type=POSITIVE_INT.argparse_type(), help="override the preset's training steps")
    p.add_argument("--no-refiner", action="store_true", help="skip the refiner: refined_* variants are missing")
    p.set_defaults(func=run)


def summary_line(report: dict) -> str:
    v = report["variants"][report["headline_variant"]]
    return (f"{report['clip']}: mouth_corr {report['mouth_corr']:.3f}  mouth_lmd {report['mouth_lmd_mm']:.2f} mm "
            f"(baseline {report['mouth_lmd_baseline_mm']:.2f})  jerk_ratio {report['jerk_ratio']:.2f}  "
            f"[{report['headline_variant']}] psnr {v['psnr']} ssim {v['ssim']} lmd_px {v['lmd_px']} "
            f"identity_cos {v['identity_cos']} temporal_diff_ratio {v['temporal_diff_ratio']}  "
            f"total {report['timings']['total_s']:.0f} s")


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.eval.protocol import evaluate

    report = evaluate(args.clip, args.output, speech=args.audio, train_frames=args.train_frames, device=args.device,
                      general=args.general, scratch=args.scratch, seed=args.seed, progress=progress,
                      refiner=None if args.no_refiner else args.refiner_preset, refiner_steps=args.refiner_steps)
    if args.progress == "json":
        print(json.dumps({"event": "result", "report": str(args.output / "report.json")}), flush=True)
    else:
        print(summary_line(report))
        print(f"report: {args.output / 'report.md'}")
    return 0
