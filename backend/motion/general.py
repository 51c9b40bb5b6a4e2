"""train-general: a folder of talking-face clips (or ready profiles) -> the general audio->expression model.

Every clip is analyzed into a cached profile (its own audio paired with its fitted tracks); a clip that
cannot be analyzed leaves a `.failed.json` marker so a re-run skips it too; the speech features are cached
in each profile (backend/motion/data.py). Training then streams batches over the profiles a shard at a time,
so the folder may be as large as LRW/VoxCeleb/HDTF, each person weighted by the square root of their frames,
capped at a few median persons (backend/motion/people.py: one GRID speaker's 1000 sentences do not drown 20
other people). The last 15 % of the frames of up to `VAL_CLIPS` clips (of different people) are held out
for the loss curve and the best weights. A resumable checkpoint (weights, optimiser, step, history) is
written every `checkpoint_every` steps next to the output; the final model lands in models/motion.pt by default.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from backend import __version__
from backend.core.atomic import write_json
from backend.core.errors import UserError
from backend.core.progress import QUIET, Progress
from backend.motion import features
from backend.motion.data import (
    MotionClip,
    ProfileStream,
    feature_stats,
    holdout_frames,
    load_clip,
    read_manifest,
)
from backend.motion.model import FORMANT_FEAT_DIM, MotionConfig, MotionEnsemble, MotionNet, save_checkpoint
from backend.motion.people import leave_out, person_of, sampling_weights, spread_over_people
from backend.motion.train import History, LossWeights, TrainConfig, plot_histories, train

GENERAL = TrainConfig(steps=3000, batch=16, crop=64, lr=2e-3, weight_decay=0.02, feature_noise=0.1,
                      eval_every=50, patience=10**6)


@dataclass(frozen=True)
class Member:
    """One network of the general ensemble: the vocal-tract warps its crops may read (none: plain audio),
    the offset added to the run's seed (its initial weights and crop order), whether it also reads the
    formant columns (backend/motion/formants.py) and whether its loss is crop-centred (TrainConfig.centred)."""

    warps: tuple[float, ...] = ()
    seed: int = 0
    formants: bool = False
    centred: bool = False

    def label(self) -> str:
        return (("vocal-tract-warped" if self.warps else "plain") + (", formants" if self.formants else "")
                + (", centred loss" if self.centred else "")
                + (f", seed +{self.seed}" if self.seed else ""))

    def config(self, n_expr: int) -> MotionConfig:
        return MotionConfig(n_expr=n_expr, feat_dim=FORMANT_FEAT_DIM) if self.formants else MotionConfig(n_expr)


# the ensemble (docs/motion.md): a network on the plain audio, one whose crops read vocal-tract-length-warped
# MFCCs, and a second plain one from another seed; each alone is better for some unseen people, their
# average for most
GENERAL_MEMBERS: tuple[Member, ...] = (Member(), Member(features.VTLP_WARPS), Member(seed=1))
VAL_CLIPS = 8
VAL_FRACTION = 0.15
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".aac")


def default_profiles_dir() -> Path:
    return Path(os.environ.get("TALKING_HEAD_CACHE", Path.home() / ".cache" / "talking-head")) / "profiles"


def _companion_audio(clip: Path) -> Path | None:
    for suffix in AUDIO_SUFFIXES:
        cand = clip.with_suffix(suffix)
        if cand.is_file() and cand != clip:
            return cand
    return None


def _source(profile: Path) -> Path:
    """The clip a profile was analyzed from (its person key comes from that name), else the profile."""
    clip = read_manifest(profile).get("source", {}).get("clip_path")
    return Path(clip) if clip else profile


def _pick(clips: list[Path], cached: set[Path], leave_out_people: list[str] | None,
          max_clips_per_person: int | None, progress: Progress) -> list[Path]:
    """The clips to use, chosen before any analysis: the left-out people's clips removed, and at most
    `max_clips_per_person` per person (those already analyzed first, then a fixed order), so neither costs
    any tracking."""
    if leave_out_people:
        clips, held = leave_out(clips, leave_out_people)
        if held:
            progress.message(f"left out {len(held)} clip(s) of {', '.join(sorted({person_of(p) for p in held}))}")
    if max_clips_per_person:
        kept, count = [], {}
        for clip in sorted(clips, key=lambda c: (c not in cached, c.stem[::-1])):
            who = person_of(clip)
            count[who] = count.get(who, 0) + 1
            if count[who] <= max_clips_per_person:
                kept.append(clip)
        clips = sorted(kept)
    return clips


def collect_profiles(data_dir: Path, profiles_dir: Path, exclude: list[str], progress: Progress,
                     retry_failed: bool = False, leave_out_people: list[str] | None = None,
                     max_clips_per_person: int | None = None) -> list[Path]:
    """Profiles for every clip in `data_dir` (analyzing videos as needed, cached in `profiles_dir`) plus any
    profile folders in it."""
    from backend.media import sniff

    if not data_dir.is_dir():
        raise UserError(f"{data_dir} is not a folder", hint="pass a folder of talking-face clips")
    entries = sorted(p for p in data_dir.rglob("*") if not any(fnmatch.fnmatch(p.name, x) for x in exclude))
    profiles, clips = [], []
    for p in entries:
        if p.is_dir() and (p / "manifest.json").is_file():
            profiles.append(p)
        elif p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in AUDIO_SUFFIXES + (".json", ".md",
                                                                                                        ".tsv", ".txt"):
            try:
                if sniff(p) == "video":
                    clips.append(p)
            except UserError:
                continue  # not media: READMEs, images' sidecars...
    from backend.analysis.pipeline import analyze
    from backend.media import sha256_file

    profiles_dir.mkdir(parents=True, exist_ok=True)
    out_of = {clip: profiles_dir / f"{clip.stem}-{sha256_file(clip)[:10]}" for clip in clips}
    cached = {c for c, out in out_of.items() if (out / "manifest.json").is_file()}
    clips = _pick(clips, cached, leave_out_people, max_clips_per_person, progress)
    if leave_out_people:
        profiles, held = leave_out(profiles, leave_out_people, key=lambda p: person_of(_source(p)))
        if held:
            progress.message(f"left out {len(held)} profile folder(s) of "
                             f"{', '.join(sorted({person_of(_source(p)) for p in held}))}")
        elif not leave_out(list(out_of), leave_out_people)[1]:
            progress.message(f"warning: --leave-out {' '.join(leave_out_people)} matched no clip or profile")
    failed = 0
    for clip in progress.iterate(clips, "analyzing clips", len(clips)):
        out = out_of[clip]
        marker = out.with_name(out.name + ".failed.json")
        if marker.is_file() and not retry_failed and not _busy_marker(marker):
            failed += 1
            continue
        try:
            # another process writing the same profile (a second train-general) is waited for, not a failure
            profiles.append(analyze(clip, out, audio=_companion_audio(clip), progress=QUIET, overlay=False,
                                    on_busy=lambda c=clip, o=out: progress.message(
                                        f"waiting for another process that is analyzing {c.name} into {o}")))
        except UserError as exc:
            progress.message(f"skipping {clip.name}: {exc}")
            write_json(marker, {"clip": str(clip), "error": str(exc)})
            failed += 1
    if failed:
        progress.message(f"{failed} clip(s) could not be analyzed (markers *.failed.json in {profiles_dir}; "
                         "--retry-failed tries them again)")
    usable = [p for p in profiles if (p / "audio.wav").is_file()]
    for p in set(profiles) - set(usable):
        progress.message(f"skipping {p.name}: no speech audio")
    if not usable:
        raise UserError(f"no usable clips in {data_dir}", hint="clips need a face and speech (or a .wav beside them)")
    return usable


def _busy_marker(marker: Path) -> bool:
    """A failure marker written by an older version for a clip that was only busy (not a real failure)."""
    try:
        return "another process is writing" in str(json.loads(marker.read_text()).get("error", ""))
    except (OSError, ValueError, AttributeError):
        return False


def _val_clip(profiles: list[Path], people: list[str]) -> tuple[MotionClip, slice] | None:
    """The last VAL_FRACTION of up to VAL_CLIPS clips of different people, joined into one held-out clip."""
    parts = []
    for p in _val_profiles(profiles, people):
        c = load_clip(p)
        n_val = holdout_frames(len(c), VAL_FRACTION)
        if n_val:
            parts.append(c.slice(len(c) - n_val, len(c)))
    if not parts:
        return None
    first = parts[0]
    joined = MotionClip("validation", first.fps, np.concatenate([c.windows for c in parts]),
                        np.concatenate([c.activity for c in parts]), np.concatenate([c.expression for c in parts]),
                        np.concatenate([c.pose for c in parts]), np.concatenate([c.valid for c in parts]),
                        first.mouth, first.face_model, first.basis_names)
    return joined, slice(0, len(joined))


def train_general(data_dir: Path, out: Path, profiles_dir: Path | None = None, steps: int | None = None,
                  exclude: list[str] | None = None, resume: bool = True, checkpoint_every: int = 250,
                  seed: int = 0, progress: Progress = QUIET, leave_out_people: list[str] | None = None,
                  max_clips_per_person: int | None = None, retry_failed: bool = False,
                  members: tuple[Member, ...] = GENERAL_MEMBERS) -> tuple[Path, list[History], list[Path]]:
    """Train the general model: one network per entry of `members` (more than one make an ensemble).
    Returns the model file, each member's loss history and the profiles used."""
    profiles = collect_profiles(Path(data_dir), Path(profiles_dir or default_profiles_dir()), exclude or [],
                                progress, retry_failed, leave_out_people, max_clips_per_person)
    profiles, people = in_training_order(profiles)
    manifests = [read_manifest(p) for p in profiles]
    models = {m.get("face_model") for m in manifests}
    if len(models) > 1:
        raise UserError(f"the profiles use different face models {sorted(map(str, models))}",
                        hint="re-analyze them with one face model")
    frames = [int(m.get("frame_count", 1)) for m in manifests]
    cfg = replace(GENERAL, seed=seed, steps=steps or GENERAL.steps)
    progress.stage("loading feature statistics")
    # feature and loss statistics from up to 32 clips taken in turns across people, so that one speaker's
    # 1000 sentences do not set the normalisation the others are trained under
    sample = [load_clip(p) for p in spread_over_people(profiles, people, 32)]
    n_expr = sample[0].expression.shape[1]
    stats = feature_stats(sample)
    weights = LossWeights.from_targets(np.concatenate([c.expression for c in sample]), sample[0].mouth.flat_basis())
    del sample
    val = _val_clip(profiles, people)
    partial = out.with_name(out.stem + ".partial.pt")
    shard = 2048 if sum(frames) < 400_000 else 64  # ~1000 GRID sentences fit in memory at once (~1 GB)
    # finished members and the one in training live in one partial checkpoint, so a stop anywhere resumes
    state = torch.load(partial, map_location="cpu", weights_only=False) if resume and partial.is_file() else {}
    if state and (state.get("steps") != cfg.steps or state.get("members") != [asdict(m) for m in members]
                  or state.get("config") != asdict(MotionConfig(n_expr=n_expr)) or state.get("seed", seed) != seed):
        state = {}  # another recipe's checkpoint: start over
    done: list[dict] = list(state.get("done", []))
    nets, hists = [], []
    for i, member in enumerate(members):
        torch.manual_seed(seed + member.seed)  # the initial weights too: same data and seed, same model
        net = MotionNet(member.config(n_expr))
        net.set_feature_stats(*stats)
        if i < len(done):
            net.load_state_dict(done[i]["state"])
            nets.append(net)
            hists.append(History(**done[i]["history"]))
            continue
        start, opt_state, hist = 0, None, History()
        if state.get("member") == i and state.get("state") is not None:
            net.load_state_dict(state["state"])
            start, opt_state, hist = state["step"], state["optimizer"], History(**state["history"])
            progress.message(f"resuming from {partial} at step {start}" + (f" of member {i + 1}" if i else ""))
        if len(members) > 1:
            progress.message(f"member {i + 1} of {len(members)}: {member.label()}")
        stream = iter(ProfileStream(profiles, cfg.batch, cfg.crop, shard=shard, seed=seed + member.seed + start,
                                    on_skip=lambda p, e: progress.message(f"skipping {p}: {e}"),
                                    weights=sampling_weights(people, frames), holdout=VAL_FRACTION,
                                    holdout_profiles=set(_val_profiles(profiles, people)),
                                    warps=member.warps))

        def checkpoint(step: int, net: MotionNet, opt: torch.optim.Optimizer, h: History, i: int = i) -> None:
            _save_partial(partial, cfg.steps, members, n_expr, done, {
                "seed": seed, "member": i, "state": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "history": asdict(h)})

        # the member's seed also drives its dropout and feature noise (train seeds torch with it)
        hist = train(net, stream, weights, replace(cfg, seed=seed + member.seed, centred=member.centred), val=val, progress=progress,
                     on_checkpoint=checkpoint,
                     checkpoint_every=checkpoint_every, start_step=start, optimizer_state=opt_state, history=hist)
        done.append({"state": net.state_dict(), "history": asdict(hist)})
        if i + 1 < len(members):
            _save_partial(partial, cfg.steps, members, n_expr, done, {"seed": seed, "member": i + 1, "state": None})
        nets.append(net)
        hists.append(hist)
    model = nets[0] if len(nets) == 1 else MotionEnsemble(nets)
    share: dict[str, float] = {}
    for who, w in zip(people, sampling_weights(people, frames), strict=True):
        share[who] = share.get(who, 0.0) + w
    total = sum(share.values())
    meta = {"kind": "general", "face_model": manifests[0].get("face_model"),
            "basis_names": manifests[0].get("basis_names"), "steps": cfg.steps, "profiles": len(profiles),
            "trained_on": [m.get("source", {}).get("clip_sha256") for m in manifests],
            "clip_names": [m.get("source", {}).get("clip_name") for m in manifests],
            "people": sorted(set(people)), "sampling_share": {k: round(v / total, 4) for k, v in share.items()},
            "frames": int(sum(frames)), "speech_only": True, "software_version": __version__}
    if len(members) > 1:
        meta["members"] = [{"warps": list(m.warps), "seed": seed + m.seed, "formants": m.formants} for m in members]
    save_checkpoint(out, model, meta)
    plot_histories([(m.label(), h) for m, h in zip(members, hists, strict=True)],
                   out.with_name(out.stem + "_loss.png"), f"general motion model ({len(profiles)} clips)")
    write_json(out.with_name(out.stem + "_data.json"),
               {"clips": meta["clip_names"], "people": meta["people"], "sampling_share": meta["sampling_share"],
                "validation": [p.name for p in _val_profiles(profiles, people)], "history": asdict(hists[0]),
                **({"member_histories": [asdict(h) for h in hists]} if len(hists) > 1 else {})})
    partial.unlink(missing_ok=True)
    return out, hists, profiles


