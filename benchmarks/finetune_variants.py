"""eval-motion with a variant of the personalisation fine-tune (docs/motion.md: "Fixed-length fine-tune",
"The general model itself as a candidate of the early stop", "Fine-tuning only the LSTM and the head", "Slower fine-tune with a finer early stop", "Replaying general data in the fine-tune",
"Refitting on all 300 frames", "Speed-perturbed copies of the person's frames"),
scored exactly as `eval-motion` scores (the same motion_report.json in OUT_DIR):

- `fixed`: FINETUNE run for --steps steps with no early stop, the last weights kept;
- `step0`: the held-out loss is also taken before the first step, and the general model's own weights are
  kept when nothing after them scores lower;
- `frozen`: the --freeze modules of MotionNet keep the general model's weights, the rest is fine-tuned;
- `slow`: FINETUNE with --lr, at most --steps steps, a held-out evaluation every --eval-every steps and
  --patience evaluations without improvement;
- `replay`: every fine-tune batch also holds --replay-crops crops of the general model's own training clips
  (--replay-data, a train-general folder, analyzed into --profiles; --leave-out people removed, drawn with
  train-general's sampling weights), so the 255 frames adapt the model without pulling it off what the
  general data taught it; the early stop still watches the person's 45 held-out frames;
- `refit`: the fine-tune runs as now to find its best step k, then the member starts again from the general
  weights and is trained for k steps on all the training frames, the 45 held-out ones included (same
  learning-rate schedule, stopped at step k);
- `plain`: the unchanged fine-tune (the baseline the others are compared with, run by the same script);
- `speed`: the fine-tune's crops are drawn from the training frames and from copies of them at --speeds
  (the audio resampled to play f times as fast, the fitted expression resampled in time with it).

    PYTHONPATH=$PWD python benchmarks/finetune_variants.py {plain,fixed,step0,frozen,slow,replay,refit,speed} PROFILE OUT_DIR GENERAL --seed S

Prints one JSON line: the step kept, mouth_corr, mouth_open_std_ratio, mouth_lmd_reduction, jerk_ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from backend.core.progress import QUIET
from backend.motion import general, personalization
from backend.motion import train as training
from backend.motion.evaluation import evaluate_profile
from backend.motion.personalization import FINETUNE

KEYS = ("mouth_corr", "mouth_open_std_ratio", "mouth_lmd_reduction", "jerk_ratio")


def train_from_step0(model, batches, weights, cfg, val=None, **kwargs):  # noqa: ANN001, ANN201 - train's signature
    if val is None:
        return training.train(model, batches, weights, cfg, val=val, **kwargs)
    torch.set_num_threads(cfg.threads)
    start_val = training.evaluate(model, val[0], val[1], weights, cfg)
    start = copy.deepcopy(model.state_dict())
    hist = training.train(model, batches, weights, cfg, val=val, **kwargs)
    if start_val <= hist.best_val:
        model.load_state_dict(start)
        hist.best_step, hist.best_val = 0, start_val
    return hist


def frozen_train(modules: list[str]):  # noqa: ANN201 - returns train with the same signature
    def train_frozen(model, batches, weights, cfg, **kwargs):  # noqa: ANN001, ANN202
        for name in modules:
            for p in getattr(model, name).parameters():
                p.requires_grad_(False)  # no gradient: AdamW leaves them (and their weight decay) alone
        return training.train(model, batches, weights, cfg, **kwargs)

    return train_frozen


def replay_batches(data: Path, profiles_dir: Path | None, leave_out: list[str], crops: int, crop: int, seed: int):  # noqa: ANN201
    """personalization.sample_batch with `crops` general-data crops appended to every batch."""
    from backend.motion.data import ProfileStream, read_manifest
    from backend.motion.people import sampling_weights

    profiles, people = general.in_training_order(general.collect_profiles(
        data, profiles_dir or general.default_profiles_dir(), [], QUIET, leave_out_people=leave_out or None))
    frames = [int(read_manifest(p).get("frame_count", 1)) for p in profiles]
    stream = iter(ProfileStream(profiles, crops, crop, shard=2048, seed=seed, weights=sampling_weights(people, frames)))
    plain = personalization.sample_batch

    def with_replay(clips, batch, crop_, rng):  # noqa: ANN001, ANN202 - sample_batch's signature
        w, e, v = plain(clips, batch, crop_, rng)
        gw, ge, gv = next(stream)
        n = min(w.shape[1], gw.shape[1])
        return tuple(np.concatenate([a[:, :n], b[:, :n]]) for a, b in ((w, gw), (e, ge), (v, gv)))

    return with_replay


def refit_train(model, batches, weights, cfg, val=None, **kwargs):  # noqa: ANN001, ANN201 - train's signature
    start = copy.deepcopy(model.state_dict())
    hist = training.train(model, batches, weights, cfg, val=val, **kwargs)
    if val is None or hist.best_step == 0:
        return hist
    model.load_state_dict(start)
    whole, rng = val[0], random.Random(cfg.seed + 1)

    def whole_batches():  # k batches of the whole clip, then stop: the schedule stays the 600-step one
        for _ in range(hist.best_step):
            yield personalization.sample_batch([whole], cfg.batch, cfg.crop, rng)

    with contextlib.suppress(StopIteration):
        training.train(model, whole_batches(), weights, cfg)
    return hist


def speed_copy(profile: Path, clip, factor: float):  # noqa: ANN001, ANN201 - MotionClip in, MotionClip out
    """`clip` (the first frames of the profile) as heard at `factor` times the speed: the audio up to the clip's
    end (+ half a window) resampled, the targets interpolated at the original times j * factor / fps."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    from backend.motion import features
    from backend.motion.clock import SR

    n, fps = len(clip), clip.fps
    samples = features.load_speech(profile / "audio.wav")[: int((n / fps + 0.15) * SR)]
    ratio = Fraction(factor).limit_denominator(100)  # new length = old / factor
    feats = features.speech_features(resample_poly(samples, ratio.denominator, ratio.numerator).astype(np.float32),
                                     phonetic=True, formants=True)
    src = np.arange(int((n - 1) / factor) + 1) * factor  # original frame each copy frame shows
    i0 = np.minimum(np.floor(src).astype(int), n - 1)
    i1, a = np.minimum(i0 + 1, n - 1), (src - np.floor(src))[:, None].astype(np.float32)

    def lerp(x):  # noqa: ANN001, ANN202
        return None if x is None else ((1 - a) * x[i0].reshape(len(src), -1) + a * x[i1].reshape(len(src), -1)
                                       ).reshape((len(src),) + x.shape[1:]).astype(np.float32)

    m = len(src)
    return replace(clip, name=f"{clip.name}@{factor}", windows=feats.windows(m, fps)[:, :, :clip.windows.shape[2]],
                   activity=feats.frame_activity(m, fps), expression=lerp(clip.expression), pose=lerp(clip.pose),
                   valid=clip.valid[i0] & clip.valid[i1], blink_weight=lerp(clip.blink_weight), warped=[])


