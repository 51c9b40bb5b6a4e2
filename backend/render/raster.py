"""Differentiable triangle rasterizer in plain torch (CPU and CUDA), batched over frames.

A small nvdiffrast-like API (see docs/rendering.md):

    screen = project(verts_cam, camera)              # [B,V,3] (u px, v px, depth)
    r = rasterize(screen, triangles, H, W)           # Raster: tri_id [B,H,W], bary [B,H,W,3]
    uv = interpolate(uvs, r, triangles)              # [B,H,W,C]
    img = texture(tex, uv) ; img = shade(img, n, sh) # from backend.render.shading
    out = render(verts_cam, triangles, uvs, tex, sh, camera, H, W)

Two passes. Pass 1 (no grad) finds the visible triangle per pixel: every (frame, triangle) pair is expanded
into the pixel centres inside its clipped bounding box, in chunks of at most `max_pairs` candidates so memory
stays bounded, and a z-buffer keeps the nearest one with a single `scatter_reduce(amin)` over packed
(depth bits << 32 | triangle) keys. Pass 2 recomputes the perspective-correct barycentrics of the winner at
each covered pixel with autograd, so gradients flow to the screen coordinates (and through `project` to the
vertices) inside triangles. Silhouette edges carry no gradient (as in nvdiffrast without antialias).

Conventions (docs/formats.md): pixel (i, j) has its centre at (i + 0.5, j + 0.5), origin top-left, v down.
Both windings rasterize unless `cull_back=True` drops triangles that are clockwise as seen by the viewer
(the face model's triangles are counter-clockwise seen from the front). Triangles with a vertex at or behind
the camera (depth <= 0) or with zero screen area are dropped (no near-plane clipping).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backend.render.shading import (
    sample_texture,
    sample_texture_t,
    sh_basis,
    shade,
    shade_pixels,
    shade_pixels_t,
    texture,
    vertex_normals,
)

__all__ = [
    "Raster", "RenderResult", "interpolate", "interpolate_pixels", "interpolate_pixels_t", "mask", "project",
    "rasterize", "render", "sample_texture", "sample_texture_t", "sh_basis", "shade", "shade_pixels",
    "shade_pixels_t", "texture", "vertex_normals",
]

# Inside test tolerance in barycentric units: a pixel centre lying exactly on an edge shared by two
# triangles must not be missed by both because of rounding (no cracks); over-coverage is ~1e-6 px.
_INSIDE_EPS = 1e-6
_SPAN_EPS = 1e-4  # the same, in pixels, for the span ends computed from the inequalities


def project(verts_cam: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Camera-frame points [B,V,3] (OpenGL: looking down -z) -> screen [B,V,3] = (u px, v px, depth = -Z).

    `camera` is (f, cx, cy) in pixels, shape [3] or [B,3]: u = cx + f*X/-Z, v = cy - f*Y/-Z.
    """
    if verts_cam.dim() == 2:
        verts_cam = verts_cam[None]
    camera = torch.as_tensor(camera, dtype=verts_cam.dtype, device=verts_cam.device)
    if camera.dim() == 1:
        camera = camera[None]
    f, cx, cy = (camera[:, i, None] for i in range(3))
    x, y, z = verts_cam.unbind(-1)
    depth = -z
    return torch.stack([cx + f * x / depth, cy - f * y / depth, depth], dim=-1)


