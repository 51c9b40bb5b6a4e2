"""`talking-head demo`: the whole product on a sample it builds itself, or on your own clip/photo and speech.

With no input it builds a sample from what the installed packages ship (backend.media.demo_sample: a
public-domain portrait and speech synthesised offline), then analyses the photo, animates the speech with
the motion prior, renders the talking-face video, exports the animated face as glTF and builds a Blender
scene (real bpy, tools/blender_batch.py) with the editable face and the sound strip.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from backend.core.errors import UserError
from backend.core.progress import Progress

ROOT = Path(__file__).resolve().parents[2]
BATCH = ROOT / "tools" / "blender_batch.py"
OUTPUTS = ("tracks.json", "scene.blend", "face.glb", "video.mp4")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole pipeline on a built-in sample (or on your clip or photo)",
                       description="Builds a sample (a public-domain portrait and offline synthesised speech) "
                                   "unless --clip/--audio are given, then writes tracks.json, a Blender scene "
                                   "with the animated, editable face and the sound strip (scene.blend), the "
                                   "face as glTF (face.glb) and the talking-face video with audio (video.mp4).")
    p.add_argument("--clip", type=Path, help="a video of the target person talking (~10 s) or one photo of them")
    p.add_argument("--audio", type=Path, help="speech to animate (default: the built-in synthesised speech)")
    p.add_argument("-o", "--output", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    p.add_argument("--no-blend", action="store_true", help="skip the Blender scene (no bpy needed)")
    p.set_defaults(func=run)


def blender_scene(profile: Path, tracks: Path, audio: Path, out: Path, fps: float) -> Path:
    """The .blend with the take imported by the add-on under real bpy (a process of its own: bpy must not
    share this process with torch, and the batch script's exit status is its contract)."""
    if not BATCH.is_file():
        raise UserError(f"the Blender scene needs {BATCH} (a source checkout)", hint="run with --no-blend")
    done = subprocess.run([sys.executable, str(BATCH), "--", "--profile", str(profile), "--tracks", str(tracks),
                           "--audio", str(audio), "--out", str(out), "--output-dir", str(out.parent / "blender"),
                           "--fps", f"{fps:g}"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise UserError("building the Blender scene failed: " + " / ".join(tail),
                        hint="is the bpy wheel installed (make venv)? Or run with --no-blend")
    return out


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.analysis.pipeline import analyze
    from backend.core.tracks import save_tracks
    from backend.export.gltf import export_glb
    from backend.face.profile import is_photo_profile, read_manifest
    from backend.media.demo_sample import write_demo_sample
    from backend.motion.animation import animate, uses_prior
    from backend.render.video import render_video

    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    clip, audio = args.clip, args.audio
    if clip is None or audio is None:
        sample = write_demo_sample(out / "sample")
        if clip is None:
            clip = sample.photo
            print(f"No clip given: using the built-in sample {clip} (a public-domain portrait) "
                  "(make demo CLIP=photo-or-clip AUDIO=speech.wav for your own).")
        if audio is None:
            audio = sample.speech
            print(f"No audio given: using speech synthesised offline by espeak-ng, {audio}.")
    profile = analyze(clip, out / "profile", progress=progress)
    quality = json.loads((profile / "quality.json").read_text())
    print(f"profile: {profile}  (landmark_nme {quality['landmark_nme'] * 100:.2f} % IOD)")
    if not uses_prior(profile):
        from backend.motion.personalization import MODEL_FILE, personalize

        if not (profile / MODEL_FILE).is_file():
            personalize(profile, progress=progress)
    tracks = animate(profile, audio, progress=progress)
    paths = {name: out / name for name in OUTPUTS}
    save_tracks(tracks, paths["tracks.json"])
    export_glb(profile, tracks, paths["face.glb"])
    photo = is_photo_profile(read_manifest(profile))
    render_video(profile, paths["tracks.json"], audio, paths["video.mp4"], clip=None if photo else clip,
                 progress=progress)
    if args.no_blend:
        paths.pop("scene.blend")
    else:
        progress.stage("Blender scene")
        blender_scene(profile, paths["tracks.json"], audio, paths["scene.blend"], tracks.fps)
    motion = "motion prior (no training data)" if tracks.provenance.get("model") == "prior" else "trained model"
    print(f"\nDone: {tracks.frame_count} frames at {tracks.fps:g} fps, motion from the {motion}.")
    for name, path in paths.items():
        print(f"  {name:12s} {path}")
    print("Open next:\n"
          f"  the video:  {paths['video.mp4']}  (any player)\n"
          + (f"  the scene:  blender {paths['scene.blend']}  (press Space to play; the face's shape keys and "
             "the head empty's keys are editable, the speech is the sound strip)\n" if "scene.blend" in paths else "")
          + f"  the glTF:   {paths['face.glb']}  (any glTF viewer)")
    return 0
