"""Media I/O throughput and memory: streaming decode, probing, audio loading, H.264 encoding.

    .venv/bin/python benchmarks/bench_media.py [--data ../shared/data] [--json out.json]

For every clip in <data>/video: probe time, decode frames/s at the source size and at max_side=512, and
the peak RSS growth while decoding (sampled from /proc/self/status every frame; decoding holds one frame, so
this stays far below the size of all frames). For every file in <data>/audio: load_audio time at 16 kHz.
Encoding: VideoWriter frames/s for 512x512 and 1280x720 synthetic frames with audio (libx264, crf 18).
Runs without the shared data too (encoding only, then decoding what it wrote).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.media import (  # noqa: E402
    VideoWriter,
    count_frames,
    iter_frames,
    load_audio,
    probe_video,
    video_encoder,
)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def bench_decode(path: Path, max_side: int | None) -> dict:
    start_rss = rss_bytes()
    peak = start_rss
    t0 = time.perf_counter()
    n = 0
    for _i, rgb in iter_frames(path, max_side=max_side):
        n += 1
        peak = max(peak, rss_bytes())
        shape = rgb.shape
    dt = time.perf_counter() - t0
    return {"frames": n, "expected": count_frames(path), "seconds": round(dt, 3), "fps": round(n / dt, 1),
            "shape": list(shape), "rss_growth_mib": round((peak - start_rss) / 2**20, 1)}


def bench_encode(tmp: Path, width: int, height: int, n: int) -> dict:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    audio = (0.1 * rng.standard_normal(int(n / 25 * 16000))).astype(np.float32)
    out = tmp / f"enc_{width}x{height}.mp4"
    t0 = time.perf_counter()
    with VideoWriter(out, 25, width, height, audio=(audio, 16000)) as vw:
        for i in range(n):
            vw.write(np.roll(base, 4 * i, axis=1))  # moving content, like a talking head's background
    dt = time.perf_counter() - t0
    return {"size": f"{width}x{height}", "frames": n, "seconds": round(dt, 3), "fps": round(n / dt, 1),
            "bytes": out.stat().st_size, "encoder": video_encoder(), "file": str(out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--frames", type=int, default=100, help="frames per encoding case")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict = {"machine": platform.platform(), "python": platform.python_version(),
                     "decode": {}, "audio": {}, "encode": []}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for size in ((512, 512), (1280, 720)):
            case = bench_encode(tmp, *size, args.frames)
            print(f"encode {case['size']}: {case['fps']} frames/s ({case['encoder']}, {case['bytes']} bytes)")
            results["encode"].append(case)
        clips = sorted((args.data / "video").glob("*.mp4")) if (args.data / "video").is_dir() else []
        if not clips:
            print(f"no clips in {args.data}/video: decoding the encoded files instead")
            clips = [Path(c["file"]) for c in results["encode"]]
        for clip in clips:
            t0 = time.perf_counter()
            info = probe_video(clip)
            probe_s = time.perf_counter() - t0
            full = bench_decode(clip, None)
            small = bench_decode(clip, 512)
            results["decode"][clip.name] = {"probe_s": round(probe_s, 4), "width": info.width,
                                            "height": info.height, "full": full, "max_side_512": small}
            print(f"{clip.name}: probe {probe_s * 1000:.1f} ms; decode {info.width}x{info.height} "
                  f"{full['fps']} frames/s (+{full['rss_growth_mib']} MiB RSS), at 512: {small['fps']} frames/s")
        audio_files = sorted(p for p in (args.data / "audio").glob("*")) if (args.data / "audio").is_dir() else []
        for path in audio_files:
            t0 = time.perf_counter()
            samples = load_audio(path)
            dt = time.perf_counter() - t0
            results["audio"][path.name] = {"seconds_of_audio": round(len(samples) / 16000, 3),
                                           "load_s": round(dt, 4)}
            print(f"{path.name}: {len(samples) / 16000:.2f} s of audio loaded in {dt * 1000:.1f} ms")
        for case in results["encode"]:
            case.pop("file")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
