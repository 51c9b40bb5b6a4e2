"""How far a photo's head may turn before artefacts show (docs/render.md, "Rendering from a photo").

    PYTHONPATH=$PWD python benchmarks/photo_turn.py PHOTO_PROFILE... [--png strip.png]

For head turns away from the photo's pose (yaw both ways, pitch down/up), per profile:
- unseen: share of the rendered face's pixels whose texels the photo never saw (the texture there is
  extrapolated: smeared colour at the far cheek and under the jaw);
- stretched: share seen only at a grazing angle (cos^2 < 0.3: blurred);
- ghost: share of the photo's own face outline, moved with the head layer, that the rendered face no longer
  covers (the photo's old cheek showing beside the new one).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from backend.face.crops import crop_camera
from backend.face.profile import load_profile
from backend.render.face import FaceRenderer
from backend.render.photo_background import PhotoBackground
from backend.render.shading import UNIFORM_WHITE
from backend.render.texture import FrameSamples, unwrap_texture
from backend.render.video import load_albedo

TURNS = [("yaw", 1, d) for d in (-30, -20, -15, -10, -5, 0, 5, 10, 15, 20, 30)] + \
        [("pitch", 0, d) for d in (-15, -10, 10, 15)]


def measure(profile_dir: Path) -> tuple[list[dict], list[np.ndarray]]:
    p = load_profile(profile_dir)
    fit, model = p.fit(), p.face_model()
    a = fit["crop_512"][0]
    cam = crop_camera(fit["camera"], a)[None]
    photo = PhotoBackground(p, model, fit)
    crop = cv2.warpAffine(photo.photo, a, (512, 512), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    samples = FrameSamples(images=crop[None], cameras=cam, expression=fit["expression"], pose=fit["pose"])
    _, weight = unwrap_texture(model, samples)
    seen = np.repeat((weight >= 0.05).astype(np.float32)[..., None], 3, axis=2)
    sharp = np.repeat((weight >= 0.3).astype(np.float32)[..., None], 3, axis=2)
    white = np.tile(np.asarray(UNIFORM_WHITE, np.float32)[:, None], (1, 3))  # unlit: the image is the albedo
    probe, probe_sharp = FaceRenderer(model, seen, white, 512), FaceRenderer(model, sharp, white, 512)
    look = FaceRenderer(model, load_albedo(p), p.lighting(), 512)
    rows, images = [], []
    e = fit["expression"]
    for axis_name, axis, deg in TURNS:
        pose = fit["pose"].copy()
        pose[0, axis] += np.radians(deg)
        faces = probe.draw(e, pose, cam)
        mask = faces.masks[0] & ~faces.cavity[0]
        unseen = float((faces.images[0][..., 0][mask] < 0.5).mean())
        stretched = float((probe_sharp.draw(e, pose, cam).images[0][..., 0][mask] < 0.5).mean()) - unseen
        # the photo's face outline moved with the head layer, in crop pixels
        m = photo.head_motion(pose[0])
        rest_hull = cv2.convexHull(photo.rest.astype(np.float32))
        moved = cv2.transform(rest_hull, m)
        moved = cv2.transform(moved, a)
        outline = np.zeros((512, 512), np.uint8)
        cv2.fillConvexPoly(outline, moved.astype(np.int32), 1)
        ghost = float((outline.astype(bool) & ~faces.masks[0]).sum() / max(1, outline.sum()))
        rows.append({"axis": axis_name, "deg": deg, "unseen": round(unseen, 4), "stretched": round(stretched, 4),
                     "ghost": round(ghost, 4)})
        if axis_name == "yaw" and deg in (-30, -15, 0, 15, 30):
            img, msk = look.render(e, pose, cam)
            bg = cv2.warpAffine(photo.frame(pose[0]), a, (512, 512), flags=cv2.INTER_LINEAR)
            out = np.where(msk[0][..., None], img[0] * 255, bg).astype(np.uint8)
            images.append(cv2.resize(out, (256, 256), interpolation=cv2.INTER_AREA))
    return rows, images


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profiles", nargs="+", type=Path)
    ap.add_argument("--png", type=Path)
    args = ap.parse_args()
    result, strips = {}, []
    for d in args.profiles:
        rows, images = measure(d)
        result[d.name] = rows
        strips.append(np.concatenate(images, axis=1))
    print(json.dumps(result, indent=1))
    if args.png:
        cv2.imwrite(str(args.png), cv2.cvtColor(np.concatenate(strips, axis=0), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