@dataclass
class Raster:
    """Result of `rasterize`. Per-pixel images plus the same data packed over the N covered pixels only.

    `pix` [N] are flat indices into B*H*W (sorted, so frame-major), `pix_tri` [N] triangle ids,
    `pix_batch` [N] frame ids, `bary_t` [3,N] perspective-correct barycentrics (channel-first: faster on
    CPU; `pix_bary` is the [N,3] view) and `pix_depth` [N] depth, both differentiable w.r.t. the screen
    coordinates. Work on the packed form for speed; `to_image` expands to [B,H,W,C].
    """

    tri_id: torch.Tensor
    pix: torch.Tensor
    pix_tri: torch.Tensor
    pix_batch: torch.Tensor
    bary_t: torch.Tensor
    pix_depth: torch.Tensor
    height: int
    width: int

    @property
    def batch(self) -> int:
        return self.tri_id.shape[0]

    @property
    def pix_bary(self) -> torch.Tensor:
        """[N,3] barycentrics of the covered pixels."""
        return self.bary_t.t()

    @property
    def bary(self) -> torch.Tensor:
        """[B,H,W,3] perspective-correct barycentrics, zeros where empty."""
        return self.to_image(self.pix_bary)

    @property
    def depth(self) -> torch.Tensor:
        """[B,H,W] depth (= -Z in the camera frame), zeros where empty."""
        return self.to_image(self.pix_depth[:, None])[..., 0]

    def frame_counts(self) -> list[int]:
        """Covered pixels per frame (the packed arrays are frame-major)."""
        return torch.bincount(self.pix_batch, minlength=self.batch).tolist()

    def to_image(self, values: torch.Tensor, background: torch.Tensor | float = 0.0) -> torch.Tensor:
        """Packed per-pixel values [N,C] -> image [B,H,W,C]; empty pixels get `background` ([C] or scalar)."""
        c = values.shape[-1]
        out = values.new_zeros(self.batch * self.height * self.width, c)
        if not (isinstance(background, float | int) and background == 0):
            out = out + torch.as_tensor(background, dtype=values.dtype, device=values.device)
        out = out.index_copy(0, self.pix, values)
        return out.view(self.batch, self.height, self.width, c)


def rasterize(screen: torch.Tensor, triangles: torch.Tensor, height: int, width: int, *,
              cull_back: bool = False, max_pairs: int = 1 << 20) -> Raster:
    """Rasterize screen-space triangles ([B,V,3] from `project`) into a `Raster` of size height x width.

    `max_pairs` bounds the number of candidate pixels held at once (memory ~ 50 bytes each).
    """
    if screen.dim() == 2:
        screen = screen[None]
    if not screen.is_floating_point():
        screen = screen.float()
    tris = torch.as_tensor(triangles, device=screen.device).long()
    b, v, _ = screen.shape
    tri_id = _visibility(screen.detach(), tris, height, width, cull_back, max_pairs)
    flat = tri_id.view(-1)
    pix = torch.nonzero(flat >= 0).squeeze(1)
    pix_tri = flat.index_select(0, pix)
    hw = height * width
    pix_batch = torch.div(pix, hw, rounding_mode="floor")
    rem = pix - pix_batch * hw
    py = torch.div(rem, width, rounding_mode="floor")
    px = (rem - py * width).to(screen.dtype) + 0.5
    py = py.to(screen.dtype) + 0.5
    # Pass 2, differentiable: barycentrics of the winning triangle at each covered pixel centre, on 1-D
    # coordinate arrays (gathers and arithmetic on contiguous vectors are several times faster on CPU).
    corner = _corners(tris, pix_tri, pix_batch, v)                          # [3N] rows of screen.view(B*V,3)
    sx, sy, sz = (c.index_select(0, corner).view(3, -1) for c in screen.reshape(b * v, 3).t().unbind(0))
    e1x, e1y, e2x, e2y = sx[1] - sx[0], sy[1] - sy[0], sx[2] - sx[0], sy[2] - sy[0]
    dx, dy = px - sx[0], py - sy[0]
    inv_det = 1.0 / (e1x * e2y - e1y * e2x)
    l1 = (dx * e2y - dy * e2x) * inv_det
    l2 = (e1x * dy - e1y * dx) * inv_det
    w = torch.stack([1 - l1 - l2, l1, l2]) / sz                             # screen-linear lambda_i / z_i
    inv_depth = w.sum(0)
    return Raster(tri_id=tri_id, pix=pix, pix_tri=pix_tri, pix_batch=pix_batch, bary_t=w / inv_depth,
                  pix_depth=1.0 / inv_depth, height=height, width=width)


def _corners(tris: torch.Tensor, pix_tri: torch.Tensor, pix_batch: torch.Tensor | None, v: int) -> torch.Tensor:
    """Flat [3N] vertex rows (corner-major) of each covered pixel's triangle; offset per frame when batched."""
    corner = tris.t().contiguous().index_select(1, pix_tri)
    if pix_batch is not None:
        corner = corner + pix_batch * v
    return corner.view(-1)


