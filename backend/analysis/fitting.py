"""Fit the face model to tracked landmarks: identity shape, per-frame expression and 6-DoF head pose through
a pinhole camera.

1. Initialise each frame by a similarity alignment of the template on stable points (pose, scale) and
   expressions by least squares on the shared basis.
2. Identity: joint L-BFGS over identity, expressions and poses on up to `identity_frames` frames spread
   over the clip (2D reprojection error, a weak term on MediaPipe's relative depth that pins down
   out-of-plane rotation, small priors, and a gauge that stops the identity from rotating rigidly).
3. Every frame: batched Levenberg-Marquardt on pose + expression with the identity fixed; exact Jacobians
   from torch.func. Frames are independent here, so each converges in a few steps.
4. Re-centre so the person's mean expression is zero (the identity absorbs it).

The focal length is not fitted: it trades off against depth and the identity's depth profile and is
barely observable from landmarks (fitting it left L-BFGS crawling along that valley). f = focal_guess *
max(width, height), a typical webcam/phone field of view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.func import jacfwd, vmap

from backend.core.progress import QUIET, Progress
from backend.face.alignment import mediapipe_to_head_axes, umeyama
from backend.face.landmarks import IOD_METRES, N_MESH, STABLE, inter_ocular
from backend.face.model import FaceModel
from backend.face.rotation import euler_to_matrix, matrix_to_euler_np

# The data term is ~1e-5 at a good fit; scale the loss so L-BFGS's tolerances and curvature pairs work.
LOSS_SCALE = 1e4
DT = torch.float64


@dataclass
class FitConfig:
    identity_frames: int = 60
    identity_iterations: int = 300
    lm_iterations: int = 5
    depth_weight: float = 0.1
    # Priors are in the data term's units (squared error / IOD^2: 0.5 % NME is ~2.5e-5), so they only
    # decide what the landmarks leave open.
    expression_prior: float = 1e-7
    identity_prior: float = 0.001  # on the mean squared identity offset from the template, relative to IOD^2
    gauge_weight: float = 10.0
    focal_guess: float = 1.2  # f = focal_guess * max(width, height)


@dataclass
class FitResult:
    identity: np.ndarray  # [468,3]
    expression: np.ndarray  # [T,K]
    pose: np.ndarray  # [T,6]
    camera: np.ndarray  # [3] f, cx, cy
    landmark_nme: float  # mean 2D error / IOD over frames and mesh points


@dataclass
class _Targets:
    uv: torch.Tensor  # [T,V,2] px
    depth: torch.Tensor  # [T,V] MediaPipe relative depth toward the camera, px, centred per frame
    iod: torch.Tensor  # [T] px
    focal: float
    centre: torch.Tensor  # [2]

    def subset(self, idx: np.ndarray) -> _Targets:
        i = torch.as_tensor(idx)
        return _Targets(self.uv[i], self.depth[i], self.iod[i], self.focal, self.centre)


def initial_alignment(points: np.ndarray, model: FaceModel, focal: float, centre: np.ndarray):
    """Per-frame similarity fit of the template -> (euler [T,3], translation [T,3], back-projected shapes)."""
    q = mediapipe_to_head_axes(points[:, :N_MESH])
    template = model.vertices.astype(np.float64)
    eulers, trans, local = [], [], []
    for frame in q:
        s, rot, t = umeyama(template[STABLE], frame[STABLE])
        local.append((frame - t) @ rot / s)
        # weak perspective -> pinhole: s px/m at depth d = f / s; t is the model origin in (x, -y) px
        depth = focal / s
        eulers.append(matrix_to_euler_np(rot))
        trans.append([(t[0] - centre[0]) * depth / focal, (t[1] + centre[1]) * depth / focal, -depth])
    return np.array(eulers), np.array(trans), np.array(local)


def project(vertices_cam: torch.Tensor, focal: float | torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """OpenGL camera frame -> image pixels (x right, y down)."""
    z = -vertices_cam[..., 2:3]
    u = centre[0] + focal * vertices_cam[..., 0:1] / z
    v = centre[1] - focal * vertices_cam[..., 1:2] / z
    return torch.cat([u, v], dim=-1)


def _data_residuals(cam: torch.Tensor, tg: _Targets, depth_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-point 2D residual [...,V,2] and depth residual [...,V], both in units of IOD."""
    uv = project(cam, tg.focal, tg.centre)
    r2d = (uv - tg.uv) / tg.iod[..., None, None]
    depth_px = cam[..., 2] * tg.focal / (-cam[..., 2].mean(-1, keepdim=True))
    depth_px = depth_px - depth_px.mean(-1, keepdim=True)
    rdepth = (depth_px - tg.depth) / tg.iod[..., None] * depth_weight**0.5
    return r2d, rdepth