def speed_batches(profile: Path, speeds: list[float]):  # noqa: ANN201 - sample_batch's signature
    """personalization.sample_batch over the training clip and its speed-perturbed copies (made once)."""
    plain, copies = personalization.sample_batch, {}

    def with_copies(clips, batch, crop_, rng):  # noqa: ANN001, ANN202
        key = tuple(id(c) for c in clips)
        if key not in copies:
            copies[key] = list(clips) + [speed_copy(profile, c, f) for c in clips for f in speeds]
        return plain(copies[key], batch, crop_, rng)

    return with_copies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("variant", choices=["plain", "fixed", "step0", "frozen", "slow", "replay", "refit", "speed"])
    ap.add_argument("profile", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("general", type=Path, help="general model the personal one starts from (never saw the person)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-frames", type=int, default=300)
    ap.add_argument("--steps", type=int, default=300, help="fixed: how many fine-tune steps; slow: at most")
    ap.add_argument("--lr", type=float, default=3e-4, help="slow: learning rate")
    ap.add_argument("--eval-every", type=int, default=10, help="slow: steps between held-out evaluations")
    ap.add_argument("--patience", type=int, default=25, help="slow: evaluations without improvement")
    ap.add_argument("--freeze", nargs="+", default=["encoder", "embed"], help="frozen: MotionNet modules kept")
    ap.add_argument("--replay-data", type=Path, help="replay: the general model's train-general folder")
    ap.add_argument("--profiles", type=Path, help="replay: its analysis cache (train-general's --profiles)")
    ap.add_argument("--leave-out", action="append", default=[], help="replay: people the general model left out")
    ap.add_argument("--replay-crops", type=int, default=6, help="replay: general-data crops per batch")
    ap.add_argument("--speeds", type=float, nargs="+", default=[0.9, 1.1], help="speed: the copies' speed factors")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = None
    if args.variant == "fixed":
        counter = itertools.count()  # every held-out evaluation "improves": all steps run, the last weights stay
        training.evaluate = lambda *_, **__: -float(next(counter))
        cfg = replace(FINETUNE, steps=args.steps, patience=10**6)
    elif args.variant == "slow":
        cfg = replace(FINETUNE, lr=args.lr, steps=args.steps, eval_every=args.eval_every, patience=args.patience)
    elif args.variant == "replay":
        if args.replay_data is None:
            ap.error("replay needs --replay-data")
        personalization.sample_batch = replay_batches(args.replay_data, args.profiles, args.leave_out,
                                                      args.replay_crops, FINETUNE.crop, args.seed)
    elif args.variant == "speed":
        personalization.sample_batch = speed_batches(args.profile, args.speeds)
    elif args.variant == "refit":
        personalization.train = refit_train
    elif args.variant == "step0":
        personalization.train = train_from_step0
    elif args.variant == "frozen":
        personalization.train = frozen_train(args.freeze)
    report = evaluate_profile(args.profile, args.out, train_frames=args.train_frames, general=args.general,
                              seed=args.seed, cfg=cfg)
    print(json.dumps({"profile": str(args.profile), "variant": args.variant, "seed": args.seed,
                      "step": report["best_step"], **{k: report[k] for k in KEYS}}))


if __name__ == "__main__":
    main()
