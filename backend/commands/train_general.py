"""`talking-head train-general`: train the general audio->expression model on a folder of clips."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.numbers import POSITIVE_INT, SEED
from backend.core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    from backend.face.model import models_dir

    p = sub.add_parser("train-general", help="train the general audio->expression model on many clips",
                       description="Analyze every talking-face clip in DATA_DIR (a clip without sound may have "
                                   "its speech as a same-named .wav beside it; folders that already are profiles "
                                   "are used as they are), then train the general model with a streaming loader "
                                   "over the profiles. A resumable checkpoint is kept beside the output; an "
                                   "interrupted run continues where it stopped. `personalize` starts from this "
                                   "model when it exists.")
    p.add_argument("data_dir", help="folder of clips and/or profile directories (searched recursively)")
    p.add_argument("-o", "--output", type=Path, default=models_dir() / "motion.pt",
                   help="model file to write (default: models/motion.pt)")
    p.add_argument("--profiles", type=Path, help="where analyzed profiles are cached "
                                                  "(default: ~/.cache/talking-head/profiles)")
    p.add_argument("--steps", type=POSITIVE_INT.argparse_type(), help="training steps (default 3000)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out clips whose file name matches (repeatable), e.g. to keep an evaluation clip out")
    p.add_argument("--leave-out", action="append", default=[], metavar="PERSON",
                   help="leave out every clip of this person (repeatable; a glob over person keys such as 'feifei' "
                        "or clip names; backend/motion/people.py says how a clip's person is read): the "
                        "leave-out protocol of docs/motion.md")
    p.add_argument("--max-clips-per-person", type=int, metavar="N",
                   help="use at most N clips of any one person (e.g. a subset of GRID's 1000 sentences when CPU "
                        "time is short); the choice is deterministic")
    p.add_argument("--retry-failed", action="store_true",
                   help="analyze again the clips an earlier run could not analyze (*.failed.json markers)")
    p.add_argument("--single-model", action="store_true",
                   help="train only the plain network, not the three-member ensemble (a third of the time; "
                        "docs/motion.md measures what the other members add on unseen people)")
    p.add_argument("--no-resume", action="store_true", help="start over even if a partial checkpoint exists")
    p.add_argument("--seed", type=SEED.argparse_type(), default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    import numpy as np

    from backend.core.errors import UserError
    from backend.motion.general import GENERAL_MEMBERS, train_general

    if not args.data_dir.strip():  # e.g. a failed "$(...)" in a script: never train on the working directory
        raise UserError("the training folder is an empty path", hint="pass a folder of talking-face clips")
    if args.max_clips_per_person is not None and args.max_clips_per_person < 1:
        raise UserError("--max-clips-per-person must be at least 1")

    out, hists, profiles = train_general(Path(args.data_dir), args.output, profiles_dir=args.profiles, steps=args.steps,
                                        exclude=args.exclude, resume=not args.no_resume, seed=args.seed,
                                        progress=progress, leave_out_people=args.leave_out,
                                        max_clips_per_person=args.max_clips_per_person,
                                        retry_failed=args.retry_failed,
                                        members=GENERAL_MEMBERS[:1] if args.single_model else GENERAL_MEMBERS)
    last = float(np.mean([h.train[-1] for h in hists])) if all(h.train for h in hists) else float("nan")
    if args.progress == "json":
        print(json.dumps({"event": "result", "model": str(out), "profiles": len(profiles), "members": len(hists),
                          "final_loss": last}), flush=True)
    else:
        kind = f"{len(hists)}-member ensemble, " if len(hists) > 1 else ""
        print(f"general motion model written to {out} ({kind}{len(profiles)} clips, final training loss {last:.3f})")
    return 0
