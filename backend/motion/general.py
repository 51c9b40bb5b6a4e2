"""train-general: a folder of talking-face clips (or ready profiles) -> the general audio->expression model.

Every clip is analyzed into a cached profile (its own audio paired with its fitted tracks); training then
streams batches over the profiles a shard at a time (backend/motion/data.py), so the folder may be as
large as LRW/VoxCeleb/HDTF. A resumable checkpoint (weights, optimiser, step, history) is written every
`checkpoint_every` steps next to the output; the final model lands in models/motion.pt by default.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from backend import __version__
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.motion.data import ProfileStream, feature_stats, load_clip, read_manifest
from backend.motion.model import MotionConfig, MotionNet, save_checkpoint
from backend.motion.train import History, LossWeights, TrainConfig, plot_history, train

GENERAL = TrainConfig(steps=3000, batch=16, crop=64, lr=2e-3, weight_decay=0.02, feature_noise=0.1,
                      eval_every=50)
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".aac")


def default_profiles_dir() -> Path:
    return Path(os.environ.get("TALKING_HEAD_CACHE", Path.home() / ".cache" / "talking-head")) / "profiles"


def _companion_audio(clip: Path) -> Path | None:
    for suffix in AUDIO_SUFFIXES:
        cand = clip.with_suffix(suffix)
        if cand.is_file() and cand != clip:
            return cand
    return None


def collect_profiles(data_dir: Path, profiles_dir: Path, exclude: list[str], progress: Progress) -> list[Path]:
    """Profiles for every clip in `data_dir` (analyzing videos as needed) plus any profile folders in it."""
    from backend.media import sniff

    if not data_dir.is_dir():
        raise UserError(f"{data_dir} is not a folder", hint="pass a folder of talking-face clips")
    entries = sorted(p for p in data_dir.rglob("*") if not any(fnmatch.fnmatch(p.name, x) for x in exclude))
    profiles, clips = [], []
    for p in entries:
        if p.is_dir() and (p / "manifest.json").is_file():
            profiles.append(p)
        elif p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in AUDIO_SUFFIXES + (".json", ".md"):
            try:
                if sniff(p) == "video":
                    clips.append(p)
            except UserError:
                continue  # not media: READMEs, images' sidecars...
    from backend.analysis.pipeline import analyze
    from backend.media import sha256_file

    for clip in progress.iterate(clips, "analyzing clips", len(clips)):
        out = profiles_dir / f"{clip.stem}-{sha256_file(clip)[:10]}"
        try:
            profiles.append(analyze(clip, out, audio=_companion_audio(clip), progress=QUIET, overlay=False))
        except UserError as exc:
            progress.message(f"skipping {clip.name}: {exc}")
    usable = [p for p in profiles if (p / "audio.wav").is_file()]
    for p in set(profiles) - set(usable):
        progress.message(f"skipping {p.name}: no speech audio")
    if not usable:
        raise UserError(f"no usable clips in {data_dir}", hint="clips need a face and speech (or a .wav beside them)")
    return usable


def train_general(data_dir: Path, out: Path, profiles_dir: Path | None = None, steps: int | None = None,
                  exclude: list[str] | None = None, resume: bool = True, checkpoint_every: int = 250,
                  seed: int = 0, progress: Progress = QUIET) -> tuple[Path, History, list[Path]]:
    profiles = collect_profiles(Path(data_dir), Path(profiles_dir or default_profiles_dir()), exclude or [],
                                progress)
    manifests = [read_manifest(p) for p in profiles]
    models = {m.get("face_model") for m in manifests}
    if len(models) > 1:
        raise UserError(f"the profiles use different face models {sorted(map(str, models))}",
                        hint="re-analyze them with one face model")
    cfg = replace(GENERAL, seed=seed, steps=steps or GENERAL.steps)
    progress.stage("loading feature statistics")
    sample = [load_clip(p) for p in profiles[:32]]
    model = MotionNet(MotionConfig(n_expr=sample[0].expression.shape[1]))
    model.set_feature_stats(*feature_stats(sample))
    weights = LossWeights.from_targets(np.concatenate([c.expression for c in sample]), sample[0].mouth.flat_basis())
    partial = out.with_name(out.stem + ".partial.pt")
    start, opt_state, hist = 0, None, History()
    if resume and partial.is_file():
        state = torch.load(partial, map_location="cpu", weights_only=False)
        if state.get("config") == asdict(model.cfg) and state.get("steps") == cfg.steps:
            model.load_state_dict(state["state"])
            start, opt_state, hist = state["step"], state["optimizer"], History(**state["history"])
            progress.message(f"resuming from {partial} at step {start}")
    del sample
    stream = iter(ProfileStream(profiles, cfg.batch, cfg.crop, seed=seed + start,
                                on_skip=lambda p, e: progress.message(f"skipping {p}: {e}")))

    def checkpoint(step: int, net: MotionNet, opt: torch.optim.Optimizer, h: History) -> None:
        from backend.core.atomic import atomic_path

        with atomic_path(partial) as tmp:
            torch.save({"config": asdict(net.cfg), "state": net.state_dict(), "optimizer": opt.state_dict(),
                        "step": step, "steps": cfg.steps, "history": asdict(h)}, tmp)

    hist = train(model, stream, weights, cfg, progress=progress, on_checkpoint=checkpoint,
                 checkpoint_every=checkpoint_every, start_step=start, optimizer_state=opt_state, history=hist)
    meta = {"kind": "general", "face_model": manifests[0].get("face_model"),
            "basis_names": manifests[0].get("basis_names"), "steps": cfg.steps, "profiles": len(profiles),
            "trained_on": [m.get("source", {}).get("clip_sha256") for m in manifests],
            "clip_names": [m.get("source", {}).get("clip_name") for m in manifests],
            "software_version": __version__}
    save_checkpoint(out, model, meta)
    plot_history(hist, out.with_name(out.stem + "_loss.png"), f"general motion model ({len(profiles)} clips)")
    partial.unlink(missing_ok=True)
    return out, hist, profiles
