"""`talking-head build-face-model`: rebuild the face-model template (mean face + shared expression basis)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.core.numbers import POSITIVE_INT
from backend.core.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build-face-model", help="build the face-model template from a set of talking-face clips",
                       description="Track every clip with MediaPipe, align them (generalised Procrustes on stable "
                                   "points), and write the template: mean face, UV layout, triangles and a shared "
                                   "expression basis (PCA of per-clip residuals, every clip weighted equally, rigid "
                                   "motion of the stable points removed). See docs/architecture.md.")
    p.add_argument("clips", type=Path, nargs="+", help="video clips, or folders of them")
    p.add_argument("-o", "--output", type=Path, required=True, help="model file to write (.npz)")
    p.add_argument("--components", type=POSITIVE_INT.argparse_type(), default=32, help="expression basis size (default 32)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend import media
    from backend.analysis.tracking import track_frames
    from backend.core.atomic import atomic_path
    from backend.core.errors import UserError
    from backend.face.template import build_template

    files = [f for c in args.clips for f in (sorted(c.iterdir()) if c.is_dir() else [c]) if f.is_file()]
    clips = [f for f in files if media.sniff(f) == "video"] if files else []
    if len(clips) < 2:
        raise UserError(f"need at least 2 video clips, found {len(clips)}", hint="pass clips of several people")
    tracked = []
    for clip in clips:
        fps = media.default_fps(media.probe_video(clip).fps)
        total = media.count_frames(clip, fps)
        progress.message(f"tracking {clip.name}")
        tracked.append(track_frames(media.iter_frames(clip, fps), total, fps, progress).landmarks)
    model, stats = build_template(tracked, n_components=args.components)
    with atomic_path(args.output, suffix=".npz") as tmp:
        model.save(tmp)
    print(json.dumps({"output": str(args.output), **stats}))
    return 0
