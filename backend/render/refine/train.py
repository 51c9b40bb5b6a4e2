"""Personalising the refiner on the target clip's own frames (PROFILE/refiner.pt).

Each training frame is rendered coarse with its fitted expression and pose, composited over its own
background crop exactly as the video path composites over a matched one, and turned into the refiner's
input planes (backend.render.refine.inputs); the real crop is the target. Losses (pix2pix-style): L1 with
`region_weight` more on the mouth and eyes, LSGAN adversarial loss of the 70x70 PatchGAN and feature
matching on its intermediate layers (no pretrained perceptual network); the GAN terms start after
`adv_start` of the steps. Checkpoints every `checkpoint_every` steps (incomplete: a new run resumes them);
mixed precision (bf16 autocast) on CUDA only.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from backend import media
from backend.core.atomic import atomic_path
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.face.crops import crop_camera
from backend.face.profile import Profile, load_profile
from backend.render.background import composite, feather_mask
from backend.render.face import FaceRenderer, load_albedo, single_thread
from backend.render.inlays import Inlays, choose_memory
from backend.render.mouth_colours import fit_colours, pick_frames
from backend.render.pasteback import crop_frame
from backend.render.refine import checkpoint as ckpt
from backend.render.refine.apply import network_input, read_memory, refine, window_planes
from backend.render.refine.inputs import FrameInput, frame_input, key_vector
from backend.render.refine.memory import Memory
from backend.render.refine.network import blend
from backend.render.refine.presets import RefinerConfig

FEATHER = 0.03  # as the video path's compositing feather (fraction of the crop side)
MIN_FRAMES = 20


@dataclass
class TrainingSet:
    frames: list[FrameInput]  # per usable frame, in clip order
    real: np.ndarray  # [N,S,S,3] uint8 real crops
    keys: np.ndarray  # [N,D]
    index: np.ndarray  # [N] clip frame of each


@dataclass
class TrainResult:
    path: Path
    steps: int
    frames: int
    seconds: float
    prepare_seconds: float
    resumed_from: int
    history: list[dict] = field(default_factory=list)


def _real_crops(clip: Path, fps: float, crops: np.ndarray, size: int, progress: Progress) -> np.ndarray:
    n = len(crops)
    out = np.zeros((n, size, size, 3), np.uint8)
    progress.stage("refiner: decode target frames", n)
    for i, rgb in media.iter_frames(clip, fps):
        if i >= n:
            break
        out[i] = crop_frame(rgb, crops[i], size)
        progress.update(1)
    return out


def matched_backgrounds(pose: np.ndarray, usable: np.ndarray, radius: int) -> np.ndarray:
    """For each usable frame, the usable frame nearest in pose (each of the 6 axes scaled by its spread) that
    is more than `radius` frames away: a stand-in for the matched background a held-out frame gets."""
    p = np.asarray(pose, np.float64)[usable]
    p = (p - p.mean(0)) / np.maximum(p.std(0), 1e-9)
    d = ((p[:, None] - p[None]) ** 2).sum(-1)
    d[np.abs(usable[:, None] - usable[None]) <= radius] = np.inf
    best = d.argmin(1)
    return np.where(np.isfinite(d[np.arange(len(usable)), best]), usable[best], usable)


def prepare(profile: Profile, clip: Path, cfg: RefinerConfig, train_frames: int | None = None,
            progress: Progress = QUIET) -> TrainingSet:
    """Render and composite every usable training frame (see the module docstring)."""
    fit = profile.fit()
    s = cfg.out_size
    n = min(train_frames or len(fit["pose"]), len(fit["pose"]))
    crops = fit[f"crop_{s}"][:n]
    usable = np.flatnonzero(np.asarray(fit["valid"][:n], bool))
    if len(usable) < MIN_FRAMES:
        raise UserError(f"profile {profile.path} has only {len(usable)} tracked frames to train the refiner on",
                        hint=f"analyze a clip with at least {MIN_FRAMES} frames where the face is found")
    real = _real_crops(clip, profile.fps, crops, s, progress)
    model, albedo, sh = profile.face_model(), load_albedo(profile), profile.lighting()
    cams = np.stack([crop_camera(fit["camera"], a) for a in crops])
    calib = pick_frames(profile, fit["expression"][:n])
    colours, _ = fit_colours((model, albedo, sh, s), fit["expression"][calib], fit["pose"][calib], cams[calib],
                             real[calib])
    renderer = FaceRenderer(model, albedo, sh, s, mouth_colours=colours)
    fill = None
    if cfg.inlays:  # the training frames' own real crops; frames near the one filled are avoided below
        mem = choose_memory(model, fit["expression"], fit["pose"], np.isin(np.arange(len(fit["pose"])), usable))
        fill = Inlays.from_fit(model, fit, mem, real[mem], crops)
    backdrop = dict(zip(usable.tolist(), (matched_backgrounds(fit["pose"][:n], usable, cfg.exclude_frames)
                                          if cfg.background == "matched" else usable).tolist(), strict=True))
    frames: list[FrameInput] = []
    progress.stage("refiner: render training inputs", len(usable))
    for lo in range(0, len(usable), 16):
        idx = usable[lo:lo + 16]
        faces = renderer.draw(fit["expression"][idx], fit["pose"][idx], cams[idx])
        inlay_frames = fill.frames(fit["expression"][idx], fit["pose"][idx], faces.points) if fill is not None else []
        for k, i in enumerate(idx):
            comp = composite(faces.images[k], feather_mask(faces.masks[k], FEATHER * s), real[backdrop[int(i)]])
            if fill is not None:  # another moment's eyes and teeth, as at render time
                comp = fill.apply(comp, inlay_frames[k], avoid=int(i), radius=cfg.exclude_frames)
            frames.append(frame_input(comp, faces.masks[k], faces.cavity[k], cfg.net_size,
                                      blank_holes=fill is None))
        progress.update(len(idx))
    keys = key_vector(fit["expression"][usable], fit["pose"][usable], np.stack([f.key_extra for f in frames]))
    return TrainingSet(frames=frames, real=real[usable], keys=keys, index=usable)


def build_memory(data: TrainingSet, net_size: int) -> Memory:
    """Values: the real frames' mouth and eye regions at the networks' resolution (the rest zero)."""
    values = np.stack([cv2.resize(r, (net_size, net_size), interpolation=cv2.INTER_AREA) * f.region[..., None]
                       for r, f in zip(data.real, data.frames, strict=True)]).transpose(0, 3, 1, 2)
    return Memory(data.keys, values)


def _small(image: torch.Tensor, cfg: RefinerConfig) -> torch.Tensor:
    """An output-size image at the discriminator's (the networks') resolution."""
    return image if image.shape[-1] == cfg.net_size else F.interpolate(image, size=cfg.net_size, mode="area")


def _lsgan(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(logits, torch.full_like(logits, target))


def _batch(data: TrainingSet, memory: Memory, cfg: RefinerConfig, idx: np.ndarray, device: torch.device,
           exclude: bool = True) -> dict[str, torch.Tensor]:
    planes = window_planes(data.frames, idx)
    mem = read_memory(memory, data.keys[idx], cfg.memory, cfg.top_k, idx if exclude else None, cfg.exclude_frames)
    s = cfg.out_size
    region = np.stack([data.frames[i].region for i in idx]).astype(np.float32)
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    coarse = to(np.stack([data.frames[i].coarse for i in idx])).permute(0, 3, 1, 2).float() / 255.0
    real = to(data.real[idx]).permute(0, 3, 1, 2).float() / 255.0
    weight = 1.0 + cfg.region_weight * F.interpolate(to(region)[:, None], size=(s, s), mode="nearest")
    return {"x": network_input(planes, mem).to(device), "coarse": coarse, "real": real, "weight": weight,
            "cond": to(planes[:, 6:12]).float() / 255.0}


def _step(gen: torch.nn.Module, disc: torch.nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
          b: dict[str, torch.Tensor], cfg: RefinerConfig, gan: bool, amp: bool) -> dict[str, float]:
    """One generator (and, once the GAN terms are on, discriminator) update; -> the losses."""
    running: dict[str, float] = {}
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        colour, attention = gen(b["x"])
    fake = blend(colour.float(), attention.float(), b["coarse"])
    l1 = (b["weight"] * (fake - b["real"]).abs()).mean()
    loss_g = cfg.l1_weight * l1
    if gan:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            logits_f, feats_f = disc(b["cond"], _small(fake, cfg))
            with torch.no_grad():
                _, feats_r = disc(b["cond"], _small(b["real"], cfg))
        fm = sum(F.l1_loss(f.float(), r.float()) for f, r in zip(feats_f, feats_r, strict=True)) / len(feats_f)
        adv = _lsgan(logits_f.float(), 1.0)
        loss_g = loss_g + cfg.adv_weight * adv + cfg.fm_weight * fm
        running["adv"], running["fm"] = float(adv.detach()), float(fm.detach())
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    if gan:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            logits_r, _ = disc(b["cond"], _small(b["real"], cfg))
            logits_f, _ = disc(b["cond"], _small(fake.detach(), cfg))
        loss_d = 0.5 * (_lsgan(logits_r.float(), 1.0) + _lsgan(logits_f.float(), 0.0))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        running["d"] = float(loss_d.detach())
    running["l1"] = float(l1.detach())
    return running


def sample_grid(path: Path, data: TrainingSet, memory: Memory, cfg: RefinerConfig, generator: torch.nn.Module,
                count: int = 4) -> Path:
    """PNG of `count` training frames spread over the clip: rows coarse | refined | real, at 128 px."""
    idx = np.linspace(0, len(data.frames) - 1, count).round().astype(int)
    device = next(generator.parameters()).device
    b = _batch(data, memory, cfg, idx, device)
    generator.eval()
    out = refine(generator, b["x"], np.stack([data.frames[i].coarse for i in idx]))
    generator.train()
    tile = lambda im: cv2.resize(im, (128, 128), interpolation=cv2.INTER_AREA)  # noqa: E731
    rows = [np.concatenate([tile(data.frames[i].coarse), tile(out[k]), tile(data.real[i])], 1)
            for k, i in enumerate(idx)]
    grid = np.concatenate(rows, 0)
    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        tmp.write_bytes(buf.tobytes())
    return path


def _resumable(old: dict, cfg: RefinerConfig, frames: int) -> bool:
    """An unfinished run of the same recipe on the same frames (its step count may differ)."""
    return (not old.get("complete") and old.get("train_frames") == frames
            and ckpt.config_from(old["config"]) == replace(cfg, steps=old["config"]["steps"]))


def _previous(out: Path, profile: Profile, progress: Progress) -> dict | None:
    """The checkpoint already at `out` when it is this profile's (to resume); another's is replaced."""
    if not out.is_file():
        return None
    old = ckpt.read(out)
    try:
        ckpt.check_owner(old, profile, out)
    except UserError as exc:
        progress.message(f"refiner: replacing {out}: {str(exc).splitlines()[0]}")
        return None
    return old


def train_refiner(profile_dir: str | Path, clip: str | Path, cfg: RefinerConfig, device: str = "cpu",
                  out: str | Path | None = None, train_frames: int | None = None, seed: int = 0,
                  progress: Progress = QUIET, preset: str = "custom") -> TrainResult:
    """Train (or resume) the profile's refiner; writes `out` (default PROFILE/refiner.pt) and
    PROFILE/refiner_samples.png (render | refined | real)."""
    profile = load_profile(profile_dir)
    out = Path(out) if out else profile.path / ckpt.FILENAME
    dev = torch.device(device)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    data = prepare(profile, Path(clip), cfg, train_frames, progress)
    memory = build_memory(data, cfg.net_size)
    prep_s = time.perf_counter() - t0
    gen, disc = ckpt.build(cfg)
    gen, disc = gen.to(dev), disc.to(dev)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    start, history, spent = 0, [], 0.0
    old = _previous(out, profile, progress)
    if old is not None and _resumable(old, cfg, len(data.frames)):
        gen.load_state_dict(old["generator"])
        disc.load_state_dict(old["discriminator"])
        opt_g.load_state_dict(old["opt_g"])
        opt_d.load_state_dict(old["opt_d"])
        start, history, spent = int(old["step"]), list(old.get("history", [])), float(old.get("seconds", 0))
        progress.message(f"refiner: resuming the unfinished training at step {start}")
    amp = dev.type == "cuda"

    def payload(step: int, complete: bool, seconds: float) -> dict:
        return {"profile_id": profile.id, "face_model": profile.manifest.get("face_model"), "preset": preset,
                "config": cfg.to_dict(), "step": step, "complete": complete, "seconds": round(seconds, 1),
                "train_frames": len(data.frames), "history": history,
                "generator": gen.state_dict(), "discriminator": disc.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "memory": memory.state()}

    progress.stage("train refiner", cfg.steps)
    progress.update(start)
    t_train = time.perf_counter()
    running: dict[str, float] = {}
    # CPU: one thread (measured 8x faster than two on the shared machine: 0.9 vs 7 s per G step at load 6)
    threads = single_thread() if dev.type == "cpu" else contextlib.nullcontext()
    with threads:
        for step in range(start, cfg.steps):
            progress.check_cancel()
            rng = np.random.default_rng(seed * 1_000_003 + step)  # per step: a resumed run sees the same batches
            b = _batch(data, memory, cfg, rng.integers(0, len(data.frames), cfg.batch), dev)
            running.update(_step(gen, disc, opt_g, opt_d, b, cfg, step >= cfg.adv_start * cfg.steps, amp))
            if (step + 1) % 25 == 0 or step + 1 == cfg.steps:
                history.append({"step": step + 1, **{k: round(v, 5) for k, v in running.items()}})
            if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
                ckpt.save(out, payload(step + 1, False, spent + time.perf_counter() - t_train))
            progress.update(1)
    seconds = spent + time.perf_counter() - t_train
    sample_grid(profile.path / "refiner_samples.png", data, memory, cfg, gen)
    ckpt.save(out, payload(cfg.steps, True, seconds))
    progress.close()
    return TrainResult(path=out, steps=cfg.steps, frames=len(data.frames), seconds=seconds, prepare_seconds=prep_s,
                       resumed_from=start, history=history)
