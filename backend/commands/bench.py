"""`talking-head bench -o bench.json`: stage timings and peak memory on a fixed workload."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time every stage and measure its peak memory",
                       description="Run decode, track, fit, texture, personalize, animate, rasterize, render and "
                                   "Blender keyframing + GLB export (in a bpy subprocess) on the built-in synthetic "
                                   "demo clip and, when ../shared/data is present, on a real clip; write wall "
                                   "times, per-frame times, peak RSS and machine info as JSON. The refiner's "
                                   "training (a short draft run) and a refined render are timed too.")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="compute device (default cpu)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output JSON file")
    p.set_defaults(func=run)


def summary(result: dict) -> str:
    lines = []
    for name, w in result["workloads"].items():
        lines.append(f"{name} ({w['frames']} frames, {w['size'][0]}x{w['size'][1]}):")
        for stage, s in w["stages"].items():
            if "s" in s:
                per = f"{s['per_frame_ms']:8.1f} ms/frame" if "per_frame_ms" in s else " " * 17
                mem = f"  peak {s['peak_rss_mb']:.0f} MiB" if "peak_rss_mb" in s else ""
                lines.append(f"  {stage:14s} {s['s']:8.2f} s (cpu {s['cpu_s']:7.2f} s) {per}{mem}")
            elif "keyframes_s" in s:
                lines.append(f"  {stage:14s} keyframes {s['keyframes_s']:.3f} s, GLB export {s['export_glb_s']:.2f} s,"
                             f" peak {s['peak_rss_mb']:.0f} MiB (own process)")
            else:
                lines.append(f"  {stage:14s} {s.get('missing') or s.get('error')}")
    return "\n".join(lines)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.core.atomic import write_json
    from backend.eval.benchmark import bench

    result = bench(args.device, progress)
    write_json(args.output, result)
    if args.progress == "json":
        print(json.dumps({"event": "result", "bench": str(args.output)}), flush=True)
    else:
        print(summary(result))
        print(f"wrote {args.output}")
    return 0
