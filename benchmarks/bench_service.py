"""Status-call latency of the service under polling load while a job runs (target: p99 <= 50 ms, 50 clients).

    .venv/bin/python benchmarks/bench_service.py --clients 50 --interval 0.5 --duration 20 --json out.json

Starts the real `talking-head serve` on a free 127.0.0.1 port with a temporary data directory, keeps a real
job running (analyze of --clip, default a clip from ../shared/data; without it, back-to-back analyze jobs on
a generated clip that fail after tracking), then runs --clients pollers spread over --procs processes
(asyncio with raw HTTP/1.1 on streams: a full client library costs more CPU per call than the server does,
and on 2 cores it would measure itself; several processes so the clients' own GIL does not inflate the
figures). Each poller GETs /api/v1/jobs/{id} every --interval seconds, like the add-on's timer, over a new
connection per call (the add-on's urllib does that) unless --keepalive. Latency is measured by the client: request sent to
response read. Loopback only, bounded by --duration. Prints and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_service_harness import Server, noise_video  # noqa: E402

DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "video" / "vlog_woman_24s_720p.mp4"


async def _get(host: str, port: int, path: str, conn: list | None) -> None:
    """One GET over a raw asyncio connection (a heavyweight HTTP client would measure itself, not the server).
    `conn` is None for a new connection per call, else a list holding the kept-alive (reader, writer)."""
    keep = conn is not None
    if conn:
        reader, writer = conn[0]
    else:
        reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    json.loads(await reader.readexactly(length))
    if status != 200:
        raise RuntimeError(f"HTTP {status}")
    if conn is not None:
        conn[:] = [(reader, writer)]
    else:
        writer.close()


async def _poller(url: str, job_id: str, interval: float, until: float, keepalive: bool, out: list[float],
                  errors: list[str]) -> None:
    split = urlsplit(url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    path = f"/api/v1/jobs/{job_id}"
    await asyncio.sleep(interval * random.random())  # spread the clients' phases
    conn: list | None = [] if keepalive else None
    while time.monotonic() < until:
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(_get(host, port, path, conn), timeout=10)
            out.append(time.perf_counter() - t0)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            if conn:
                conn.clear()
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t0)))


def _proc(url: str, job_id: str, clients: int, interval: float, until_wall: float, keepalive: bool,
          results: mp.Queue) -> None:
    until = time.monotonic() + (until_wall - time.time())
    lat: list[float] = []
    errors: list[str] = []

    async def main() -> None:
        await asyncio.gather(*(_poller(url, job_id, interval, until, keepalive, lat, errors)
                               for _ in range(clients)))

    asyncio.run(main())
    results.put((lat, errors))


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--procs", type=int, default=5, help="client processes the pollers are spread over")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between one client's polls")
    ap.add_argument("--duration", type=float, default=20, help="seconds of measurement (max 120)")
    ap.add_argument("--keepalive", action="store_true", help="reuse one connection per client")
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="clip analyzed by the background job")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    duration = min(args.duration, 120.0)

    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        tmp_path = Path(tmp)
        with Server(tmp_path / "data") as srv, srv.client() as c:
            real_clip = args.clip.is_file()
            clip_file = args.clip if real_clip else noise_video(tmp_path / "noise.mp4", frames=250, size=128)
            with open(clip_file, "rb") as fh:
                clip = c.post("/uploads", params={"name": clip_file.name}, content=fh.read()).json()
            jobs = [c.post("/jobs", json={"kind": "analyze", "clip": clip["id"], "fps": fps,
                                          "overlay": False}).json()["id"]
                    for fps in ([None] if real_clip else [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20])]
            target = jobs[0]
            deadline = time.monotonic() + 60
            while c.get(f"/jobs/{target}").json()["state"] != "running" and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(3)  # past the step's start-up: the stage is computing now
            until = time.time() + duration
            results: mp.Queue = mp.Queue()
            per = [args.clients // args.procs + (1 if i < args.clients % args.procs else 0) for i in range(args.procs)]
            procs = [mp.Process(target=_proc, args=(srv.url, target, n, args.interval, until, args.keepalive, results))
                     for n in per if n]
            for p in procs:
                p.start()
            collected = [results.get(timeout=duration + 60) for _ in procs]
            for p in procs:
                p.join(10)
            states = [c.get(f"/jobs/{j}").json() for j in jobs]
            busy = [s for s in states if s["state"] in ("running", "succeeded", "failed") and s["started"]]
            running_through = any(s["started"] <= until - duration and (s["finished"] or 1e18) >= until
                                  for s in busy)
            for j in jobs:
                c.post(f"/jobs/{j}/cancel")
    lat = [x for chunk, _ in collected for x in chunk]
    errors = [e for _, chunk in collected for e in chunk]
    ms = [x * 1000 for x in lat]
    report = {
        "benchmark": "service status latency under polling", "clients": args.clients, "procs": args.procs,
        "interval_s": args.interval, "duration_s": duration, "keepalive": args.keepalive,
        "background_job": f"analyze {clip_file.name}" + ("" if real_clip else " (generated, repeated)"),
        "job_running_throughout": running_through,
        "requests": len(ms), "errors": len(errors), "error_examples": errors[:3],
        "p50_ms": round(statistics.median(ms), 2) if ms else None,
        "p95_ms": round(percentile(ms, 95), 2) if ms else None,
        "p99_ms": round(percentile(ms, 99), 2) if ms else None,
        "max_ms": round(max(ms), 2) if ms else None,
        "target_p99_ms": 50, "cpus": os.cpu_count(), "machine": platform.platform(),
    }
    report["meets_target"] = bool(ms) and report["p99_ms"] <= 50 and not errors
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
