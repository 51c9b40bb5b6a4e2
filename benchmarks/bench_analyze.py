"""Analyze every shared clip: quality figures, stage timings and peak memory (issue 2's targets).

    .venv/bin/python benchmarks/bench_analyze.py [-o bench_analyze.json] [--clips DIR]

Each clip runs in its own process so peak RSS is per clip (ru_maxrss of the child).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, resource, time
from backend.commands import configure_torch_threads
from backend.analysis.pipeline import analyze
configure_torch_threads()
t = time.perf_counter()
out = analyze(sys.argv[1], sys.argv[2], audio=sys.argv[3] or None)
q = json.loads((out / 'quality.json').read_text())
q['wall_s'] = time.perf_counter() - t
q['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(q))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=Path, default=ROOT.parent / "shared" / "data" / "video")
    ap.add_argument("-o", "--output", type=Path, default=Path("bench_analyze.json"))
    args = ap.parse_args()
    results = {}
    for clip in sorted(args.clips.glob("*.mp4")):
        audio = clip.with_suffix(".wav")
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(Path(tmp) / "p"),
                                   str(audio) if audio.exists() else ""], capture_output=True, text=True, cwd=ROOT)
            if proc.returncode:
                results[clip.name] = {"error": proc.stderr.strip().splitlines()[-1]}
                continue
            q = json.loads(proc.stdout.strip().splitlines()[-1])
            q["process_s"] = time.perf_counter() - t
            results[clip.name] = q
        r = results[clip.name]
        print(f"{clip.name:34s} nme {r['landmark_nme'] * 100:5.2f}%  jerk {r['jerk_ratio']:.2f}  "
              f"mouth_r {r['mouth_corr_smoothed_vs_raw']:.3f}  psnr {r['face_psnr']:5.1f} dB  "
              f"wall {r['wall_s']:5.1f} s  peak {r['peak_rss_mb']:6.0f} MB  {r['timings']}", flush=True)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    args.output.write_text(json.dumps({"load_average": load, "clips": results,
                                       "self_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
                                      indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