def _fit_identity(tg: _Targets, model: FaceModel, euler0: np.ndarray, trans0: np.ndarray, expr0: np.ndarray,
                  cfg: FitConfig, progress: Progress) -> torch.Tensor:
    """Joint fit on a subset of frames; returns the identity [V,3]."""
    basis = torch.tensor(model.basis, dtype=DT)
    identity_init = torch.tensor(model.vertices, dtype=DT)
    # Offsets in units where a unit step is a comparable change on the image (mm, 0.1 degree, mm):
    # L-BFGS converges badly on raw radians and metres.
    d_identity = torch.zeros(identity_init.shape, dtype=DT, requires_grad=True)
    d_euler = torch.zeros(euler0.shape, dtype=DT, requires_grad=True)
    d_trans = torch.zeros(trans0.shape, dtype=DT, requires_grad=True)
    expr = torch.tensor(expr0, dtype=DT, requires_grad=True)
    euler_init, trans_init = torch.tensor(euler0, dtype=DT), torch.tensor(trans0, dtype=DT)
    mm, tenth_degree = 1e-3, float(np.radians(0.1))
    stable_ref = identity_init[STABLE]
    stable_arm = stable_ref - stable_ref.mean(0)
    iod_m = IOD_METRES
    optimiser = torch.optim.LBFGS([d_identity, expr, d_euler, d_trans], lr=1.0, max_iter=cfg.identity_iterations,
                                  history_size=30, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                                  tolerance_change=1e-14)
    progress.stage("fit identity", cfg.identity_iterations)
    calls = [0]

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        identity = identity_init + mm * d_identity
        verts = identity + torch.einsum("tk,kvc->tvc", expr, basis)
        rot = euler_to_matrix(euler_init + tenth_degree * d_euler)
        cam = verts @ rot.transpose(1, 2) + (trans_init + mm * d_trans)[:, None, :]
        r2d, rdepth = _data_residuals(cam, tg, cfg.depth_weight)
        # Gauge: a rigid motion of the identity could be undone by every pose. Pin it by asking the stable
        # points' offsets from the template to carry no net translation or (linearised) rotation, so head
        # pose means "the rigid motion of the stable points" for every person.
        offset = identity[STABLE] - stable_ref
        gauge = (offset.mean(0) ** 2).sum() + (torch.cross(stable_arm, offset, dim=1).mean(0) ** 2).sum() / iod_m**2
        loss = ((r2d**2).sum(-1).mean() + (rdepth**2).mean() + cfg.gauge_weight * gauge / iod_m**2
                + cfg.expression_prior * (expr**2).sum(1).mean()
                + cfg.identity_prior * ((identity - identity_init) ** 2).sum(1).mean() / iod_m**2)
        loss = loss * LOSS_SCALE
        loss.backward()
        calls[0] += 1
        if calls[0] <= cfg.identity_iterations:
            progress.update(1)
        return loss

    optimiser.step(closure)
    return (identity_init + mm * d_identity).detach()


def _fit_frames(tg: _Targets, identity: torch.Tensor, basis: torch.Tensor, theta0: torch.Tensor, cfg: FitConfig,
                progress: Progress, fixed_pose: torch.Tensor | None = None, chunk: int = 128) -> torch.Tensor:
    """Levenberg-Marquardt per frame on theta = [euler(3), translation(3), expression(K)], or on the
    expression alone when `fixed_pose` [T,6] is given (theta0 is then [T,K])."""
    prior = cfg.expression_prior**0.5
    # float32 is plenty for these small, well-conditioned per-frame problems and halves the cost
    identity, basis, theta0 = identity.float(), basis.float(), theta0.float()
    tg = _Targets(tg.uv.float(), tg.depth.float(), tg.iod.float(), tg.focal, tg.centre.float())
    poses = fixed_pose.float() if fixed_pose is not None else torch.zeros(len(theta0), 0)

    def residual(theta: torch.Tensor, pose: torch.Tensor, uv: torch.Tensor, depth: torch.Tensor,
                 iod: torch.Tensor) -> torch.Tensor:
        full = torch.cat([pose, theta]) if fixed_pose is not None else theta
        verts = identity + torch.einsum("k,kvc->vc", full[6:], basis)
        cam = verts @ euler_to_matrix(full[:3]).T + full[3:6]
        r2d, rdepth = _data_residuals(cam, _Targets(uv, depth, iod, tg.focal, tg.centre), cfg.depth_weight)
        return torch.cat([r2d.reshape(-1), rdepth, prior * full[6:]])

    batched_res = vmap(residual)
    batched_jac = vmap(jacfwd(residual))
    out = theta0.clone()
    progress.stage("fit frames" if fixed_pose is None else "refit expressions", len(theta0))
    for start in range(0, len(theta0), chunk):
        sl = slice(start, start + chunk)
        data = (poses[sl], tg.uv[sl], tg.depth[sl], tg.iod[sl])
        theta = out[sl]
        mu = torch.full((len(theta),), 1e-3)
        res = batched_res(theta, *data)
        cost = (res**2).sum(1)
        for _ in range(cfg.lm_iterations):
            jac = batched_jac(theta, *data)  # [B,R,P]
            jtj = jac.transpose(1, 2) @ jac
            jtr = (jac.transpose(1, 2) @ res[..., None])[..., 0]
            diag = torch.diagonal(jtj, dim1=1, dim2=2).clamp_min(1e-12)
            step = torch.linalg.solve(jtj + torch.diag_embed(mu[:, None] * diag), -jtr)
            cand = theta + step
            cand_res = batched_res(cand, *data)
            cand_cost = (cand_res**2).sum(1)
            better = cand_cost < cost
            theta = torch.where(better[:, None], cand, theta)
            res = torch.where(better[:, None], cand_res, res)
            cost = torch.where(better, cand_cost, cost)
            mu = torch.where(better, mu * 0.3, mu * 10)
        out[sl] = theta
        progress.update(len(theta))
    return out.double()


