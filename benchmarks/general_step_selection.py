"""Train the general model as `train-general` does, and also choose each member's weights by the held-out
opening's correlation instead of its L2 loss (docs/motion.md, "Choosing the general weights by held-out
correlation").

At every held-out evaluation (every 50 steps) the member's weights are kept in memory with two scores: the
L2 mouth loss the training loop uses (unchanged: the run, its stop and OUT are what train-general writes) and
the mean over the held-out people of the Pearson correlation between the predicted and the true inner-lip
opening on their held-out frames. The correlation ignores each person's offset and scale, the two things the
300-frame fine-tune and the mouth gain supply; the L2 loss is dominated by them.

    PYTHONPATH=$PWD python benchmarks/general_step_selection.py DATA OUT.pt [--profiles DIR] [--leave-out P ...]

Writes OUT.pt (L2-selected, as train-general), OUT_corr.pt (each member's correlation-best weights, the same
metadata) and OUT_steps.json (per member: step, L2 loss and correlation at every evaluation, both choices).
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch

from backend.core.atomic import write_json
from backend.core.progress import QUIET
from backend.motion import general
from backend.motion import train as training
from backend.motion.data import MotionClip, holdout_frames, load_clip
from backend.motion.model import load_checkpoint, members_of, save_checkpoint


def segment_lengths(profiles_dir: Path, data_dir: Path, leave_out: list[str]) -> list[int]:
    """The held-out parts' lengths in the order general._val_clip joins them."""
    profiles = general.collect_profiles(data_dir, profiles_dir, [], QUIET, leave_out_people=leave_out or None)
    profiles, people = general.in_training_order(profiles)
    lengths = [holdout_frames(len(load_clip(p)), general.VAL_FRACTION) for p in general._val_profiles(profiles, people)]
    return [n for n in lengths if n]


def opening_corr(model: torch.nn.Module, clip: MotionClip, lengths: list[int]) -> float:
    """Mean over held-out people of r(predicted opening, true opening) on their valid frames."""
    with torch.no_grad():
        model.eval()
        pred = model(torch.from_numpy(clip.windows)[None])[0].numpy()
    p_open, t_open = clip.mouth.opening(pred), clip.mouth.opening(clip.expression)
    rs, start = [], 0
    for n in lengths:
        sl = slice(start, start + n)
        ok = clip.valid[sl].astype(bool)
        start += n
        if ok.sum() > 5 and p_open[sl][ok].std() > 0 and t_open[sl][ok].std() > 0:
            rs.append(float(np.corrcoef(p_open[sl][ok], t_open[sl][ok])[0, 1]))
    return float(np.mean(rs)) if rs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--profiles", type=Path, default=None)
    ap.add_argument("--leave-out", action="append", default=[])
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args()
    profiles_dir = args.profiles or general.default_profiles_dir()
    lengths = segment_lengths(profiles_dir, args.data, args.leave_out)
    records: list[list[dict]] = []
    plain_evaluate = training.evaluate

    def evaluate(model, clip, val, w, cfg):  # noqa: ANN001, ANN202 - training.evaluate's signature
        loss = plain_evaluate(model, clip, val, w, cfg)
        if not records or model is not records[-1][-1]["model"]:  # the next member's first evaluation
            records.append([])
        records[-1].append({"model": model, "l2": loss, "corr": opening_corr(model, clip, lengths),
                            "state": copy.deepcopy(model.state_dict())})
        return loss  # what the loop sees is unchanged: the run is train-general's

    training.evaluate = evaluate
    out, hists, _ = general.train_general(args.data, args.out, profiles_dir, steps=args.steps, resume=False,
                                         leave_out_people=args.leave_out or None)
    model, meta = load_checkpoint(out)
    summary = []
    for net, hist, rec in zip(members_of(model), hists, records, strict=True):
        steps = hist.steps
        best = max(range(len(rec)), key=lambda i: rec[i]["corr"])
        net.load_state_dict(rec[best]["state"])
        summary.append({"l2_step": hist.best_step, "corr_step": steps[best],
                        "corr_at_l2_step": rec[steps.index(hist.best_step)]["corr"], "best_corr": rec[best]["corr"],
                        "steps": steps, "l2": [r["l2"] for r in rec], "corr": [r["corr"] for r in rec]})
        print(f"member: L2-best step {hist.best_step} (r {summary[-1]['corr_at_l2_step']:.3f}), "
              f"correlation-best step {steps[best]} (r {rec[best]['corr']:.3f})", flush=True)
    save_checkpoint(args.out.with_name(args.out.stem + "_corr.pt"), model,
                    {**meta, "selection": "held-out opening correlation"})
    write_json(args.out.with_name(args.out.stem + "_steps.json"), {"segments": lengths, "members": summary})


if __name__ == "__main__":
    main()
