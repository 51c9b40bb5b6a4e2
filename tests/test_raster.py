"""The differentiable rasterizer (backend/render/raster.py, backend/render/shading.py) against analytic answers,
a brute-force reference, finite differences and numerical integration. CPU, small sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from backend.render import raster
from backend.render.shading import LAMBERT_BAND, UNIFORM_WHITE

# ---------------------------------------------------------------- references written independently


def dense_reference(screen: np.ndarray, tris: np.ndarray, h: int, w: int, cull_back: bool = False):
    """Brute force: every pixel centre against every triangle, float64. Returns (tri_id, bary, ambiguous)
    where `ambiguous` marks pixels within 1e-7 of an edge or of a depth tie (either answer is right)."""
    py, px = np.mgrid[0:h, 0:w] + 0.5
    best = np.full((h, w), np.inf)
    tri_id = np.full((h, w), -1)
    bary = np.zeros((h, w, 3))
    ambiguous = np.zeros((h, w), bool)
    for f, (i, j, k) in enumerate(tris):
        (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = screen[i], screen[j], screen[k]
        m = np.array([[x1 - x0, x2 - x0], [y1 - y0, y2 - y0]])
        if abs(np.linalg.det(m)) < 1e-12 or min(z0, z1, z2) <= 0:
            continue
        if cull_back and np.linalg.det(m) > 0:
            continue
        sol = np.linalg.solve(m, np.stack([px - x0, py - y0]).reshape(2, -1)).reshape(2, h, w)
        lam = np.stack([1 - sol[0] - sol[1], sol[0], sol[1]], -1)
        near_edge = (np.abs(lam) < 1e-7).any(-1) & (lam > -1e-7).all(-1)
        ambiguous |= near_edge
        inside = (lam >= 0).all(-1)
        wgt = lam / np.array([z0, z1, z2])
        depth = 1.0 / wgt.sum(-1)
        ambiguous |= inside & (np.abs(depth - best) < 1e-7)
        win = inside & (depth < best)
        best[win] = depth[win]
        tri_id[win] = f
        bary[win] = (wgt / wgt.sum(-1, keepdims=True))[win]
    return tri_id, bary, ambiguous


def bilinear_reference(tex: np.ndarray, u: float, v: float) -> np.ndarray:
    """tex [C,Ht,Wt]; v up (row 0 is v = 1), texel centres at (i+0.5)/W, border clamp."""
    c, ht, wt = tex.shape
    x = min(max(u * wt - 0.5, 0), wt - 1)
    y = min(max((1 - v) * ht - 0.5, 0), ht - 1)
    x0, y0 = min(int(math.floor(x)), wt - 2), min(int(math.floor(y)), ht - 2)
    fx, fy = x - x0, y - y0
    return ((1 - fx) * (1 - fy) * tex[:, y0, x0] + fx * (1 - fy) * tex[:, y0, x0 + 1]
            + (1 - fx) * fy * tex[:, y0 + 1, x0] + fx * fy * tex[:, y0 + 1, x0 + 1])


def random_soup(seed: int, n_tri: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = np.random.default_rng(seed)
    centres = g.uniform(-2, size + 2, (n_tri, 1, 2))
    xy = centres + g.normal(0, size / 5, (n_tri, 3, 2))
    z = g.uniform(1, 5, (n_tri, 3))
    screen = np.concatenate([xy, z[..., None]], -1).reshape(-1, 3)
    return torch.tensor(screen), torch.arange(3 * n_tri).view(n_tri, 3)


# ---------------------------------------------------------------- projection and coverage


def test_project_follows_the_camera_convention():
    pts = torch.tensor([[[0.1, 0.2, -2.0], [0.0, 0.0, -1.0]]])
    s = raster.project(pts, torch.tensor([100.0, 32.0, 24.0]))
    assert torch.allclose(s[0, 0], torch.tensor([32 + 100 * 0.1 / 2, 24 - 100 * 0.2 / 2, 2.0]))
    assert torch.allclose(s[0, 1], torch.tensor([32.0, 24.0, 1.0]))
    per_frame = raster.project(pts.expand(2, -1, -1), torch.tensor([[100.0, 32, 24], [50.0, 0, 0]]))
    assert torch.allclose(per_frame[1, 0], torch.tensor([2.5, -5.0, 2.0]))


@pytest.mark.parametrize("winding", [(0, 1, 2), (0, 2, 1)])
def test_single_triangle_coverage_and_barycentrics(winding):
    screen = torch.tensor([[[1.3, 1.1, 2.0], [10.7, 2.9, 2.0], [3.2, 9.6, 2.0]]], dtype=torch.float64)
    tris = torch.tensor([winding])
    r = raster.rasterize(screen, tris, 12, 13)
    h, w = 12, 13
    py, px = np.mgrid[0:h, 0:w] + 0.5
    a, b, c = screen[0, :, :2].numpy()[list(winding)]
    # Analytic: barycentrics from signed areas, coverage where all are >= 0.
    def cross(p, q, x, y):
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])
    area = cross(a, b, c[0], c[1])
    lam = np.stack([cross(b, c, px, py), cross(c, a, px, py), cross(a, b, px, py)], -1) / area
    inside = (lam >= 0).all(-1)
    assert 20 < inside.sum() < h * w
    assert np.array_equal(r.tri_id[0].numpy() >= 0, inside)
    np.testing.assert_allclose(r.bary[0].numpy()[inside], lam[inside], atol=1e-12)
    assert (r.bary[0].numpy()[~inside] == 0).all()
    assert torch.equal(raster.mask(r)[0, ..., 0] > 0, r.tri_id[0] >= 0)
    # Constant depth: perspective correction changes nothing; depth is that constant.
    assert torch.allclose(r.depth[0][r.tri_id[0] >= 0], torch.tensor(2.0, dtype=torch.float64))


def test_cull_back_drops_clockwise_and_keeps_counter_clockwise():
    # Counter-clockwise seen from +z (the face model's front), in front of the camera.
    pts = torch.tensor([[[-0.5, -0.5, -2.0], [0.5, -0.5, -2.0], [0.0, 0.5, -2.0]]])
    screen = raster.project(pts, torch.tensor([20.0, 8.0, 8.0]))
    front, back = torch.tensor([[0, 1, 2]]), torch.tensor([[0, 2, 1]])
    assert (raster.rasterize(screen, front, 16, 16, cull_back=True).tri_id >= 0).sum() > 10
    assert (raster.rasterize(screen, back, 16, 16, cull_back=True).tri_id >= 0).sum() == 0
    assert (raster.rasterize(screen, back, 16, 16).tri_id >= 0).sum() > 10


def test_triangles_behind_the_camera_are_dropped():
    pts = torch.tensor([[[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.0, 0.5, 2.0]]])  # +z: behind
    screen = raster.project(pts, torch.tensor([20.0, 8.0, 8.0]))
    r = raster.rasterize(screen, torch.tensor([[0, 1, 2]]), 16, 16)
    assert (r.tri_id < 0).all() and r.pix.numel() == 0
    assert raster.interpolate(torch.ones(3, 2), r, torch.tensor([[0, 1, 2]])).abs().sum() == 0


def test_shared_edge_through_pixel_centres_leaves_no_cracks():
    # Two triangles of a square whose diagonal passes exactly through pixel centres.
    screen = torch.tensor([[[1.5, 1.5, 1.0], [9.5, 1.5, 1.0], [9.5, 9.5, 1.0], [1.5, 9.5, 1.0]]])
    r = raster.rasterize(screen, torch.tensor([[0, 1, 2], [0, 2, 3]]), 12, 12)
    covered = r.tri_id[0] >= 0
    assert covered[1:10, 1:10].all() and covered.sum() == 81


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force_reference_on_overlapping_soup(seed):
    screen, tris = random_soup(seed, 40, 32)
    ref_id, ref_bary, ambiguous = dense_reference(screen.numpy(), tris.numpy(), 30, 34)
    r = raster.rasterize(screen, tris, 30, 34)
    got = r.tri_id[0].numpy()
    sure = ~ambiguous
    assert sure.mean() > 0.99 and (ref_id >= 0).mean() > 0.5
    assert np.array_equal(got[sure], ref_id[sure])
    np.testing.assert_allclose(r.bary[0].numpy()[sure], ref_bary[sure], atol=1e-9)


def test_depth_order_does_not_depend_on_triangle_order():
    near = [[2.0, 2.0, 1.0], [14.0, 2.0, 1.0], [2.0, 14.0, 1.0]]
    far = [[1.0, 1.0, 3.0], [15.0, 3.0, 3.0], [4.0, 15.0, 3.0]]
    for order in ([near, far], [far, near]):
        screen = torch.tensor([order[0] + order[1]])
        r = raster.rasterize(screen, torch.tensor([[0, 1, 2], [3, 4, 5]]), 16, 16)
        near_id = 0 if order[0] is near else 1
        assert r.tri_id[0, 5, 5] == near_id
        assert r.depth[0, 5, 5] == pytest.approx(1.0)
        assert r.tri_id[0, 1, 1] == 1 - near_id  # only the far one covers this corner


def test_depth_order_with_interpenetrating_triangles():
    # Two triangles crossing each other in depth: each wins where it is nearer.
    screen = torch.tensor([[[0.0, 0.0, 1.0], [16.0, 0.0, 3.0], [0.0, 16.0, 1.0],
                            [0.0, 0.0, 3.0], [16.0, 0.0, 1.0], [16.0, 16.0, 1.0]]], dtype=torch.float64)
    r = raster.rasterize(screen, torch.tensor([[0, 1, 2], [3, 4, 5]]), 16, 16)
    assert r.tri_id[0, 2, 3] == 0   # x = 3.5: first triangle nearer (depth towards 1 at x = 0)
    assert r.tri_id[0, 2, 12] == 1  # x = 12.5: second triangle nearer


def test_perspective_correct_interpolation_on_slanted_quad():
    # A quad on the plane z = -3 - 0.8 x (camera frame), x in [-1, 1], y in [-1, 1]; attribute = x.
    xs, ys = [-1.0, 1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0]
    verts = torch.tensor([[[x, y, -3.0 - 0.8 * x] for x, y in zip(xs, ys, strict=True)]], dtype=torch.float64)
    f, cx, cy = 30.0, 32.0, 32.0
    screen = raster.project(verts, torch.tensor([f, cx, cy]))
    tris = torch.tensor([[0, 1, 2], [0, 2, 3]])
    r = raster.rasterize(screen, tris, 64, 64)
    got = raster.interpolate(verts[0, :, :1], r, tris)[0, ..., 0]
    # Analytic: the ray through pixel centre (u, v) is (a, b, -1) t with a = (u - cx)/f, b = (cy - v)/f;
    # on the plane -t = -3 - 0.8 a t  =>  t = 3 / (1 - 0.8 a), x = a t.
    v, u = np.mgrid[0:64, 0:64] + 0.5
    a = (u - cx) / f
    x_true = a * 3 / (1 - 0.8 * a)
    cov = (r.tri_id[0] >= 0).numpy()
    assert cov.sum() > 300
    np.testing.assert_allclose(got.numpy()[cov], x_true[cov], atol=1e-9)
    np.testing.assert_allclose(r.depth[0].numpy()[cov], (3 / (1 - 0.8 * a))[cov], rtol=1e-9)
    # Screen-linear interpolation would be visibly wrong here.
    assert np.abs(x_true[cov] - ((u - cx) / f * 3)[cov]).max() > 0.2


def test_batch_frames_are_independent_and_chunking_changes_nothing():
    s0, tris = random_soup(3, 30, 24)
    s1, _ = random_soup(4, 30, 24)
    both = raster.rasterize(torch.stack([s0, s1]).float(), tris, 24, 24)
    one = raster.rasterize(s1[None].float(), tris, 24, 24)
    assert torch.equal(both.tri_id[1], one.tri_id[0])
    assert torch.equal(both.bary[1], one.bary[0])
    tiny = raster.rasterize(torch.stack([s0, s1]).float(), tris, 24, 24, max_pairs=50)
    assert torch.equal(tiny.tri_id, both.tri_id)


def test_interpolate_accepts_per_frame_attributes():
    screen, tris = random_soup(5, 10, 16)
    attr = torch.randn(2, screen.shape[0], 4, dtype=torch.float64)
    r = raster.rasterize(screen.expand(2, -1, -1), tris, 16, 16)
    per_frame = raster.interpolate(attr, r, tris)
    shared = raster.interpolate(attr[1], r, tris)
    assert torch.allclose(per_frame[1], shared[1])
    assert not torch.allclose(per_frame[0], shared[0])
    assert (per_frame[r.tri_id < 0] == 0).all()


# ---------------------------------------------------------------- gradients


def test_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(0)
    verts = torch.tensor([[[-0.6, -0.5, -2.0], [0.7, -0.4, -2.5], [0.1, 0.6, -1.8], [0.8, 0.7, -2.2]]],
                         dtype=torch.float64, requires_grad=True)
    tris = torch.tensor([[0, 1, 2], [1, 3, 2]])
    attr = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    camera = torch.tensor([14.0, 5.1, 4.9], dtype=torch.float64)

    def fn(verts, attr):
        r = raster.rasterize(raster.project(verts, camera), tris, 10, 10)
        return raster.interpolate(attr, r, tris), r.depth

    assert (raster.rasterize(raster.project(verts, camera), tris, 10, 10).tri_id >= 0).sum() > 30
    assert torch.autograd.gradcheck(fn, (verts, attr), eps=1e-6, atol=1e-6)


def test_render_gradients_reach_texture_lighting_and_vertices():
    verts, tris, uvs = _quad(torch.float64)
    tex = torch.rand(1, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1),
                     requires_grad=True)
    sh = torch.tensor(UNIFORM_WHITE, dtype=torch.float64)[:, None].repeat(1, 3)
    sh[1:] = 0.3
    sh.requires_grad_(True)
    verts.requires_grad_(True)
    camera = torch.tensor([9.0, 4.13, 3.91], dtype=torch.float64)

    def fn(verts, tex, sh):
        return raster.render(verts, tris, uvs, tex, sh, camera, 8, 8).image

    assert torch.autograd.gradcheck(fn, (verts, tex, sh), eps=1e-6, atol=1e-5, fast_mode=True)


# ---------------------------------------------------------------- texture


def test_texture_orientation_and_bilinear_values():
    # 2x3 texture (Ht=2, Wt=3); row 0 is the top of the image = v near 1.
    tex = torch.arange(6, dtype=torch.float64).view(1, 1, 2, 3)
    uv = torch.tensor([[[[0.5 / 3, 0.75], [2.5 / 3, 0.25], [0.5, 0.5], [0.0, 1.0], [1.2, -0.3]]]],
                      dtype=torch.float64)
    out = raster.texture(tex, uv)[0, 0, :, 0]
    assert out[0] == 0.0  # top-left texel centre
    assert out[1] == 5.0  # bottom-right texel centre
    for k in range(5):
        assert out[k].item() == pytest.approx(bilinear_reference(tex[0].numpy(), *uv[0, 0, k].tolist())[0])
    # Packed lookups give the same values, also with one texture per frame.
    packed = raster.sample_texture(tex, uv.view(-1, 2))
    assert torch.allclose(packed[:, 0], out)
    tex2 = torch.cat([tex, 10 + tex])
    per_frame = raster.sample_texture(tex2, torch.cat([uv.view(-1, 2), uv.view(-1, 2)]), [5, 5])
    assert torch.allclose(per_frame[5:, 0], out + 10)
    img = raster.texture(tex2, uv.expand(2, -1, -1, -1))
    assert torch.allclose(img[1, 0, :, 0], out + 10)


# ---------------------------------------------------------------- normals and SH shading


def test_vertex_normals_face_the_counter_clockwise_side_and_are_radial_on_a_sphere():
    tri = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    n = raster.vertex_normals(tri, torch.tensor([[0, 1, 2]]))
    assert torch.allclose(n, torch.tensor([0.0, 0, 1]).expand(3, 3))
    verts, tris = _octasphere(3)
    n = raster.vertex_normals(verts[None], tris)[0]
    assert (n * verts).sum(-1).min() > 0.99


def _sphere_quadrature(n: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """Directions and weights of a product Gauss-Legendre x uniform quadrature on the unit sphere."""
    ct, wt = np.polynomial.legendre.leggauss(n)
    phi = (np.arange(2 * n) + 0.5) * math.pi / n
    c, p = np.meshgrid(ct, phi, indexing="ij")
    s = np.sqrt(1 - c ** 2)
    dirs = np.stack([s * np.cos(p), s * np.sin(p), c], -1).reshape(-1, 3)
    weights = (wt[:, None] * np.full(2 * n, math.pi / n)[None]).reshape(-1)
    return torch.tensor(dirs), torch.tensor(weights)


def test_sh_basis_is_orthonormal():
    dirs, w = _sphere_quadrature(60)
    y = raster.sh_basis(dirs)
    gram = torch.einsum("n,ni,nj->ij", w, y, y)
    assert torch.allclose(gram, torch.eye(9, dtype=torch.float64), atol=1e-10)


def test_sh_shading_equals_integrated_lambertian_reflection():
    g = torch.Generator().manual_seed(2)
    sh = torch.randn(9, 3, dtype=torch.float64, generator=g)
    normals = torch.nn.functional.normalize(torch.randn(1, 2, 3, 3, dtype=torch.float64, generator=g), dim=-1)
    normals[0, 0, 0] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    albedo = torch.rand(1, 2, 3, 3, dtype=torch.float64, generator=g)
    got = raster.shade(albedo, normals, sh)
    # Radiance L(w) = sum_k sh_k Y_k(w); reflected = albedo/pi * integral of L(w) max(0, n.w) dw.
    dirs, w = _sphere_quadrature(400)
    radiance = raster.sh_basis(dirs) @ sh                                   # [M,3]
    cos = (normals.reshape(-1, 3) @ dirs.T).clamp_min(0)                    # [P,M]
    expected = albedo.reshape(-1, 3) * ((cos * w) @ radiance) / math.pi
    assert torch.allclose(got.reshape(-1, 3), expected, atol=2e-4)
    assert LAMBERT_BAND[0] == 1.0
    # A uniform white sky gives back the albedo for any normal; per-frame sh gives the same as shared.
    white = torch.tensor(UNIFORM_WHITE, dtype=torch.float64)[:, None].repeat(1, 3)
    assert torch.allclose(raster.shade(albedo, normals, white), albedo)
    assert torch.allclose(raster.shade(albedo, normals, sh[None]), got)
    batch = torch.zeros(6, dtype=torch.long)
    packed = raster.shade_pixels(albedo.reshape(-1, 3), normals.reshape(-1, 3), sh[None], batch)
    assert torch.allclose(packed, got.reshape(-1, 3))


# ---------------------------------------------------------------- render


def _quad(dtype=torch.float32):
    """A unit square facing the camera at z = -2 (counter-clockwise seen from +z), UVs over [0,1]^2."""
    verts = torch.tensor([[[-0.5, -0.5, -2.0], [0.5, -0.5, -2.0], [0.5, 0.5, -2.0], [-0.5, 0.5, -2.0]]],
                         dtype=dtype)
    uvs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=dtype)
    return verts, torch.tensor([[0, 1, 2], [0, 2, 3]]), uvs


def _octasphere(level: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit sphere from a subdivided octahedron, counter-clockwise seen from outside."""
    verts = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]
    faces = [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]]
    for _ in range(level):
        cache: dict[tuple[int, int], int] = {}

        def mid(a, b, cache=cache):
            key = (min(a, b), max(a, b))
            if key not in cache:
                p = np.add(verts[a], verts[b]) / 2
                verts.append(list(p / np.linalg.norm(p)))
                cache[key] = len(verts) - 1
            return cache[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [[a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca]]
        faces = new
    return torch.tensor(verts, dtype=torch.float32), torch.tensor(faces)


def test_render_of_a_textured_quad_under_white_light_shows_the_texture_upright():
    verts, tris, uvs = _quad()
    tex = torch.zeros(1, 3, 2, 2)
    tex[0, 0, 0, :] = 1.0  # top row red
    tex[0, 2, 1, :] = 1.0  # bottom row blue
    sh = torch.tensor(UNIFORM_WHITE)[:, None].repeat(1, 3)
    out = raster.render(verts, tris, uvs, tex, sh, torch.tensor([32.0, 16.0, 16.0]), 32, 32,
                        background=torch.tensor([0.0, 1.0, 0.0]))
    img, m = out.image[0], out.mask[0, ..., 0]
    assert m[16, 16] == 1 and m[1, 1] == 0 and m.sum() == 16 * 16  # 1 m at 2 m with f = 32: 16 px
    assert torch.allclose(img[10, 16], torch.tensor([1.0, 0.0, 0.0]))   # upper part of the image: red
    assert torch.allclose(img[21, 16], torch.tensor([0.0, 0.0, 1.0]))   # lower part: blue
    assert torch.allclose(img[1, 1], torch.tensor([0.0, 1.0, 0.0]))     # background


def test_render_lights_a_sphere_from_the_light_direction():
    verts, tris = _octasphere(3)
    verts = verts[None] * 0.5 + torch.tensor([0.0, 0.0, -3.0])
    uvs = torch.full((verts.shape[1], 2), 0.5)
    tex = torch.ones(1, 3, 1, 1)
    sh = torch.zeros(9, 3)
    sh[0], sh[3] = 2.0, 1.5  # brighter toward +x (the image's right)
    out = raster.render(verts, tris, uvs, tex, sh, torch.tensor([60.0, 16.0, 16.0]), 32, 32, cull_back=True)
    row = out.image[0, 16, :, 0]
    assert row[22] > row[16] > row[10] > 0
    # The centre pixel sees the normal (0, 0, 1): irradiance is exactly the SH formula there.
    n_centre = raster.interpolate(raster.vertex_normals(verts, tris), out.raster, tris)[0, 16, 16]
    expected = raster.shade(torch.ones(1, 1, 1, 3), torch.nn.functional.normalize(n_centre, dim=0)[None, None,
                            None], sh)
    assert torch.allclose(out.image[0, 16, 16], expected[0, 0, 0], atol=1e-5)


def test_render_copes_with_frames_where_nothing_is_visible():
    verts, tris, uvs = _quad()
    verts = verts.repeat(2, 1, 1)
    verts[0, :, 2] = 2.0  # behind the camera
    verts.requires_grad_(True)
    tex, sh = torch.rand(2, 3, 4, 4), torch.rand(2, 9, 3)
    out = raster.render(verts, tris, uvs, tex, sh, torch.tensor([16.0, 8.0, 8.0]), 16, 16)
    out.image.square().sum().backward()
    assert out.mask[0].sum() == 0 and out.mask[1].sum() == 64
    assert verts.grad[0].abs().sum() == 0 and verts.grad[1].abs().sum() > 0


def test_supersampling_gives_fractional_coverage_close_to_the_true_area():
    verts, tris, uvs = _quad()
    cam = torch.tensor([15.0, 16.0, 16.0])  # the quad spans 7.5 px: [12.25, 19.75]^2
    sh = torch.tensor(UNIFORM_WHITE)[:, None].repeat(1, 3)
    hard = raster.render(verts, tris, uvs, torch.ones(1, 3, 2, 2), sh, cam, 32, 32)
    soft = raster.render(verts, tris, uvs, torch.ones(1, 3, 2, 2), sh, cam, 32, 32, supersample=4)
    assert soft.image.shape == hard.image.shape and soft.raster.tri_id.shape == (1, 128, 128)
    edge = (soft.mask > 0) & (soft.mask < 1)
    assert edge.sum() == 28                           # the outline of the 8 x 8 pixel block is blended
    assert abs(soft.mask.sum().item() - 7.5 ** 2) < 0.5
    assert hard.mask.sum() == 64
    assert torch.allclose(soft.image[..., :1], soft.mask)  # white albedo, white light: image = coverage


@pytest.mark.gpu
def test_cpu_and_cuda_agree():
    verts, tris = _octasphere(3)
    verts = verts[None].repeat(3, 1, 1) * 0.5 + torch.tensor([[[0.0, 0.0, -3.0]], [[0.2, 0, -2.5]], [[0, 0.1, -4]]])
    uvs = (verts[0, :, :2] + 0.5).clamp(0, 1)
    tex = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    sh = torch.randn(9, 3, generator=torch.Generator().manual_seed(1)) * 0.3
    sh[0] = 3.0
    cam = torch.tensor([120.0, 32.0, 32.0])
    results = []
    for dev in ("cpu", "cuda"):
        v = verts.to(dev).requires_grad_(True)
        out = raster.render(v, tris.to(dev), uvs.to(dev), tex.to(dev), sh.to(dev), cam.to(dev), 64, 64)
        out.image.square().sum().backward()
        results.append((out.raster.tri_id.cpu(), out.image.detach().cpu(), v.grad.cpu()))
    (id_c, img_c, g_c), (id_g, img_g, g_g) = results
    assert (id_c != id_g).float().mean() < 1e-3
    same = (id_c == id_g)
    assert torch.allclose(img_c[same], img_g[same], atol=1e-4)
    assert torch.allclose(g_c, g_g, rtol=1e-2, atol=1e-3 * g_c.abs().max().item())