def refit_expression(landmarks: np.ndarray, identity: np.ndarray, model: FaceModel, pose: np.ndarray,
                     camera: np.ndarray, expression0: np.ndarray, config: FitConfig | None = None,
                     progress: Progress = QUIET) -> np.ndarray:
    """Expressions [T,K] that best explain the landmarks with the head pose held at `pose` [T,6].

    Used after smoothing the pose: the per-frame fit lets expression soak up some pose noise, so smoothing
    the pose alone would leave that noise in the expressions and misalign the mesh."""
    cfg = config or FitConfig()
    tg = _targets(landmarks[:, :N_MESH].astype(np.float64), float(camera[0]), np.asarray(camera[1:], np.float64))
    theta = _fit_frames(tg, torch.tensor(identity, dtype=DT), torch.tensor(model.basis, dtype=DT),
                        torch.tensor(expression0, dtype=DT), cfg, progress,
                        fixed_pose=torch.tensor(pose, dtype=DT))
    return theta.numpy().astype(np.float32)


def _targets(lm: np.ndarray, focal: float, centre: np.ndarray) -> _Targets:
    depth = torch.tensor(-lm[..., 2], dtype=DT)  # toward the camera positive, px
    return _Targets(uv=torch.tensor(lm[..., :2], dtype=DT), depth=depth - depth.mean(1, keepdim=True),
                    iod=torch.tensor(inter_ocular(lm[..., :2]), dtype=DT).clamp_min(1.0), focal=focal,
                    centre=torch.tensor(centre, dtype=DT))


def fit_sequence(landmarks: np.ndarray, width: int, height: int, model: FaceModel,
                 config: FitConfig | None = None, progress: Progress = QUIET) -> FitResult:
    cfg = config or FitConfig()
    lm = landmarks[:, :N_MESH].astype(np.float64)
    centre = np.array([width / 2.0, height / 2.0])
    focal = cfg.focal_guess * max(width, height)
    euler0, trans0, local = initial_alignment(lm, model, focal, centre)
    basis_np = model.basis.reshape(model.n_expr, -1).astype(np.float64)
    expr0 = np.ascontiguousarray(np.linalg.lstsq(basis_np.T, (local - local.mean(0)).reshape(len(lm), -1).T,
                                                 rcond=None)[0].T)
    tg = _targets(lm, focal, centre)
    subset = np.unique(np.linspace(0, len(lm) - 1, min(len(lm), cfg.identity_frames)).round().astype(int))
    identity = _fit_identity(tg.subset(subset), model, euler0[subset], trans0[subset], expr0[subset], cfg, progress)
    basis = torch.tensor(model.basis, dtype=DT)
    theta0 = torch.tensor(np.concatenate([euler0, trans0, expr0], axis=1), dtype=DT)
    theta = _fit_frames(tg, identity, basis, theta0, cfg, progress)
    with torch.no_grad():
        expr = theta[:, 6:]
        mean_e = expr.mean(0)
        identity_final = identity + torch.einsum("k,kvc->vc", mean_e, basis)
        expr_final = expr - mean_e
        verts = identity_final + torch.einsum("tk,kvc->tvc", expr_final, basis)
        cam = verts @ euler_to_matrix(theta[:, :3]).transpose(1, 2) + theta[:, None, 3:6]
        nme = float(((project(cam, focal, tg.centre) - tg.uv).norm(dim=-1) / tg.iod[:, None]).mean())
    return FitResult(identity=identity_final.numpy().astype(np.float32), expression=expr_final.numpy().astype(np.float32),
                     pose=theta[:, :6].numpy().astype(np.float32), camera=np.array([focal, *centre], dtype=np.float32),
                     landmark_nme=nme)


def reprojection_nme(model: FaceModel, identity: np.ndarray, expression: np.ndarray, pose: np.ndarray,
                     camera: np.ndarray, landmarks: np.ndarray) -> float:
    """landmark_nme: mean 2D distance between projected model vertices and tracked landmarks, over all 468
    mesh points and frames, each frame divided by its tracked inter-ocular (outer eye corner) distance."""
    from backend.face.posing import posed_vertices_np, project_np

    uv = project_np(posed_vertices_np(identity, model.basis, expression, pose), camera)
    lm = landmarks[:, :N_MESH, :2]
    return float((np.linalg.norm(uv - lm, axis=-1) / inter_ocular(lm)[:, None]).mean())
