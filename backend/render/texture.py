"""Face texture and spherical-harmonics lighting from the fitted frames.

1. Unwrap: rasterize the mesh in UV space once (texel -> triangle, barycentrics); for each sampled frame,
   carry every texel to its image position through the fitted model and sample the frame there. Texels are
   averaged over frames with weight cos^2(view angle) where the z-buffer says they are visible, giving the
   lit appearance T (the lighting of the clip baked in).
2. Light: albedo = T / S_ref where S_ref is the SH shading at the clip's mean pose, and the SH coefficients
   are fitted by rendering the model through the differentiable rasterizer and matching the frames (Adam,
   masked L1). At the mean pose a render reproduces T; as the head turns, shading changes as the fitted
   light says.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from backend.core.progress import QUIET, Progress
from backend.face.model import FaceModel
from backend.face.posing import posed_vertices
from backend.render import raster
from backend.render.shading import UNIFORM_WHITE

TEXTURE_SIZE = 512


@dataclass
class TextureResult:
    albedo: np.ndarray  # [S,S,3] float32 in [0,1], row 0 is v = 1
    sh: np.ndarray  # [9,3]
    coverage: float  # fraction of face texels seen in at least one frame


@dataclass
class FrameSamples:
    """Face crops of a few frames with the fitted state that produced them."""

    images: np.ndarray  # [N,S,S,3] uint8 crops
    cameras: np.ndarray  # [N,3] crop intrinsics
    expression: np.ndarray  # [N,K]
    pose: np.ndarray  # [N,6]


def uv_raster(model: FaceModel, size: int = TEXTURE_SIZE) -> raster.Raster:
    uv = torch.as_tensor(model.uvs, dtype=torch.float32)
    screen = torch.stack([uv[:, 0] * size, (1 - uv[:, 1]) * size, torch.ones(len(uv))], dim=-1)[None]
    return raster.rasterize(screen, torch.as_tensor(model.triangles).long(), size, size)


def _to_tensor_images(images: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255.0


def unwrap_texture(model: FaceModel, samples: FrameSamples, uvr: raster.Raster | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Visibility-weighted average of the frames in UV space -> (lit texture [S,S,3], weight [S,S])."""
    tris = torch.as_tensor(model.triangles).long()
    uvr = uvr if uvr is not None else uv_raster(model)
    identity, basis = torch.as_tensor(model.vertices), torch.as_tensor(model.basis)
    verts = posed_vertices(identity, basis, torch.as_tensor(samples.expression), torch.as_tensor(samples.pose))
    normals = raster.vertex_normals(verts, tris)
    images = _to_tensor_images(samples.images)
    n, _, h, w = images.shape
    acc = torch.zeros(uvr.pix.shape[0], 3)
    wsum = torch.zeros(uvr.pix.shape[0])
    for i in range(n):
        screen = raster.project(verts[i:i + 1], torch.as_tensor(samples.cameras[i]))
        # where each texel lands in the frame, and at what depth
        texel_screen = raster.interpolate_pixels(screen[0], uvr, tris)  # [N,3]
        texel_normal = torch.nn.functional.normalize(raster.interpolate_pixels(normals[i], uvr, tris), dim=-1)
        texel_cam = raster.interpolate_pixels(verts[i], uvr, tris)
        view = torch.nn.functional.normalize(-texel_cam, dim=-1)
        cos = (texel_normal * view).sum(-1).clamp_min(0)
        frame_r = raster.rasterize(screen, tris, h, w)
        zbuf = frame_r.depth[0]
        px = texel_screen[:, 0].clamp(0, w - 1).long()
        py = texel_screen[:, 1].clamp(0, h - 1).long()
        inside = (texel_screen[:, 0] >= 0) & (texel_screen[:, 0] < w) & (texel_screen[:, 1] >= 0) & (texel_screen[:, 1] < h)
        visible = inside & (texel_screen[:, 2] <= zbuf[py, px] * 1.01 + 1e-4) & (frame_r.tri_id[0, py, px] >= 0)
        grid = torch.stack([texel_screen[:, 0] / w * 2 - 1, texel_screen[:, 1] / h * 2 - 1], -1)
        colour = torch.nn.functional.grid_sample(images[i:i + 1], grid[None, None], align_corners=False,
                                                 mode="bilinear", padding_mode="border")[0, :, 0].T
        weight = cos**2 * visible
        acc += colour * weight[:, None]
        wsum += weight
    lit = acc / wsum.clamp_min(1e-6)[:, None]
    tex = uvr.to_image(lit)[0].numpy()
    weight = uvr.to_image(wsum[:, None])[0, ..., 0].numpy()
    return tex, weight


