"""Texturing and spherical-harmonics (SH) Lambertian shading for the rasterizer (differentiable, torch).

SH convention (used by `lighting.json` in a profile, docs/formats.md): `sh` [9,3] are the real SH
coefficients L_lm of the *incident radiance* per RGB channel, in the frame the normals live in (the camera
frame for `raster.render`), order and constants (no Condon-Shortley phase), with n = (x, y, z) unit:

    k  (l, m)   Y_k(n)
    0  (0, 0)   0.282095                    = 1/2 sqrt(1/pi)
    1  (1,-1)   0.488603 * y                = sqrt(3/(4 pi))
    2  (1, 0)   0.488603 * z
    3  (1, 1)   0.488603 * x
    4  (2,-2)   1.092548 * x*y              = 1/2 sqrt(15/pi)
    5  (2,-1)   1.092548 * y*z
    6  (2, 0)   0.315392 * (3 z^2 - 1)      = 1/4 sqrt(5/pi)
    7  (2, 1)   1.092548 * x*z
    8  (2, 2)   0.546274 * (x^2 - y^2)      = 1/4 sqrt(15/pi)

A Lambertian surface with albedo a reflects radiance a * E(n) / pi, where the irradiance E is the radiance
convolved with the clamped cosine; per band that is a factor A_l = pi, 2 pi/3, pi/4 (Ramamoorthi & Hanrahan
2001), exact for radiance band-limited to l <= 2. So `shade` = a * sum_k (A_l(k)/pi) L_k Y_k(n), and a
uniform white sky of radiance 1 (L_00 = sqrt(4 pi), rest 0) gives back the albedo exactly.
"""

from __future__ import annotations

import math

import torch

C0 = 0.5 * math.sqrt(1.0 / math.pi)
C1 = math.sqrt(3.0 / (4.0 * math.pi))
C2 = 0.5 * math.sqrt(15.0 / math.pi)
C20 = 0.25 * math.sqrt(5.0 / math.pi)
C22 = 0.25 * math.sqrt(15.0 / math.pi)
# Clamped-cosine convolution per band divided by pi (Lambertian BRDF a/pi), one entry per coefficient.
LAMBERT_BAND = (1.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 0.25, 0.25, 0.25, 0.25, 0.25)
# Radiance SH of a uniform white environment of radiance 1: shading with it returns the albedo.
UNIFORM_WHITE = (math.sqrt(4.0 * math.pi),) + (0.0,) * 8