def _visibility(s: torch.Tensor, tris: torch.Tensor, height: int, width: int, cull_back: bool,
                max_pairs: int) -> torch.Tensor:
    """Pass 1 (no grad): index of the nearest covering triangle per pixel, -1 where empty. [B,H,W] long."""
    b = s.shape[0]
    nf = tris.shape[0]
    dev = s.device
    sv = s[:, tris]                                                        # [B,F,3,3]
    x, y, z = sv.unbind(-1)                                                # each [B,F,3]
    e1x, e1y = x[..., 1] - x[..., 0], y[..., 1] - y[..., 0]
    e2x, e2y = x[..., 2] - x[..., 0], y[..., 2] - y[..., 0]
    det = e1x * e2y - e1y * e2x
    # In pixel coordinates (v down) a triangle counter-clockwise for the viewer has det < 0.
    ok = (z > 0).all(-1) & (det != 0) & torch.isfinite(sv).all(-1).all(-1)
    if cull_back:
        ok &= det < 0
    # Pixel centres i + 0.5 inside [min, max]: i in [ceil(min - 0.5), floor(max - 0.5)], clipped.
    x0 = torch.ceil(x.amin(-1) - 0.5).clamp(0, width).long()
    x1 = torch.floor(x.amax(-1) - 0.5).clamp(-1, width - 1).long()
    y0 = torch.ceil(y.amin(-1) - 0.5).clamp(0, height).long()
    y1 = torch.floor(y.amax(-1) - 0.5).clamp(-1, height - 1).long()
    bw = (x1 - x0 + 1).clamp(min=0)
    bh = (y1 - y0 + 1).clamp(min=0)
    area = torch.where(ok, bw * bh, torch.zeros_like(bw)).view(-1)        # bounding-box pixel count
    items = torch.nonzero(area > 0).squeeze(1)                             # flat (frame, triangle) ids
    zbuf = torch.zeros(b * height * width, dtype=torch.int64, device=dev)  # 0 = empty (real keys are > 0)
    if items.numel() == 0:
        return torch.full((b, height, width), -1, dtype=torch.int64, device=dev)
    frame = torch.div(items, nf, rounding_mode="floor")
    d = det.view(-1)[items]
    iz = 1.0 / z.reshape(-1, 3)[items]
    # Barycentrics about vertex 0 (offsets stay small, so float32 is precise):
    # l1 = a1*dx + b1*dy, l2 = a2*dx + b2*dy, 1/z = iz0 + l1*(iz1 - iz0) + l2*(iz2 - iz0).
    a1, b1 = e2y.view(-1)[items] / d, -e2x.view(-1)[items] / d
    a2, b2 = -e1y.view(-1)[items] / d, e1x.view(-1)[items] / d
    d1, d2 = iz[:, 1] - iz[:, 0], iz[:, 2] - iz[:, 0]
    ints = torch.stack([frame * (height * width), y0.view(-1)[items], bh.view(-1)[items],
                        x0.view(-1)[items], x1.view(-1)[items], items - frame * nf], dim=-1)
    floats = torch.stack([x.reshape(-1, 3)[items, 0], y.reshape(-1, 3)[items, 0], a1, b1, a2, b2,
                          iz[:, 0], a1 * d1 + a2 * d2, b1 * d1 + b2 * d2], dim=-1)
    area = area[items]
    bounds = _chunk_bounds(area, max_pairs)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=False):
        _scatter_chunk(zbuf, ints[lo:hi], floats[lo:hi], width)
    key = zbuf.view(b, height, width)
    return torch.where(key == 0, torch.full_like(key, -1), key & 0xFFFFFFFF)


def _chunk_bounds(count: torch.Tensor, max_pairs: int) -> list[int]:
    """Item boundaries so each chunk holds <= max_pairs candidates (an item bigger than that stands alone)."""
    ends = torch.cumsum(count, 0).tolist()
    if ends[-1] <= max_pairs:
        return [0, len(ends)]
    bounds, limit = [0], max_pairs
    for i, e in enumerate(ends):
        if e > limit and i > bounds[-1]:
            bounds.append(i)
            limit = ends[i - 1] + max_pairs
    bounds.append(len(ends))
    return bounds


