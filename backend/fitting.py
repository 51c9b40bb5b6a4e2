"""Fit the face model to tracked landmarks: identity shape, per-frame expression and 6-DoF pose, and a
perspective camera, jointly over all frames.

1. Initialise each frame by a similarity alignment of the template on stable points (pose, scale), the
   identity as the mean back-projected shape and expressions by least squares on the shared basis.
2. Refine everything with L-BFGS on the 2D reprojection error through a pinhole camera (plus a weak term on
   MediaPipe's relative depth, which pins down out-of-plane rotation), with priors on expression size, on
   the identity's distance from the initialisation and on the focal length.
3. Re-centre so the person's mean expression is zero (the identity absorbs it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from backend.alignment import mediapipe_to_head_axes, umeyama
from backend.facemodel import FaceModel
from backend.landmarks import IOD_METRES, N_MESH, STABLE, inter_ocular
from backend.progress import QUIET, Progress
from backend.rotation import euler_to_matrix, matrix_to_euler_np


@dataclass
class FitConfig:
    iterations: int = 60
    depth_weight: float = 0.1
    expression_prior: float = 2e-4
    identity_prior: float = 1.0  # penalty on identity offsets, per metre^2 relative to IOD
    focal_prior: float = 1e-2  # on log(f / f0)
    focal_guess: float = 1.2  # f0 = focal_guess * max(width, height)
    max_frames_for_identity: int = 400


@dataclass
class FitResult:
    identity: np.ndarray  # [468,3]
    expression: np.ndarray  # [T,K]
    pose: np.ndarray  # [T,6]
    camera: np.ndarray  # [3] f, cx, cy
    landmark_nme: float  # mean 2D error / IOD over frames and mesh points


def initial_alignment(points: np.ndarray, model: FaceModel, focal: float, centre: np.ndarray):
    """Per-frame similarity fit of the template -> (euler [T,3], translation [T,3], back-projected shapes)."""
    q = mediapipe_to_head_axes(points[:, :N_MESH])
    template = model.vertices.astype(np.float64)
    eulers, trans, local = [], [], []
    for frame in q:
        s, rot, t = umeyama(template[STABLE], frame[STABLE])
        local.append((frame - t) @ rot / s)
        # weak perspective -> pinhole: scale s px/m at depth d = f / s; image offset of the model origin
        depth = focal / s
        u0, v0 = t[0] + 0.0, t[1]  # head-axes px: x right, y up relative to image top-left with y flipped
        x_img, y_img = u0, -v0  # back to image px
        tx = (x_img - centre[0]) * depth / focal
        ty = -(y_img - centre[1]) * depth / focal
        eulers.append(matrix_to_euler_np(rot))
        trans.append([tx, ty, -depth])
    return np.array(eulers), np.array(trans), np.array(local)


def project(vertices_cam: torch.Tensor, focal: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """OpenGL camera frame -> image pixels (x right, y down)."""
    z = -vertices_cam[..., 2:3]
    u = centre[0] + focal * vertices_cam[..., 0:1] / z
    v = centre[1] - focal * vertices_cam[..., 1:2] / z
    return torch.cat([u, v], dim=-1)


def fit_sequence(landmarks: np.ndarray, width: int, height: int, model: FaceModel,
                 config: FitConfig | None = None, progress: Progress = QUIET) -> FitResult:
    cfg = config or FitConfig()
    lm = landmarks[:, :N_MESH].astype(np.float64)
    centre = np.array([width / 2.0, height / 2.0])
    focal0 = cfg.focal_guess * max(width, height)
    euler0, trans0, local = initial_alignment(lm, model, focal0, centre)
    basis = model.basis.reshape(model.n_expr, -1).astype(np.float64)  # [K, V*3]
    identity0 = local.mean(0)
    expr0 = np.ascontiguousarray(np.linalg.lstsq(basis.T, (local - identity0).reshape(len(lm), -1).T, rcond=None)[0].T)

    dt = torch.float64
    target = torch.tensor(lm[..., :2], dtype=dt)
    iod_px = torch.tensor(inter_ocular(lm[..., :2]), dtype=dt).clamp_min(1.0)
    mp_depth = torch.tensor(-lm[..., 2], dtype=dt)  # toward camera positive, px
    mp_depth = mp_depth - mp_depth.mean(1, keepdim=True)
    basis_t = torch.tensor(model.basis, dtype=dt)
    centre_t = torch.tensor(centre, dtype=dt)

    identity = torch.tensor(identity0, dtype=dt, requires_grad=True)
    expr = torch.tensor(expr0, dtype=dt, requires_grad=True)
    euler = torch.tensor(euler0, dtype=dt, requires_grad=True)
    trans = torch.tensor(trans0, dtype=dt, requires_grad=True)
    log_f = torch.zeros((), dtype=dt, requires_grad=True)
    identity_init = torch.tensor(identity0, dtype=dt)
    params = [identity, expr, euler, trans, log_f]
    optimiser = torch.optim.LBFGS(params, lr=1.0, max_iter=cfg.iterations, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-12)
    n_frames = len(lm)
    progress.stage("fit face model", cfg.iterations)
    calls = [0]

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        focal = focal0 * log_f.exp()
        verts = identity + torch.einsum("tk,kvc->tvc", expr, basis_t)
        cam = verts @ euler_to_matrix(euler).transpose(1, 2) + trans[:, None, :]
        uv = project(cam, focal, centre_t)
        err = ((uv - target) ** 2).sum(-1) / iod_px[:, None] ** 2
        # relative depth from MediaPipe (scaled like x) vs the model's camera-space depth in px at the face
        depth_px = cam[..., 2] * focal / (-cam[..., 2].mean(1, keepdim=True))
        depth_px = depth_px - depth_px.mean(1, keepdim=True)
        derr = ((depth_px - mp_depth) ** 2) / iod_px[:, None] ** 2
        iod_m = IOD_METRES
        loss = (err.mean() + cfg.depth_weight * derr.mean()
                + cfg.expression_prior * (expr**2).sum(1).mean()
                + cfg.identity_prior * ((identity - identity_init) ** 2).sum(1).mean() / iod_m**2 / n_frames
                + cfg.focal_prior * log_f**2)
        loss.backward()
        calls[0] += 1
        if calls[0] <= cfg.iterations:
            progress.update(1)
        return loss

    optimiser.step(closure)
    with torch.no_grad():
        focal = float(focal0 * log_f.exp())
        mean_e = expr.mean(0)
        identity_final = identity + torch.einsum("k,kvc->vc", mean_e, basis_t)
        expr_final = expr - mean_e
        verts = identity_final + torch.einsum("tk,kvc->tvc", expr_final, basis_t)
        cam = verts @ euler_to_matrix(euler).transpose(1, 2) + trans[:, None, :]
        uv = project(cam, torch.tensor(focal, dtype=dt), centre_t)
        nme = float(((uv - target).norm(dim=-1) / iod_px[:, None]).mean())
    pose = np.concatenate([euler.detach().numpy(), trans.detach().numpy()], axis=1)
    return FitResult(identity=identity_final.numpy().astype(np.float32), expression=expr_final.numpy().astype(np.float32),
                     pose=pose.astype(np.float32), camera=np.array([focal, *centre], dtype=np.float32),
                     landmark_nme=nme)


def reprojection_nme(model: FaceModel, identity: np.ndarray, expression: np.ndarray, pose: np.ndarray,
                     camera: np.ndarray, landmarks: np.ndarray) -> float:
    """landmark_nme: mean 2D distance between projected model vertices and tracked landmarks, over all 468
    mesh points and frames, each frame divided by its tracked inter-ocular (outer eye corner) distance."""
    from backend.posing import posed_vertices_np, project_np

    uv = project_np(posed_vertices_np(identity, model.basis, expression, pose), camera)
    lm = landmarks[:, :N_MESH, :2]
    return float((np.linalg.norm(uv - lm, axis=-1) / inter_ocular(lm)[:, None]).mean())
