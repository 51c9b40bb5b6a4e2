"""`talking-head export PROFILE TRACKS -o anim.glb`: the animated face as glTF, without Blender."""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.core.progress import Progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write the animated face model as binary glTF (.glb)",
        description="Write a binary glTF (.glb) of the profile's face: mesh, UVs and texture, one morph target "
                    "per expression basis vector with the tracks' weights animation, and the head pose as a "
                    "translation/rotation animation on a 'head' node (Y-up camera frame, as glTF expects). "
                    "Blender's glTF importer reads it back with shape keys and animation. "
                    "For FBX or Alembic use the Blender add-on's Export.")
    parser.add_argument("profile", help="profile directory written by `talking-head analyze`")
    parser.add_argument("tracks", help="tracks.json (from `talking-head animate`, analyze, or the add-on's bake)")
    parser.add_argument("-o", "--output", required=True, help="output .glb path (written atomically)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    from backend.core.errors import UserError
    from backend.core.tracks import load_tracks
    from backend.export.gltf import export_glb
    from backend.face.profile import load_profile

    progress.stage("export glTF", 2)
    tracks = load_tracks(args.tracks)
    profile = load_profile(args.profile)
    if tracks.profile_id != profile.id:  # as render checks: the coefficients belong to one profile's basis
        raise UserError(f"tracks {args.tracks} belong to profile {tracks.profile_id}, not to {profile.path} "
                        f"(profile {profile.id})",
                        hint="export with the profile the tracks were made for, or re-run `talking-head animate` "
                             "with this profile")
    progress.update(1)
    out = export_glb(args.profile, tracks, Path(args.output))
    progress.update(1)
    progress.close()
    progress.message(f"wrote {out} ({tracks.frame_count} frames at {tracks.fps:g} fps, {len(tracks.basis)} "
                     "morph targets)")
    return 0