def _expand(count: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For segments of the given lengths: (segment id, offset within the segment) of every element."""
    total = int(count.sum())
    start = torch.cumsum(count, 0) - count
    seg = torch.repeat_interleave(torch.arange(count.shape[0], device=count.device), count, output_size=total)
    return seg, torch.arange(total, device=count.device) - start.index_select(0, seg)


def _scatter_chunk(zbuf: torch.Tensor, ints: torch.Tensor, floats: torch.Tensor, width: int) -> None:
    """Z-test the pixels of a chunk of (frame, triangle) items into `zbuf` in place.

    Two expansions keep the work near the covered area: items -> bounding-box rows, where the exact
    span of pixel centres inside the triangle is solved from the three barycentric inequalities, then
    rows -> the pixels of their span, which need no inside test.
    """
    seg, row_off = _expand(ints[:, 2])
    ir, fr = ints.index_select(0, seg), floats.index_select(0, seg)                                      # per row
    py = ir[:, 1] + row_off
    dy = py.to(fr.dtype) + 0.5 - fr[:, 1]
    # Constraints alpha*dx + beta >= 0 for l1, l2 and l0 = 1 - l1 - l2 at this row.
    alpha = torch.stack([fr[:, 2], fr[:, 4], -(fr[:, 2] + fr[:, 4])], dim=-1)
    beta = torch.stack([fr[:, 3] * dy, fr[:, 5] * dy, 1.0 - (fr[:, 3] + fr[:, 5]) * dy], dim=-1) + _INSIDE_EPS
    t = -beta / torch.where(alpha == 0, torch.ones_like(alpha), alpha)
    inf = torch.full_like(t, float("inf"))
    lo = torch.where(alpha > 0, t, torch.where((alpha == 0) & (beta < 0), inf, -inf)).amax(-1)
    hi = torch.where(alpha < 0, t, inf).amin(-1)
    # Pixel columns whose centre x0 + dx lies in [lo, hi] (a hair wider: no cracks on shared edges).
    c0 = torch.maximum(torch.ceil(fr[:, 0] + lo - 0.5 - _SPAN_EPS).clamp(-1, width).long(), ir[:, 3])
    c1 = torch.minimum(torch.floor(fr[:, 0] + hi - 0.5 + _SPAN_EPS).clamp(-1, width).long(), ir[:, 4])
    n = (c1 - c0 + 1).clamp(min=0)
    keep = torch.nonzero(n > 0).squeeze(1)
    if keep.numel() == 0:
        return
    n, c0, py, dy, ir, fr = (t.index_select(0, keep) for t in (n, c0, py, dy, ir, fr))
    dx = c0.to(fr.dtype) + 0.5 - fr[:, 0]
    # Inverse depth is affine in screen space: its value at the span start and its x slope.
    rows_i = torch.stack([ir[:, 0] + py * width + c0, ir[:, 5]], dim=-1)
    rows_f = torch.stack([fr[:, 6] + fr[:, 7] * dx + fr[:, 8] * dy, fr[:, 7]], dim=-1)
    seg, off = _expand(n)
    pi, pf = rows_i.index_select(0, seg), rows_f.index_select(0, seg)
    inv_z = (pf[:, 0] + pf[:, 1] * off.to(pf.dtype)).float().clamp_min(1e-30)
    # Positive float32 bit patterns sort like the values: nearest = largest 1/z wins, then the larger id.
    key = (inv_z.view(torch.int32).long() << 32) | pi[:, 1]
    zbuf.scatter_reduce_(0, pi[:, 0] + off, key, reduce="amax")


def interpolate_pixels(attr: torch.Tensor, raster: Raster, triangles: torch.Tensor) -> torch.Tensor:
    """Vertex attributes [V,C] or [B,V,C] -> values at the covered pixels [N,C] (packed, see `Raster`)."""
    return interpolate_pixels_t(attr, raster, triangles).t()


def interpolate_pixels_t(attr: torch.Tensor, raster: Raster, triangles: torch.Tensor) -> torch.Tensor:
    """`interpolate_pixels`, channel-first: [C,N]."""
    tris = torch.as_tensor(triangles, device=attr.device).long()
    batched = attr.dim() == 3
    c = attr.shape[-1]
    corner = _corners(tris, raster.pix_tri, raster.pix_batch if batched else None, attr.shape[-2])
    vals = attr.reshape(-1, c).t().contiguous().index_select(1, corner).view(c, 3, -1)
    w = raster.bary_t.to(vals.dtype)
    return vals[:, 0] * w[0] + vals[:, 1] * w[1] + vals[:, 2] * w[2]


def interpolate(attr: torch.Tensor, raster: Raster, triangles: torch.Tensor) -> torch.Tensor:
    """Vertex attributes [V,C] or [B,V,C] -> [B,H,W,C] perspective-correct, zeros where empty."""
    return raster.to_image(interpolate_pixels(attr, raster, triangles))


def mask(raster: Raster) -> torch.Tensor:
    """[B,H,W,1] float coverage (1 where a triangle is visible)."""
    return (raster.tri_id >= 0).unsqueeze(-1).to(raster.bary_t.dtype)


@dataclass
class RenderResult:
    """`image` [B,H,W,3] (background where empty), `mask` [B,H,W,1], and the `raster` for further use."""

    image: torch.Tensor
    mask: torch.Tensor
    raster: Raster


def render(verts_cam: torch.Tensor, triangles: torch.Tensor, uvs: torch.Tensor, tex: torch.Tensor,
           sh: torch.Tensor, camera: torch.Tensor, height: int, width: int, *,
           background: torch.Tensor | float = 0.0, cull_back: bool = False, supersample: int = 1) -> RenderResult:
    """Textured, SH-lit render of camera-frame vertices [B,V,3].

    `uvs` [V,2] or [B,V,2] (v up), `tex` [1 or B, C, Ht, Wt] albedo (row 0 is v = 1), `sh` [9,3] or [B,9,3]
    radiance SH coefficients (backend.render.shading), `camera` (f, cx, cy) px. Normals are the vertex
    normals of `verts_cam` (camera frame), so lighting is in the camera frame. `supersample` k > 1 renders
    at k times the size and box-filters down: antialiased edges and a fractional `mask` (the returned
    `raster` is then the k-times-larger one).
    """
    if verts_cam.dim() == 2:
        verts_cam = verts_cam[None]
    k = int(supersample)
    camera = torch.as_tensor(camera, dtype=verts_cam.dtype, device=verts_cam.device)
    if k > 1:  # scaling f, cx, cy by k maps pixel centres of the fine grid symmetrically into each coarse pixel
        return _downsample(render(verts_cam, triangles, uvs, tex, sh, camera * k, height * k, width * k,
                                  background=background, cull_back=cull_back), k)
    screen = project(verts_cam, camera)
    r = rasterize(screen, triangles, height, width, cull_back=cull_back)
    uvs = uvs.to(verts_cam.dtype)
    if uvs.dim() == 2:
        uvs = uvs.expand(verts_cam.shape[0], -1, -1)
    # Normals and UVs in one gather; everything below is channel-first [C,N] on the covered pixels.
    attrs = interpolate_pixels_t(torch.cat([vertex_normals(verts_cam, triangles), uvs], dim=-1), r, triangles)
    nx, ny, nz = attrs[0], attrs[1], attrs[2]
    normals = attrs[:3] / (nx * nx + ny * ny + nz * nz).clamp_min(1e-24).sqrt()  # row-wise: fast
    counts = r.frame_counts()
    albedo = sample_texture_t(tex.to(verts_cam.dtype), attrs[3:5], counts)
    color = shade_pixels_t(albedo, normals, sh.to(verts_cam.dtype), counts)
    return RenderResult(image=r.to_image(color.t(), background), mask=mask(r), raster=r)


def _downsample(fine: RenderResult, k: int) -> RenderResult:
    def pool(img: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(img.permute(0, 3, 1, 2), k).permute(0, 2, 3, 1)

    return RenderResult(image=pool(fine.image), mask=pool(fine.mask), raster=fine.raster)
