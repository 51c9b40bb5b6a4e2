"""Build the Blender extension zip (`make extension`) with Blender's own extension CLI.

Uses `blender --command extension build` when a Blender executable is given (or BLENDER is set), else the
same CLI script shipped inside the `bpy` wheel (stdlib only, run with this Python). Prints the zip path.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def blender_ext_script() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: neither a Blender executable (--blender / $BLENDER) nor the bpy module was found; "
                         "install the 'blender' extra or pass --blender /path/to/blender")
    base = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(glob.glob(str(base / "*" / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py")))
    if not found:
        raise SystemExit(f"error: blender_ext.py not found under {base}")
    return Path(found[-1])


def build(output_dir: Path, blender: str | None = None) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    before = set(output_dir.glob("*.zip"))
    args = ["build", "--source-dir", str(ROOT), "--output-dir", str(output_dir)]
    if blender:
        cmd = [blender, "--factory-startup", "--command", "extension", *args]
    else:
        cmd = [sys.executable, str(blender_ext_script()), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: extension build failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    zips = sorted(set(output_dir.glob("*.zip")) - before) or sorted(output_dir.glob("talking_head-*.zip"),
                                                                      key=os.path.getmtime)
    if not zips:
        raise SystemExit(f"error: the build reported success but wrote no zip:\n{proc.stdout}")
    return zips[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist", help="where the zip goes (default dist/)")
    parser.add_argument("--blender", default=os.environ.get("BLENDER"),
                        help="a Blender executable to build with (default: the CLI inside the bpy module)")
    args = parser.parse_args(argv)
    print(build(args.output_dir, args.blender))
    return 0


if __name__ == "__main__":
    sys.exit(main())