def fill_unseen(tex: np.ndarray, weight: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """Inpaint texels no frame saw well (and the gutter around the UV islands) from their neighbours."""
    holes = (weight < threshold).astype(np.uint8)
    img = (np.clip(tex, 0, 1) * 255).astype(np.uint8)
    filled = cv2.inpaint(img, holes, 5, cv2.INPAINT_TELEA)
    return filled.astype(np.float32) / 255.0


def fit_lighting(model: FaceModel, samples: FrameSamples, lit: np.ndarray, steps: int = 30,
                 size: int = 256, progress: Progress = QUIET, uvr: raster.Raster | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Fit SH lighting so renders match the frames; returns (albedo, sh)."""
    tris = torch.as_tensor(model.triangles).long()
    identity, basis = torch.as_tensor(model.vertices), torch.as_tensor(model.basis)
    uvs = torch.as_tensor(model.uvs)
    mean_pose = torch.as_tensor(samples.pose.mean(0, keepdims=True))
    ref_verts = posed_vertices(identity, basis, torch.zeros(1, model.n_expr), mean_pose)
    ref_normals = raster.vertex_normals(ref_verts, tris)[0]
    uvr = uvr if uvr is not None else uv_raster(model, lit.shape[0])
    texel_normals = torch.nn.functional.normalize(raster.interpolate_pixels(ref_normals, uvr, tris), dim=-1)
    lit_t = torch.as_tensor(lit).permute(2, 0, 1)[None]
    scale = size / samples.images.shape[1]
    images = torch.nn.functional.interpolate(_to_tensor_images(samples.images), size=(size, size),
                                             mode="area").permute(0, 2, 3, 1)
    cameras = torch.as_tensor(samples.cameras) * scale
    verts = posed_vertices(identity, basis, torch.as_tensor(samples.expression), torch.as_tensor(samples.pose))
    sh = torch.zeros(9, 3)
    sh[0] = UNIFORM_WHITE[0]
    sh.requires_grad_(True)
    optimiser = torch.optim.Adam([sh], lr=0.1)

    def albedo_of(sh_now: torch.Tensor) -> torch.Tensor:
        ref = raster.shade_pixels(torch.ones(len(texel_normals), 3), texel_normals, sh_now,
                                  torch.zeros(len(texel_normals), dtype=torch.long))
        albedo_pix = raster.sample_texture(lit_t, raster.interpolate_pixels(uvs, uvr, tris)) / ref.clamp_min(0.05)
        return uvr.to_image(albedo_pix)[0].permute(2, 0, 1)[None]

    progress.stage("fit lighting", steps)
    batch = min(4, len(images))
    for step in range(steps):
        pick = torch.arange(step * batch, step * batch + batch) % len(images)
        albedo = albedo_of(sh)
        out = raster.render(verts[pick], tris, uvs, albedo, sh, cameras[pick], size, size)
        m = out.mask
        loss = ((out.image - images[pick]).abs() * m).sum() / m.sum().clamp_min(1) / 3
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        progress.update(1)
    with torch.no_grad():
        albedo = albedo_of(sh)[0].permute(1, 2, 0).numpy()
    return albedo, sh.detach().numpy()


def estimate_texture(model: FaceModel, samples: FrameSamples, progress: Progress = QUIET) -> TextureResult:
    progress.stage("unwrap texture", 1)
    uvr = uv_raster(model)  # texel -> triangle map, shared by unwrapping and lighting
    lit, weight = unwrap_texture(model, samples, uvr)
    face_texels = uvr.tri_id[0] >= 0
    coverage = float((weight[face_texels.numpy()] > 0.05).mean())
    lit = fill_unseen(lit, weight)
    progress.update(1)
    albedo, sh = fit_lighting(model, samples, lit, progress=progress, uvr=uvr)
    albedo = fill_unseen(np.clip(albedo, 0, 1), np.where(face_texels.numpy(), 1.0, 0.0))
    return TextureResult(albedo=albedo.astype(np.float32), sh=sh.astype(np.float32), coverage=coverage)


def render_samples(model: FaceModel, tex: TextureResult, expression: np.ndarray, pose: np.ndarray,
                   cameras: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Render frames at crop size -> (images [N,S,S,3] float in [0,1], masks [N,S,S] bool)."""
    tris = torch.as_tensor(model.triangles).long()
    verts = posed_vertices(torch.as_tensor(model.vertices), torch.as_tensor(model.basis),
                           torch.as_tensor(expression, dtype=torch.float32), torch.as_tensor(pose, dtype=torch.float32))
    albedo = torch.as_tensor(tex.albedo).permute(2, 0, 1)[None]
    with torch.no_grad():
        out = raster.render(verts, tris, torch.as_tensor(model.uvs), albedo, torch.as_tensor(tex.sh),
                            torch.as_tensor(cameras, dtype=torch.float32), size, size)
    return out.image.clamp(0, 1).numpy(), out.mask[..., 0].numpy() > 0.5


def masked_psnr(rendered: np.ndarray, real: np.ndarray, masks: np.ndarray, erode_px: int = 2) -> float:
    """PSNR (dB, peak 1.0) over the rendered face's pixels, mask eroded to skip aliased silhouette pixels."""
    kernel = np.ones((2 * erode_px + 1, 2 * erode_px + 1), np.uint8)
    sel = np.stack([cv2.erode(m.astype(np.uint8), kernel) > 0 for m in masks])
    if not sel.any():
        return float("nan")
    mse = float(((rendered - real) ** 2)[sel].mean())
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))
