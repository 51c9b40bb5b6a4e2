"""Render a textured, SH-lit mesh with backend.render.raster and save it as a PNG.

    .venv/bin/python examples/raster_example.py --out raster_example.png [--size 256]

A UV sphere with a checkerboard texture, lit by a soft key light from the upper left, four frames rotating
about the vertical axis rendered in one batch and tiled side by side. Then one gradient step shows that the
same call is differentiable w.r.t. texture and lighting.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.face.rotation import euler_to_matrix  # noqa: E402
from backend.render import raster  # noqa: E402
from backend.render.shading import UNIFORM_WHITE  # noqa: E402


def uv_sphere(rings: int = 24, segments: int = 48) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit sphere: vertices [V,3], triangles [F,3] counter-clockwise seen from outside, uvs [V,2] (v up)."""
    lat = torch.linspace(-math.pi / 2, math.pi / 2, rings + 1)
    lon = torch.linspace(0, 2 * math.pi, segments + 1)  # the seam column is duplicated for its own UVs
    la, lo = torch.meshgrid(lat, lon, indexing="ij")
    verts = torch.stack([la.cos() * lo.sin(), la.sin(), la.cos() * lo.cos()], -1).reshape(-1, 3)
    uvs = torch.stack([lo / (2 * math.pi), (la + math.pi / 2) / math.pi], -1).reshape(-1, 2)
    i, j = torch.meshgrid(torch.arange(rings), torch.arange(segments), indexing="ij")
    a = (i * (segments + 1) + j).reshape(-1)
    b, c, d = a + 1, a + segments + 2, a + segments + 1
    tris = torch.cat([torch.stack([a, b, c], -1), torch.stack([a, c, d], -1)])
    return verts, tris, uvs


def checker(size: int = 256, cells: int = 8) -> torch.Tensor:
    """[1,3,size,size] checkerboard, warm and cool squares; row 0 is the top (v = 1)."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    odd = ((x * cells // size + y * cells // size) % 2).float()
    warm, cool = torch.tensor([0.9, 0.55, 0.3]), torch.tensor([0.25, 0.45, 0.8])
    return (odd[..., None] * warm + (1 - odd[..., None]) * cool).permute(2, 0, 1)[None]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("raster_example.png"))
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(2)

    verts, tris, uvs = uv_sphere()
    angles = torch.tensor([[0.3, math.radians(a), 0.0] for a in (0, 30, 60, 90)])
    # Head-local -> camera frame (docs/formats.md): rotate, then push 3 units in front of the camera.
    verts_cam = verts @ euler_to_matrix(angles).transpose(1, 2) + torch.tensor([0.0, 0.0, -3.0])
    sh = torch.zeros(9, 3)
    sh[0] = 0.6 * torch.tensor(UNIFORM_WHITE[0])    # ambient
    sh[1], sh[3], sh[2] = 0.8, -0.8, 0.9            # brighter from above (+y), the left (-x) and the front (+z)
    camera = torch.tensor([args.size * 0.9, args.size / 2, args.size / 2])
    out = raster.render(verts_cam, tris, uvs, checker(), sh, camera, args.size, args.size,
                        background=torch.tensor([0.08, 0.08, 0.1]), cull_back=True)
    tiles = out.image.clamp(0, 1).permute(1, 0, 2, 3).reshape(args.size, -1, 3)
    Image.fromarray((tiles.numpy() * 255 + 0.5).astype(np.uint8)).save(args.out)
    print(f"wrote {args.out} ({tiles.shape[1]}x{tiles.shape[0]}), "
          f"coverage {out.mask.mean().item():.1%} of the pixels")

    # The same render is differentiable: one gradient of an L2 loss w.r.t. texture and lighting.
    tex = checker().requires_grad_(True)
    sh = sh.clone().requires_grad_(True)
    img = raster.render(verts_cam, tris, uvs, tex, sh, camera, args.size, args.size, cull_back=True).image
    (img - 0.5).square().mean().backward()
    print(f"|d loss/d texture| = {tex.grad.norm():.3g}, |d loss/d sh| = {sh.grad.norm():.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
