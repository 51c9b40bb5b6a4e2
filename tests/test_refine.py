"""The refiner (backend/render/refine): network shapes and receptive field, the memory, a few training steps
lowering the loss, checkpoint round trip, resume after an interruption, refusing another profile's refiner,
and the video path with and without a trained refiner (default tier: synthetic 32-64 px data, a handful of
steps); CPU vs CUDA agreement (gpu tier)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_render_video import FPS, make_audio, make_profile, make_tracks

from backend.core.errors import UserError
from backend.core.progress import Cancelled, Progress
from backend.face.profile import load_profile
from backend.render.refine import checkpoint as ckpt
from backend.render.refine.apply import RefineStream
from backend.render.refine.inputs import fill_holes, frame_input
from backend.render.refine.memory import Memory
from backend.render.refine.network import Generator, PatchDiscriminator, blend, in_channels
from backend.render.refine.presets import preset_for
from backend.render.refine.train import (
    TrainingSet,
    _batch,
    _step,
    build_memory,
    matched_backgrounds,
    train_refiner,
)
from backend.render.video import render_video

N = 24  # synthetic clip frames (the refiner needs at least 20)
TINY = {"net_size": 32, "width": 4, "levels": 2, "d_width": 4, "batch": 2, "checkpoint_every": 2}


@pytest.mark.parametrize("size", [128, 256, 512])
def test_generator_and_blend_shapes(size: int) -> None:
    torch.manual_seed(0)
    gen = Generator(width=2, levels=4)
    x = torch.rand(1, in_channels(), size, size)
    colour, attention = gen(x)
    assert colour.shape == (1, 3, size, size) and attention.shape == (1, 1, size, size)
    assert float(colour.detach().min()) >= 0 and float(attention.detach().max()) <= 1
    # a network at a lower resolution blends at the render size
    out = blend(colour[..., ::2, ::2], attention[..., ::2, ::2], torch.zeros(1, 3, size, size))
    assert out.shape == (1, 3, size, size)


def test_patch_discriminator_sees_70_px() -> None:
    disc = PatchDiscriminator(6, width=4).double()
    for layer in disc.layers:  # the convolutions' geometry alone (group norm statistics span the image)
        layer[1] = torch.nn.Identity()
    for m in disc.modules():  # constant weights: the gradient's support is the receptive field
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.constant_(m.weight, 0.01)
    image = torch.rand(1, 3, 128, 128, dtype=torch.double, requires_grad=True)
    logits, feats = disc(torch.zeros(1, 6, 128, 128, dtype=torch.double), image)
    assert logits.shape == (1, 1, 14, 14) and len(feats) == 4
    logits[0, 0, 7, 7].backward()
    cols = np.flatnonzero(image.grad.abs().sum((0, 1, 2)).numpy() > 0)
    assert cols[-1] - cols[0] + 1 == 70


def test_memory_returns_the_stored_value_for_its_own_key() -> None:
    rng = np.random.default_rng(0)
    keys = rng.normal(size=(10, 5)).astype(np.float32)
    values = rng.integers(0, 255, (10, 3, 8, 8)).astype(np.uint8)
    mem = Memory(keys, values)
    idx, w = mem.search(keys, k=3)
    assert (idx[:, 0] == np.arange(10)).all() and (w[:, 0] > 0.99).all()
    np.testing.assert_allclose(mem.read(keys[4:5], k=3)[0], values[4] / 255.0, atol=0.01)
    # training: the target's own neighbourhood is never returned
    idx, _ = mem.search(keys, k=3, exclude=np.arange(10), exclude_radius=1)
    assert (np.abs(idx - np.arange(10)[:, None]) > 1).all()
    again = Memory.from_state(mem.state())
    np.testing.assert_allclose(again.keys, mem.keys, rtol=1e-6)


def test_matched_backgrounds_are_the_nearest_pose_outside_the_radius() -> None:
    """background="matched": every training frame gets another frame's background, never one within the
    radius, and the nearest in pose among the rest (a head that turns and comes back finds its return)."""
    t = np.arange(60)
    pose = np.zeros((60, 6))
    pose[:, 1] = np.sin(2 * np.pi * t / 30)  # yaw: two swings, so every pose recurs 30 frames later
    usable = t[t != 40]
    got = matched_backgrounds(pose, usable, radius=6)
    assert len(got) == len(usable) and np.all(np.abs(got - usable) > 6) and 40 not in got
    for i, j in zip(usable, got, strict=True):
        far = usable[np.abs(usable - i) > 6]
        assert abs(pose[j, 1] - pose[i, 1]) <= np.abs(pose[far, 1] - pose[i, 1]).min() + 1e-9


def test_frame_input_blanks_the_eye_holes() -> None:
    mask = np.zeros((64, 64), bool)
    mask[10:54, 10:54] = True
    mask[20:26, 18:30] = False  # an eye hole
    cavity = np.zeros_like(mask)
    cavity[40:46, 26:38] = True
    composite = np.full((64, 64, 3), 200, np.uint8)
    fi = frame_input(composite, mask, cavity, 32)
    assert fill_holes(mask)[22, 22] and not fill_holes(mask)[5, 5]
    assert (fi.coarse[22, 22] == 0).all() and (fi.coarse[5, 5] == 200).all()  # the background's eye never shows
    assert fi.planes.shape == (6, 32, 32) and fi.region[11, 12] and fi.region[21, 16]
    assert fi.key_extra[0] == pytest.approx(72 / 64 ** 2) and fi.key_extra[1] == pytest.approx(72 / 64 ** 2)


def _synthetic_set(cfg, n: int = 8) -> TrainingSet:
    """Squares whose real appearance is a shifted colour of the coarse one: learnable in a few steps."""
    rng = np.random.default_rng(0)
    frames, real = [], []
    s = cfg.out_size
    for i in range(n):
        mask = np.zeros((s, s), bool)
        o = 8 + i % 4
        mask[o:o + 40, o:o + 40] = True
        comp = np.where(mask[..., None], 180, 60).astype(np.uint8) + rng.integers(0, 10, (s, s, 3)).astype(np.uint8)
        frames.append(frame_input(comp, mask, np.zeros_like(mask), cfg.net_size))
        real.append(np.where(mask[..., None], np.array([120, 90, 200]), 60).astype(np.uint8))
    keys = np.stack([np.r_[i, np.zeros(3)] for i in range(n)]).astype(np.float32)
    return TrainingSet(frames=frames, real=np.stack(real), keys=keys, index=np.arange(n))


def test_a_few_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    cfg = preset_for("draft", "cpu", out_size=64, adv_start=0.0, lr=2e-3, **TINY)
    data = _synthetic_set(cfg)
    mem = build_memory(data, cfg.net_size)
    gen, disc = ckpt.build(cfg)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    b = _batch(data, mem, cfg, np.arange(8), torch.device("cpu"))
    losses = [_step(gen, disc, opt_g, opt_d, b, cfg, True, False) for _ in range(30)]
    assert losses[-1]["l1"] < 0.6 * losses[0]["l1"]
    assert {"adv", "fm", "d"} <= set(losses[0])


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("refine")
    prof = make_profile(root, N)
    return {"root": root, "profile": prof, "clip": root / "target.mp4",
            "tracks": make_tracks(root / "tracks.json", 12), "audio": make_audio(root / "speech.wav", 12 / FPS)}


def _tiny(**kw):  # noqa: ANN202
    return preset_for("draft", "cpu", **{**TINY, "out_size": 256, "steps": 4, "adv_start": 0.5, **kw})


def test_checkpoint_round_trip_and_resume(scene, tmp_path: Path) -> None:
    cfg = _tiny()
    whole = train_refiner(scene["profile"], scene["clip"], cfg, out=tmp_path / "whole.pt", seed=3)
    assert whole.steps == 4 and whole.resumed_from == 0 and whole.frames == N
    data = ckpt.read(whole.path)
    assert data["complete"] and data["profile_id"] == "5e1f0000aaaabbbb" and data["step"] == 4
    assert (scene["profile"] / "refiner_samples.png").is_file()

    # interrupted right after the checkpoint of step 2: it remains, unfinished, and is never used to render
    part = tmp_path / "part.pt"
    with pytest.raises(Cancelled):
        train_refiner(scene["profile"], scene["clip"], cfg, out=part, seed=3,
                      progress=Progress(mode="quiet", cancel_requested=part.exists))
    assert ckpt.read(part)["step"] == 2 and not ckpt.read(part)["complete"]
    assert ckpt.load_refiner(load_profile(scene["profile"]), part) is None
    resumed = train_refiner(scene["profile"], scene["clip"], cfg, out=part, seed=3)
    assert resumed.resumed_from == 2
    a = ckpt.load_refiner(load_profile(scene["profile"]), whole.path)
    b = ckpt.load_refiner(load_profile(scene["profile"]), part)
    for (k, va), vb in zip(a.generator.state_dict().items(), b.generator.state_dict().values(), strict=True):
        torch.testing.assert_close(va, vb, atol=1e-5, rtol=1e-4, msg=k)


def test_render_with_and_without_a_trained_refiner(scene, tmp_path: Path) -> None:
    prof = tmp_path / "profile"
    shutil.copytree(scene["profile"], prof)
    (prof / "refiner.pt").unlink(missing_ok=True)
    plain = render_video(prof, scene["tracks"], scene["audio"], tmp_path / "a.mp4", clip=scene["clip"], refine=True)
    assert not plain.refined and any("no trained refiner" in n for n in plain.notes)
    train_refiner(prof, scene["clip"], _tiny(steps=2))
    for crop_only in (True, False):
        out = render_video(prof, scene["tracks"], scene["audio"], tmp_path / f"b{crop_only}.mp4",
                           clip=scene["clip"], refine=True, crop_only=crop_only)
        assert out.refined and out.frames == 12
        from backend import media

        assert media.count_frames(out.path, FPS) == 12  # the stream's one-frame delay is flushed


def test_another_profiles_refiner_is_refused(scene, tmp_path: Path) -> None:
    trained = train_refiner(scene["profile"], scene["clip"], _tiny(steps=1), out=tmp_path / "r.pt")
    other = tmp_path / "other"
    shutil.copytree(scene["profile"], other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["profile_id"] = "0123456789abcdef"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="trained for profile 5e1f0000aaaabbbb"):
        ckpt.load_refiner(load_profile(other), trained.path)
    # training the other profile's own refiner replaces it (never resumes someone else's)
    shutil.copy(trained.path, tmp_path / "alien.pt")
    mine = train_refiner(other, scene["clip"], _tiny(steps=1), out=tmp_path / "alien.pt")
    assert mine.resumed_from == 0 and ckpt.load_refiner(load_profile(other), mine.path) is not None
    data = ckpt.read(trained.path)
    data["face_model"] = "another-model"
    torch.save(data, tmp_path / "fm.pt")
    with pytest.raises(UserError, match="face model 'another-model'"):
        ckpt.load_refiner(load_profile(scene["profile"]), tmp_path / "fm.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a readable refiner checkpoint"):
        ckpt.load_refiner(load_profile(scene["profile"]), tmp_path / "junk.pt")


def test_stream_returns_every_frame_in_order() -> None:
    cfg = preset_for("draft", "cpu", out_size=64, **TINY)
    gen, _ = ckpt.build(cfg)
    rng = np.random.default_rng(0)
    mem = Memory(rng.normal(size=(4, 37)), rng.integers(0, 255, (4, 3, 32, 32)))  # 32 expression + 3 + 2
    stream = RefineStream(ckpt.Refiner(config=cfg, generator=gen.eval(), memory=mem, meta={}), batch=3)
    got = []
    mask = np.zeros((64, 64), bool)
    mask[10:50, 10:50] = True
    for i in range(10):
        got += stream.push(np.full((64, 64, 3), i, np.uint8), mask, np.zeros_like(mask), np.zeros(32), np.zeros(6), i)
    got += stream.flush()
    assert [p for _, p in got] == list(range(10)) and got[0][0].shape == (64, 64, 3)


@pytest.mark.gpu
def test_cpu_and_cuda_agree() -> None:
    torch.manual_seed(0)
    gen = Generator(width=8, levels=3).eval()
    x = torch.rand(2, in_channels(), 64, 64)
    with torch.no_grad():
        c_cpu, a_cpu = gen(x)
        c_gpu, a_gpu = gen.cuda()(x.cuda())
    torch.testing.assert_close(c_gpu.cpu(), c_cpu, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(a_gpu.cpu(), a_cpu, atol=1e-4, rtol=1e-3)
