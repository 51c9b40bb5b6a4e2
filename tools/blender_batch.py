"""Headless Talking Head job for render farms and scripts.

    blender -b -P tools/blender_batch.py -- --clip CLIP --audio AUDIO --out scene.blend [--export face.glb]
    blender -b -P tools/blender_batch.py -- --profile PROFILE_DIR --tracks TRACKS.json --out scene.blend
    blender -b -P tools/blender_batch.py -- --clip CLIP --audio-dir SPEECH/ --out takes.blend [--render-each]

Generates (analyse if needed + animate + import) or imports existing tracks, then saves the .blend and any
exports / photoreal render asked for; --audio-dir makes one take per sound file (one NLA track each). Progress
lines (`talking-head:  42% Generate | Animate: ... | ETA 0:12`) go to stdout. Exits non-zero with the error on stderr when anything fails. Also runs
as `python tools/blender_batch.py -- ...` with the `bpy` module. Uses the installed extension when enabled,
else the add-on from this checkout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from addon.data import defaults  # noqa: E402  (stdlib-only; the checkout's copy)


def parse(argv: list[str]) -> argparse.Namespace:
    argv = argv[argv.index("--") + 1:] if "--" in argv else []
    p = argparse.ArgumentParser(prog="blender -b -P tools/blender_batch.py --", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", help="target clip (video or photo) to analyse (cached by content)")
    p.add_argument("--clip-audio", help="speech of a silent target clip")
    p.add_argument("--profile", help="an analysed profile directory (instead of --clip)")
    p.add_argument("--audio", help="driving speech (required unless --tracks or --audio-dir)")
    p.add_argument("--audio-dir", help="one take per sound file in this folder (recognised by content)")
    p.add_argument("--render-each", action="store_true", help="with --audio-dir: render every take's video")
    p.add_argument("--rig", choices=["arkit", "pca"], default="arkit",
                   help="shape keys: ARKit-52 names (default) or the PCA basis only")
    p.add_argument("--tracks", help="import this tracks.json instead of generating")
    p.add_argument("--out", required=True, help="save the scene to this .blend")
    p.add_argument("--export", action="append", default=[], help="also export the face: .glb, .fbx or .abc "
                                                                  "(repeatable)")
    p.add_argument("--render", help="also render the photoreal video to this .mp4")
    p.add_argument("--pose", choices=["predicted", "clip", "still"], default="predicted")
    p.add_argument("--smoothing", type=float, default=defaults.SMOOTHING,
                   help="extra smoothing, sigma in frames (default %(default)g, as `talking-head animate`)")
    p.add_argument("--expression-scale", type=float, default=1.0)
    p.add_argument("--start-frame", type=int, default=1)
    p.add_argument("--fps", type=float, help="scene frame rate (default: keep the .blend's)")
    p.add_argument("--output-dir", help="where tracks and intermediate files go (default: next to --out)")
    args = p.parse_args(argv)
    if not args.tracks and not args.audio and not args.audio_dir:
        p.error("--audio is required (or --audio-dir, or --tracks to import existing tracks)")
    if not args.tracks and not (args.clip or args.profile):
        p.error("give --clip or --profile")
    if args.tracks and not args.profile:
        p.error("--tracks needs --profile")
    return args


def ensure_addon() -> None:
    if hasattr(bpy.types.Scene, "talking_head"):
        return  # the installed extension is enabled
    sys.path.insert(0, str(ROOT))
    import addon

    addon.register()


def run(args: argparse.Namespace) -> None:
    ensure_addon()
    scene = bpy.context.scene
    props = scene.talking_head  # type: ignore[attr-defined]
    if args.fps:
        scene.render.fps, scene.render.fps_base = round(args.fps), round(args.fps) / args.fps
    out = Path(args.out).resolve()
    props.output_dir = str(Path(args.output_dir).resolve() if args.output_dir else out.parent / "talking_head")
    props.pose_mode, props.smoothing, props.expression_scale = args.pose, args.smoothing, args.expression_scale
    props.start_frame = args.start_frame
    props.rig_mode = args.rig.upper()
    if args.fps:
        props.match_fps = False  # the scene's fps was asked for: resample to it
    if args.clip_audio:
        props.clip_audio = str(Path(args.clip_audio).resolve())
    if args.audio_dir:
        bpy.ops.talking_head.batch_generate(audio_dir=str(Path(args.audio_dir).resolve()),
                                            clip=str(Path(args.clip).resolve()) if args.clip else "",
                                            profile=str(Path(args.profile).resolve()) if args.profile else "",
                                            render=args.render_each, wait=True)
    elif args.tracks:
        bpy.ops.talking_head.import_tracks(profile=str(Path(args.profile).resolve()),
                                           filepath=str(Path(args.tracks).resolve()),
                                           audio=str(Path(args.audio).resolve()) if args.audio else "")
    else:
        bpy.ops.talking_head.generate(clip=str(Path(args.clip).resolve()) if args.clip else "",
                                      profile=str(Path(args.profile).resolve()) if args.profile else "",
                                      audio=str(Path(args.audio).resolve()), wait=True)
    for path in args.export:
        ext = os.path.splitext(path)[1].lower()
        fmt = {".glb": "GLB", ".fbx": "FBX", ".abc": "ABC"}.get(ext)
        if fmt is None:
            raise SystemExit(f"error: --export {path}: use a .glb, .fbx or .abc file name")
        bpy.ops.talking_head.export(format=fmt, filepath=str(Path(path).resolve()))
    if args.render:
        bpy.ops.talking_head.render_photoreal(filepath=str(Path(args.render).resolve()), wait=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(out))
    print(f"talking-head batch: saved {out} (frames {scene.frame_start}-{scene.frame_end})")


def main() -> int:
    args = parse(sys.argv)
    try:
        run(args)
    except RuntimeError as exc:  # operator ERROR reports arrive as RuntimeError("Error: ...")
        print(f"talking-head batch: {str(exc).strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # bpy can hang at interpreter exit (design.md section 6); the .blend is already saved
