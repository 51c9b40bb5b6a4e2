"""Assemble the training folder of the shipped general motion model (`make general-model`).

Links every clip named in models/motion_data.txt (paths relative to the shared data folder), with the .wav
beside a silent clip, into one folder that `talking-head train-general` reads, keeping the relative paths
(a GRID sentence's person is its folder, `grid_s1`: backend/motion/people.py). Links, not copies: the shared
data stays in place. Prints the folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "models" / "motion_data.txt"


def clip_list(path: Path = LIST) -> list[str]:
    return [s for line in path.read_text().splitlines() if (s := line.strip()) and not s.startswith("#")]


def assemble(shared: Path, out: Path, names: list[str]) -> list[Path]:
    missing = [n for n in names if not (shared / n).is_file()]
    if missing:
        raise SystemExit(f"error: {len(missing)} clip(s) of {LIST.name} are not in {shared}, e.g. {missing[0]}; "
                         "pass --shared-data pointing at the shared data folder")
    linked = []
    for name in names:
        src = (shared / name).resolve()
        for f in (src, src.with_suffix(".wav")):
            if f.is_file():
                dst = out / Path(name).parent / f.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if dst.is_symlink() or dst.exists():
                    dst.unlink()
                os.symlink(f, dst)
                linked.append(dst)
    return linked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / ".cache" / "general-model-data")
    args = ap.parse_args(argv)
    linked = assemble(args.shared_data, args.output, clip_list())
    print(f"{len(linked)} file(s) linked", file=sys.stderr)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
