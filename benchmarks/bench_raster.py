"""Rasterizer throughput: frames/s for forward and forward+backward renders of a face-sized mesh.

    .venv/bin/python benchmarks/bench_raster.py --device cpu --threads 2 --json out.json

Uses the real face mesh (backend.face.model.load_template(): 468 vertices, 852 triangles) when the model
file is present, else a procedural cap with the same size. Each case renders a batch of frames with slightly
different head poses through `backend.render.raster.render` (project, rasterize, interpolate normals and UVs,
texture, SH shading); "fwd+bwd" also back-propagates an L1 loss to vertices, texture and lighting, like the
analysis fit does. The face fills about 60 % of the image height, as in the 256/512 px crops.
Wall time is what a user waits; process CPU time (all threads) is the steadier figure on a shared machine.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.face.rotation import euler_to_matrix  # noqa: E402
from backend.render import raster  # noqa: E402


def face_mesh() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """(vertices [V,3] head-local metres, triangles [F,3], uvs [V,2], source name)."""
    try:
        from backend.face.model import load_template

        m = load_template()
        return (torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.triangles, dtype=torch.long),
                torch.tensor(m.uvs, dtype=torch.float32), "facemodel template")
    except Exception as exc:  # model file or module missing: a procedural stand-in of the same size
        print(f"face template unavailable ({exc}); using a procedural 22x22 cap", file=sys.stderr)
        return (*procedural_cap(22), "procedural cap")


def procedural_cap(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An n x n grid bent into a face-sized ellipsoidal cap facing +z: n*n vertices, 2(n-1)^2 triangles."""
    s = torch.linspace(0, 1, n)
    u, v = torch.meshgrid(s, s, indexing="xy")
    x, y = (u - 0.5) * 0.15, (v - 0.5) * 0.2
    z = 0.1 * torch.sqrt((1 - (x / 0.09) ** 2 - (y / 0.12) ** 2).clamp_min(0.05))
    verts = torch.stack([x, y, z], -1).reshape(-1, 3)
    i = torch.arange(n - 1)
    a = (i[None, :] + n * i[:, None]).reshape(-1)
    tris = torch.cat([torch.stack([a, a + 1, a + n + 1], -1), torch.stack([a, a + n + 1, a + n], -1)])
    return verts, tris, torch.stack([u, v], -1).reshape(-1, 2)


def scene(batch: int, size: int, device: str) -> dict:
    verts, tris, uvs, source = face_mesh()
    g = torch.Generator().manual_seed(0)
    euler = (torch.rand(batch, 3, generator=g) - 0.5) * math.radians(20)
    rot = euler_to_matrix(euler)
    center = verts.mean(0)
    cam = (verts - center) @ rot.transpose(1, 2) + torch.tensor([0.0, 0.0, -0.55])
    height = float(verts[:, 1].max() - verts[:, 1].min())
    f = 0.6 * size * 0.55 / height
    tex = torch.rand(1, 3, 256, 256, generator=g) * 0.5 + 0.25
    sh = torch.zeros(9, 3)
    sh[0] = math.sqrt(4 * math.pi) * 0.8
    sh[2] = 0.6
    return {"verts": cam.to(device), "tris": tris.to(device), "uvs": uvs.to(device), "tex": tex.to(device),
            "sh": sh.to(device), "camera": torch.tensor([f, size / 2, size / 2], device=device),
            "size": size, "source": source}


def run_case(sc: dict, backward: bool, repeats: int, device: str) -> tuple[float, float]:
    """Median (wall, process CPU) seconds per batch. CPU time is the robust figure on a shared machine."""
    verts = sc["verts"].clone().requires_grad_(backward)
    tex = sc["tex"].clone().requires_grad_(backward)
    sh = sc["sh"].clone().requires_grad_(backward)
    times, cpu = [], []
    for _ in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        out = raster.render(verts, sc["tris"], sc["uvs"], tex, sh, sc["camera"], sc["size"], sc["size"])
        if backward:
            (out.image - 0.5).abs().sum().backward()
        else:
            out.image.sum().item()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    # The first run warms caches and allocators.
    return sorted(times[1:])[len(times[1:]) // 2], sorted(cpu[1:])[len(cpu[1:]) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--batch", type=int, default=16, help="frames per render call")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    rows = []
    for size in args.sizes:
        sc = scene(args.batch, size, args.device)
        for backward in (False, True):
            t, c = run_case(sc, backward, args.repeats, args.device)
            rows.append({"size": size, "batch": args.batch, "pass": "fwd+bwd" if backward else "fwd",
                         "ms_per_batch": round(t * 1e3, 2), "ms_per_frame": round(t * 1e3 / args.batch, 3),
                         "frames_per_s": round(args.batch / t, 1), "cpu_ms_per_frame": round(c * 1e3 / args.batch, 3)})
    info = {"device": args.device, "threads": args.threads, "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(), "mesh": sc["source"],
            "vertices": int(sc["verts"].shape[1]), "triangles": int(sc["tris"].shape[0]),
            "load_average_1min": os.getloadavg()[0], "results": rows}
    print(f"{info['mesh']}: {info['vertices']} vertices, {info['triangles']} triangles; device {args.device}, "
          f"{args.threads} threads, torch {torch.__version__}, load average {info['load_average_1min']:.1f}")
    print(f"{'size':>5} {'batch':>5} {'pass':>8} {'ms/batch':>9} {'ms/frame':>9} {'frames/s':>9} {'cpu ms/frame':>13}")
    for r in rows:
        print(f"{r['size']:>5} {r['batch']:>5} {r['pass']:>8} {r['ms_per_batch']:>9} {r['ms_per_frame']:>9} "
              f"{r['frames_per_s']:>9} {r['cpu_ms_per_frame']:>13}")
    if args.json:
        from backend.core.atomic import write_json

        write_json(args.json, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
