"""Blender stage of `talking-head bench`, run in its own process (the backend never imports bpy): build the
rig of a profile, key a tracks file on it (addon.blender.animation.import_take) and export it as GLB
(addon.blender.export.export_rig). Prints one JSON line: seconds per step and the process's peak RSS.

    .venv/bin/python benchmarks/bench_blender_stage.py PROFILE TRACKS OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from addon.blender import animation  # noqa: E402
from addon.blender.export import export_rig  # noqa: E402
from addon.data.formats import load_tracks  # noqa: E402
from addon.data.profile import load_profile  # noqa: E402


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would include the parent's, as it survives exec on Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def main() -> None:
    profile_dir, tracks_path, out_dir = sys.argv[1:4]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    profile = load_profile(profile_dir)
    scene.render.fps = round(profile.fps)
    tracks = load_tracks(tracks_path)
    t0 = time.perf_counter()
    first = animation.import_take(scene, profile, tracks)  # builds the rig, then keys the take
    build_and_key = time.perf_counter() - t0
    t0 = time.perf_counter()
    animation.import_take(scene, profile, tracks)  # a second take on the existing rig: keyframing alone
    keyframe = time.perf_counter() - t0
    scene.frame_start, scene.frame_end = 1, tracks.frame_count
    t0 = time.perf_counter()
    path = export_rig(bpy.context, first.rig, "GLB", os.path.join(out_dir, "bench.glb"))
    export = time.perf_counter() - t0
    print(json.dumps({"blender": bpy.app.version_string, "frames": tracks.frame_count,
                      "channels": len(tracks.basis) + 6, "rig_and_keyframes_s": round(build_and_key, 4),
                      "keyframes_s": round(keyframe, 4), "export_glb_s": round(export, 4),
                      "glb_bytes": os.path.getsize(path),
                      "peak_rss_mb": peak_rss_mb()}))
    sys.stdout.flush()
    os._exit(0)  # bpy 4.5 can hang at interpreter exit (design.md section 6)


if __name__ == "__main__":
    main()