def _sh_terms(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> list[torch.Tensor]:
    return [torch.full_like(x, C0), C1 * y, C1 * z, C1 * x,
            C2 * x * y, C2 * y * z, C20 * (3.0 * z * z - 1.0), C2 * x * z, C22 * (x * x - y * y)]


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """Real second-order SH basis (order and constants in the module docstring): [...,3] -> [...,9]."""
    return torch.stack(_sh_terms(*normals.unbind(-1)), dim=-1)


def _lambert(sh: torch.Tensor) -> torch.Tensor:
    band = torch.tensor(LAMBERT_BAND, dtype=sh.dtype, device=sh.device)
    return sh * band[:, None]


def shade(albedo: torch.Tensor, normals: torch.Tensor, sh: torch.Tensor) -> torch.Tensor:
    """Lambertian SH shading: albedo [B,H,W,C] * irradiance(normals [B,H,W,3]; sh [9,C] or [B,9,C]) / pi."""
    basis = sh_basis(normals)
    lit = _lambert(sh)
    if lit.dim() == 2:
        return albedo * (basis @ lit)
    return albedo * torch.einsum("bhwk,bkc->bhwc", basis, lit)


def shade_pixels(albedo: torch.Tensor, normals: torch.Tensor, sh: torch.Tensor, batch: torch.Tensor,
                 counts: list[int] | None = None) -> torch.Tensor:
    """`shade` on packed pixels: albedo [N,C], unit normals [N,3], frame ids `batch` [N] (sorted), sh [9,C]
    or [B,9,C]. `counts` (pixels per frame, as `Raster.frame_counts()`) saves a sync when known."""
    if counts is None and sh.dim() == 3:
        counts = torch.bincount(batch, minlength=sh.shape[0]).tolist()
    return shade_pixels_t(albedo.t(), normals.t(), sh, counts).t()


def shade_pixels_t(albedo: torch.Tensor, normals: torch.Tensor, sh: torch.Tensor,
                   counts: list[int] | None = None) -> torch.Tensor:
    """`shade_pixels`, channel-first: albedo [C,N], normals [3,N] -> [C,N]; `counts` needed for [B,9,C] sh."""
    basis = torch.stack(_sh_terms(*normals.unbind(0)), dim=0)              # [9,N]
    lit = _lambert(sh)
    if lit.dim() == 2:
        return albedo * (lit.t() @ basis)
    if counts is None or len(counts) != lit.shape[0]:
        raise ValueError("shade_pixels_t: per-frame sh needs `counts` (pixels per frame)")
    # Pixels are frame-major: one small matmul per frame.
    irr = torch.cat([lit[i].t() @ part for i, part in enumerate(torch.split(basis, counts, dim=1))], dim=1)
    return albedo * irr


def _grid(uv: torch.Tensor) -> torch.Tensor:
    """UV (v up) -> grid_sample coordinates (x right, y down, -1..1 = outer texel edges)."""
    return torch.stack([2.0 * uv[..., 0] - 1.0, 1.0 - 2.0 * uv[..., 1]], dim=-1)


def _sample(tex: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.grid_sample(tex, grid.to(tex.dtype), mode="bilinear", padding_mode="border",
                                           align_corners=False)


def texture(tex: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of tex [1 or B, C, Ht, Wt] at uv [B,H,W,2] -> [B,H,W,C].

    UVs are in [0,1]^2 with v up: texture row 0 is v = 1, texel (i, j) has its centre at
    u = (i + 0.5)/Wt, v = 1 - (j + 0.5)/Ht. Outside [0,1] the border texels repeat.
    """
    b, h, w, _ = uv.shape
    c = tex.shape[1]
    if tex.shape[0] == 1 and b > 1:
        # One shared texture: sample all frames in one call without expanding the texture.
        out = _sample(tex, _grid(uv).reshape(1, b * h, w, 2))
        return out.reshape(c, b, h, w).permute(1, 2, 3, 0)
    return _sample(tex, _grid(uv)).permute(0, 2, 3, 1)


def sample_texture(tex: torch.Tensor, uv: torch.Tensor, counts: list[int] | None = None) -> torch.Tensor:
    """`texture` for packed samples uv [N,2] -> [N,C]. With one texture per frame (tex [B,...]), the
    samples are frame-major and `counts` [B] says how many belong to each frame."""
    return sample_texture_t(tex, uv.t(), counts).t()


def sample_texture_t(tex: torch.Tensor, uv: torch.Tensor, counts: list[int] | None = None) -> torch.Tensor:
    """`sample_texture`, channel-first: uv [2,N] -> [C,N]."""
    c = tex.shape[1]
    grid = torch.stack([2.0 * uv[0] - 1.0, 1.0 - 2.0 * uv[1]], dim=-1)    # [N,2]
    if tex.shape[0] == 1:
        return _sample(tex, grid.view(1, 1, -1, 2)).view(c, -1)
    if counts is None or len(counts) != tex.shape[0]:
        raise ValueError("sample_texture: one texture per frame needs `counts` (samples per frame)")
    parts = torch.split(grid, counts)
    return torch.cat([_sample(tex[i:i + 1], g.view(1, 1, -1, 2)).view(c, -1) for i, g in enumerate(parts)], 1)


def vertex_normals(verts: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals [B,V,3] (or [V,3]); counter-clockwise triangles face their normal."""
    single = verts.dim() == 2
    if single:
        verts = verts[None]
    tris = torch.as_tensor(triangles, device=verts.device).long()
    v0, v1, v2 = verts[:, tris[:, 0]], verts[:, tris[:, 1]], verts[:, tris[:, 2]]
    face = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)                 # length = 2 * area
    normals = torch.zeros_like(verts)
    for k in range(3):
        normals = normals.index_add(1, tris[:, k], face)
    normals = torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)
    return normals[0] if single else normals
