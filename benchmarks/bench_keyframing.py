"""Keyframing speed inside bpy: 300 frames x (all expression keys + 6 pose channels), the issue-4 target
is <= 0.5 s. Measures the add-on's real import path (animation.import_take on an existing rig, i.e. one new
take) and, separately, the keyframe writing alone.

    .venv/bin/python benchmarks/bench_keyframing.py [--frames 300] [--basis 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import bpy  # noqa: E402
from test_addon_synthetic import make_profile, make_tracks  # noqa: E402

from addon.blender import animation  # noqa: E402
from addon.data.formats import load_tracks  # noqa: E402
from addon.data.profile import load_profile  # noqa: E402
from backend.core.tracks import save_tracks  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--basis", type=int, default=32, help="expression keys (the shared basis has 32)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scene-fps", type=int, default=25, help="!= 25 adds resampling of the 25 fps tracks")
    args = parser.parse_args()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = args.scene_fps
    with tempfile.TemporaryDirectory() as tmp:
        profile = load_profile(str(make_profile(Path(tmp), k=args.basis)))
        path = Path(tmp) / "t.json"
        save_tracks(make_tracks(profile.basis_names, frames=args.frames), path)
        tracks = load_tracks(str(path))
        animation.import_take(scene, profile, tracks)  # builds the rig once
        takes, keys_only = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = animation.import_take(scene, profile, tracks)
            takes.append(time.perf_counter() - t0)
            key = result.rig.key
            action = bpy.data.actions.new("bench")
            key.animation_data.action = action
            frames = animation.np.arange(1, args.frames + 1, dtype=float)
            values = animation.np.zeros(args.frames)
            t0 = time.perf_counter()
            for name in profile.basis_names:
                animation._write_curve(animation._fcurve(action, key, animation.shape_key_path(name), 0),
                                       frames, values)
            head_action = bpy.data.actions.new("bench_pose")
            result.rig.head.animation_data.action = head_action
            for path_, index in animation.POSE_PATHS:
                animation._write_curve(animation._fcurve(head_action, result.rig.head, path_, index), frames, values)
            keys_only.append(time.perf_counter() - t0)
    report = {
        "frames": args.frames, "channels": args.basis + 6, "scene_fps": args.scene_fps, "blender": bpy.app.version_string,
        "import_take_s_median": round(statistics.median(takes), 4), "import_take_s_max": round(max(takes), 4),
        "keyframes_only_s_median": round(statistics.median(keys_only), 4), "target_s": 0.5,
        "cpu": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    sys.stdout.flush()
    os._exit(0 if report["import_take_s_max"] <= 0.5 else 1)


if __name__ == "__main__":
    main()