def _save_partial(partial: Path, steps: int, members: tuple[Member, ...], n_expr: int,
                  done: list[dict], current: dict) -> None:
    from backend.core.atomic import save_torch

    save_torch(partial, {"config": asdict(MotionConfig(n_expr=n_expr)), "steps": steps,
                         "members": [asdict(m) for m in members], "done": done, **current})


def in_training_order(profiles: list[Path]) -> tuple[list[Path], list[str]]:
    """The profiles in train-general's fixed order by content (the sampler draws from it: the same clips give
    the same model whatever their folder layout, file names or cache state), with each one's person key."""
    ordered = sorted(profiles, key=_content_key)
    return ordered, [person_of(_source(p)) for p in ordered]


def _content_key(profile: Path) -> tuple[str, str]:
    """Sort key of a profile by its clip's content (then name): independent of folder layout and names."""
    return str(read_manifest(profile).get("source", {}).get("clip_sha256") or ""), profile.name


def _val_profiles(profiles: list[Path], people: list[str]) -> list[Path]:
    """Up to VAL_CLIPS profiles of different people (in content order) whose ends are held out."""
    picked, seen = [], set()
    for p, who in sorted(zip(profiles, people, strict=True), key=lambda x: _content_key(x[0])):
        if who not in seen:
            seen.add(who)
            picked.append(p)
    return picked[:VAL_CLIPS]
