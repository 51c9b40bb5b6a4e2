"""Video render speed and fidelity: `render --no-refine` of a real profile's own tracks.

    .venv/bin/python benchmarks/bench_render.py [--profile DIR --clip CLIP] [--json out.json] [--doc-image PNG]

Without --profile the shared address_man clip (../shared/data) is analysed into .cache/bench/ (cached).
Reports, for the clip's own fitted tracks (250 frames = 10 s at 25 fps):

- end-to-end `render_video` wall time and process CPU time at 256 and 512 px (decode, render, composite,
  paste back, encode with audio); the target is <= 30 s for 10 s at 256 px on 2 CPU cores;
- face_psnr on the held-out frames of analyze's quality.json (never used for the texture), rendered at
  512 px in crop space exactly as the analysis does (texture.masked_psnr), without the mouth cavity, with
  it in the default colours and in colours fitted to the clip (backend.render.mouth_colours, other frames), against crops cut in the rasterizer's pixel convention (pasteback.crop_frame) and, for comparison,
  against crops cut as analyze cuts them (raw affine to cv2.warpAffine, half a pixel of scale off);
- full-frame fidelity of the rendered video at those frames (after H.264): PSNR inside the face, and the
  error in a band just outside the face (paste-back seam region) next to the error far from the face.
Wall time is what a user waits; CPU time is the steadier figure on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend import media  # noqa: E402
from backend.face.crops import crop_camera  # noqa: E402
from backend.face.posing import posed_vertices  # noqa: E402
from backend.face.profile import load_profile  # noqa: E402
from backend.render import raster  # noqa: E402
from backend.render.face import FaceRenderer  # noqa: E402
from backend.render.mouth_colours import fit_colours, pick_frames  # noqa: E402
from backend.render.pasteback import crop_frame  # noqa: E402
from backend.render.texture import masked_psnr  # noqa: E402
from backend.render.video import load_albedo, render_video  # noqa: E402

SHARED = Path(os.environ.get("TALKING_HEAD_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEFAULT_CLIP = SHARED / "video" / "address_man_10s_512.mp4"


def held_out_psnr(profile_dir: Path, clip: Path) -> dict[str, float | list[int]]:
    prof = load_profile(profile_dir)
    fit = prof.fit()
    quality = json.loads((prof.path / "quality.json").read_text())
    idx = np.array(quality["face_psnr_frames"])
    calib = pick_frames(prof, fit["expression"])  # never one of idx
    want = set(idx.tolist()) | set(calib.tolist())
    frames = {i: f for i, f in media.iter_frames(clip, prof.fps) if i in want}
    affines = fit["crop_512"][idx]
    cams = np.stack([crop_camera(fit["camera"], a) for a in affines])
    model = prof.face_model()
    albedo, sh = load_albedo(prof), prof.lighting()
    with_cavity, mask_c = FaceRenderer(model, albedo, sh, 512).render(fit["expression"][idx], fit["pose"][idx], cams)
    ca = fit["crop_512"][calib]
    colours, n_px = fit_colours((model, albedo, sh, 512), fit["expression"][calib], fit["pose"][calib],
                                np.stack([crop_camera(fit["camera"], a) for a in ca]),
                                np.stack([crop_frame(frames[i], a, 512) for i, a in zip(calib, ca, strict=True)]))
    fitted, mask_fc = FaceRenderer(model, albedo, sh, 512, mouth_colours=colours).render(
        fit["expression"][idx], fit["pose"][idx], cams)
    verts = posed_vertices(torch.as_tensor(model.vertices), torch.as_tensor(model.basis),
                           torch.as_tensor(fit["expression"][idx]), torch.as_tensor(fit["pose"][idx]))
    with torch.no_grad():
        out = raster.render(verts, torch.as_tensor(model.triangles).long(), torch.as_tensor(model.uvs),
                            torch.as_tensor(albedo).permute(2, 0, 1)[None], torch.as_tensor(sh),
                            torch.as_tensor(cams), 512, 512)
    face_only, mask_f = out.image.clamp(0, 1).numpy(), out.mask[..., 0].numpy() > 0.5
    exact = np.stack([crop_frame(frames[i], a, 512) for i, a in zip(idx, affines, strict=True)]) / 255.0
    as_analyze = np.stack([cv2.warpAffine(frames[i], a, (512, 512), flags=cv2.INTER_AREA,
                                          borderMode=cv2.BORDER_REPLICATE) for i, a in zip(idx, affines, strict=True)])
    return {
        "frames": idx.tolist(),
        "analyze_quality_json": quality["face_psnr"],
        "face_only_analyze_crops": masked_psnr(face_only, as_analyze / 255.0, mask_f),
        "face_only_exact_crops": masked_psnr(face_only, exact, mask_f),
        "with_cavity_default_colours": masked_psnr(with_cavity, exact, mask_c),
        "with_cavity_fitted_colours": masked_psnr(fitted, exact, mask_fc),
        "mouth_colours_fitted": np.round(colours, 3).tolist(),
        "mouth_calibration_frames": calib.tolist(),
        "mouth_calibration_pixels": n_px,
    }


def video_fidelity(video: Path, clip: Path, profile_dir: Path, frames: list[int], size: int) -> dict[str, float]:
    """PSNR inside the face and mean abs error just outside it / far from it, rendered video vs clip."""
    prof = load_profile(profile_dir)
    fit = prof.fit()
    renderer = FaceRenderer(prof.face_model(), load_albedo(prof), prof.lighting(), size)  # masks only
    want = set(frames)
    real = {i: f for i, f in media.iter_frames(clip, prof.fps) if i in want}
    ours = {i: f for i, f in media.iter_frames(video, prof.fps) if i in want}
    inside, band, far = [], [], []
    for i in frames:
        a = fit[f"crop_{size}"][i]
        _, mask = renderer.render(fit["expression"][i:i + 1], fit["pose"][i:i + 1], crop_camera(fit["camera"], a)[None])
        full = cv2.warpAffine(mask[0].astype(np.uint8), cv2.invertAffineTransform(a.astype(np.float64)),
                              real[i].shape[1::-1], flags=cv2.INTER_NEAREST) > 0
        k = np.ones((3, 3), np.uint8)
        ring = (cv2.dilate(full.astype(np.uint8), k, iterations=8) > 0) & ~(cv2.dilate(full.astype(np.uint8), k, 2) > 0)
        away = ~(cv2.dilate(full.astype(np.uint8), k, iterations=40) > 0)
        err = np.abs(ours[i].astype(np.float64) - real[i].astype(np.float64)).mean(-1)
        inside.append(((ours[i][full] / 255.0 - real[i][full] / 255.0) ** 2).mean())
        band.append(err[ring].mean())
        far.append(err[away].mean())
    return {"face_psnr_full_frame": float(10 * np.log10(1 / np.mean(inside))),
            "seam_band_mae_255": float(np.mean(band)), "far_from_face_mae_255": float(np.mean(far))}


def doc_image(video: Path, clip: Path, fps: float, frame: int, box: tuple[int, int, int, int], path: Path) -> None:
    """Side by side crop (original | re-rendered) around the face boundary, for docs/."""
    x0, y0, x1, y1 = box
    real = next(f for i, f in media.iter_frames(clip, fps) if i == frame)
    ours = next(f for i, f in media.iter_frames(video, fps) if i == frame)
    gap = np.full((y1 - y0, 4, 3), 255, np.uint8)
    img = np.concatenate([real[y0:y1, x0:x1], gap, ours[y0:y1, x0:x1]], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", type=Path, help="profile directory (default: analyse the shared clip)")
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="the profile's target clip")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--doc-image", type=Path, help="write a seam close-up PNG here (original | render)")
    ap.add_argument("--doc-box", type=int, nargs=4, default=[120, 230, 320, 430], metavar=("X0", "Y0", "X1", "Y1"))
    ap.add_argument("--doc-frame", type=int, default=116)
    args = ap.parse_args()
    if not args.clip.is_file():
        print(f"clip not found: {args.clip}", file=sys.stderr)
        return 2
    profile = args.profile
    if profile is None:
        from backend.analysis.pipeline import analyze

        profile = analyze(args.clip, ROOT / ".cache" / "bench" / "address_profile", overlay=False)
    prof = load_profile(profile)
    info: dict = {"machine": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                  "clip": args.clip.name, "frames": int(prof.manifest["frame_count"]), "fps": prof.fps}
    info["held_out_psnr_db"] = held_out_psnr(profile, args.clip)
    print(json.dumps(info["held_out_psnr_db"], indent=1))
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            out = Path(tmp) / f"render_{size}.mp4"
            t, c = time.perf_counter(), time.process_time()
            result = render_video(profile, profile / "tracks.json", profile / "audio.wav", out, clip=args.clip, size=size)
            case = {"wall_s": round(time.perf_counter() - t, 2), "cpu_s": round(time.process_time() - c, 2),
                    "stages_s": result.timings, "key_frames": len(result.plan.keys)}
            case.update(video_fidelity(out, args.clip, profile, info["held_out_psnr_db"]["frames"], size))
            info[f"render_{size}"] = case
            print(size, json.dumps(case))
            if args.doc_image and size == max(args.sizes):
                doc_image(out, args.clip, prof.fps, args.doc_frame, tuple(args.doc_box), args.doc_image)
    if args.json:
        from backend.core.atomic import write_json

        write_json(args.json, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
