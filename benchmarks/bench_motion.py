"""Speed and memory of the audio->motion stage (issue 3 targets, 2 CPU cores):

- personalize <= 90 s for a 300-frame profile
- animate >= 20x faster than real time (also measured with --no-phonetics, which skips the phone decoder)
- a 10-minute audio animates in <= 1.5 GB peak memory

Usage: .venv/bin/python benchmarks/bench_motion.py [--profile DIR] [--minutes 10] [-o result.json]
Without --profile a synthetic 12 s / 300-frame profile is made (backend/motion/synthetic.py). Each phase
runs in a fresh child process (`talking-head` CLI) so its peak RSS is its own; wall and CPU seconds are
both reported because the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_child(args: list[str]) -> dict:
    """Run the CLI in a child; return wall s, CPU s and the child's peak RSS in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    # a fresh `time`-style measurement per child: wrap in python to read its own ru_maxrss
    code = ("import resource, sys, runpy; sys.argv=['talking-head'] + sys.argv[1:]\n"
            "from backend.commands import main\nrc = main(sys.argv[1:])\n"
            "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "--progress", "quiet", *args], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stderr[-2000:]}")
    rss = [int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("MAXRSS_KB")]
    return {"wall_s": round(wall, 2), "cpu_s": round((after.ru_utime + after.ru_stime) -
                                                     (before.ru_utime + before.ru_stime), 2),
            "peak_rss_mb": round(rss[-1] / 1024, 1) if rss else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, help="a real profile (default: synthetic 300 frames)")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long-audio test")
    parser.add_argument("-o", "--output", type=Path, help="write the results as JSON here too")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    import numpy as np

    from backend.media import write_wav
    from backend.motion.synthetic import speech_like, write_profile

    results: dict = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        profile = args.profile or write_profile(tmp / "profile", duration_s=12.0, fps=25.0)
        model = tmp / "motion.pt"
        results["personalize"] = run_child(["personalize", str(profile), "--train-frames", "300", "-o", str(model),
                                            "--no-refiner"])  # the motion stage only: the refiner is timed by bench
        # animate needs the model inside the profile: copy the profile's manifest side by side
        work = tmp / "work"
        work.mkdir()
        for name in ("manifest.json",):
            (work / name).write_bytes((profile / name).read_bytes())
        (work / "motion.pt").write_bytes(model.read_bytes())
        short, _ = speech_like(60.0, seed=1)
        write_wav(tmp / "speech_60s.wav", short, 16000)
        for key, extra in (("animate_60s", []), ("animate_60s_no_phonetics", ["--no-phonetics"])):
            r = run_child(["animate", str(work), str(tmp / "speech_60s.wav"), "-o", str(tmp / "t60.json"), *extra])
            r["realtime_factor_wall"] = round(60.0 / r["wall_s"], 1)
            results[key] = r
        piece, _ = speech_like(60.0, seed=2)
        long = np.tile(piece, int(np.ceil(args.minutes)))[: int(args.minutes * 60 * 16000)]
        write_wav(tmp / "speech_long.wav", long, 16000)
        r = run_child(["animate", str(work), str(tmp / "speech_long.wav"), "-o", str(tmp / "tlong.json")])
        r["audio_minutes"] = args.minutes
        r["realtime_factor_wall"] = round(args.minutes * 60 / r["wall_s"], 1)
        results["animate_long"] = r
    print(json.dumps(results, indent=2))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
