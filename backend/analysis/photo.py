"""One photo -> profile: identity shape, texture and lighting from a single image (`talking-head analyze PHOTO`).

The same stages as a clip (analysis.pipeline), on one frame: MediaPipe in static-image mode (largest face
when several are present, said in a note), the identity fit on that frame (its expression folds into the
identity, so 0 is the face as photographed), the texture unwrapped from the one view and the SH lighting
fitted on it. The profile keeps the photo itself (`photo.png`): the renderer uses it as the background, so
hair, ears, neck and the scene come from the photo (backend.render.photo_background). The manifest says
`source.kind = "photo"`; motion then comes from the training-free prior (backend.motion.prior).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import cv2
import numpy as np

from backend import __version__, media
from backend.analysis.fitting import fit_sequence, reprojection_nme
from backend.analysis.overlay import draw_overlay, unique_edges
from backend.analysis.profile_files import write_profile_files
from backend.analysis.tracking import FaceTracker
from backend.core.atomic import atomic_dir, atomic_path
from backend.core.errors import UserError
from backend.core.native_logs import filtered_native_stderr
from backend.core.progress import QUIET, Progress
from backend.face.crops import CROP_SIZES, crop_affines, crop_boxes, crop_camera
from backend.face.landmarks import N_MESH
from backend.face.model import load_template
from backend.face.posing import posed_vertices_np, project_np
from backend.face.profile import FORMAT, VERSION, cache_key, is_current_profile, profile_id_for
from backend.render.shading import UNIFORM_WHITE
from backend.render.texture import (
    FrameSamples,
    TextureResult,
    fill_unseen,
    masked_psnr,
    render_samples,
    unwrap_texture,
    uv_raster,
)

MIN_FACE_PX = 64  # below this the landmarks and the texture carry too little detail to animate
MIN_IMAGE_PX = 32
MAX_SIDE = 1280  # larger photos are scaled down: the video would be slow and the face no sharper
DEFAULT_FPS = 25.0  # a photo has no frame rate: tracks are made at this one unless asked otherwise
PHOTO_FILE = "photo.png"


def read_photo(path: Path) -> tuple[np.ndarray, list[str]]:
    """RGB uint8 of an image file (decoded by content, whatever its name), scaled to <= MAX_SIDE."""
    raw = np.fromfile(str(path), dtype=np.uint8)
    bgr = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None
    if bgr is None:
        raise UserError(f"{path} looks like an image but cannot be decoded (truncated or unsupported)",
                        hint="save the photo again as PNG or JPEG")
    h, w = bgr.shape[:2]
    if min(h, w) < MIN_IMAGE_PX:
        raise UserError(f"{path} is only {w}x{h} px; a photo needs a face at least {MIN_FACE_PX} px across",
                        hint="use a larger photo of the person, face clearly visible")
    notes = []
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
        bgr = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        notes.append(f"the photo is {w}x{h} px: scaled to {bgr.shape[1]}x{bgr.shape[0]} for analysis and video")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), notes


def _windows(height: int, width: int) -> list[tuple[int, int, int]]:
    """(x0, y0, side) square windows overlapping by half, at the photo's short side and half of it."""
    out = []
    for side in (min(height, width), min(height, width) // 2):
        if side < 2 * MIN_FACE_PX:
            continue
        step = side // 2
        for y0 in sorted({*range(0, height - side + 1, step), height - side}):
            for x0 in sorted({*range(0, width - side + 1, step), width - side}):
                out.append((x0, y0, side))
    return out


def detect_faces(rgb: np.ndarray) -> list[np.ndarray]:
    """[478,3] px landmarks of every face found. The detector sees the image at 128 px, so a face that is
    small in a large photo is looked for again in overlapping windows (the same face found twice counts once)."""
    found: list[np.ndarray] = []
    with filtered_native_stderr():
        tracker = FaceTracker(max_faces=5, static=True)
        try:
            face = tracker.process(rgb)
            if face is not None and tracker.faces_seen == 1:
                return [face]
            for x0, y0, side in [(0, 0, 0)] + _windows(*rgb.shape[:2]):
                crop = rgb if side == 0 else np.ascontiguousarray(rgb[y0:y0 + side, x0:x0 + side])
                for cand in tracker.all_faces(crop):
                    cand[:, :2] += (x0, y0)
                    extent = float(np.ptp(cand[:N_MESH, :2], axis=0).max())
                    if all(np.linalg.norm(cand[:, :2].mean(0) - f[:, :2].mean(0)) > 0.5 * extent for f in found):
                        found.append(cand)
        finally:
            tracker.close()
    return found


def find_face(rgb: np.ndarray, path: Path) -> tuple[np.ndarray, list[str]]:
    """[478,3] px landmarks of the largest face in the photo, and notes (several faces)."""
    faces = detect_faces(rgb)
    found = max(faces, key=lambda f: float(np.ptp(f[:N_MESH, :2], axis=0).max())) if faces else None
    if found is None:
        raise UserError(f"no face found in {path}",
                        hint="use a photo where one face is clearly visible, frontal-ish and at least "
                             f"{MIN_FACE_PX} px across")
    extent = float((found[:N_MESH, :2].max(0) - found[:N_MESH, :2].min(0)).max())
    if extent < MIN_FACE_PX:
        raise UserError(f"the face in {path} is only {extent:.0f} px across; analyze needs at least {MIN_FACE_PX} px",
                        hint="use a closer or higher-resolution photo (crop it around the face)")
    notes = []
    if len(faces) > 1:
        notes.append(f"{len(faces)} faces in the photo: used the largest ({extent:.0f} px across)")
    return found, notes


def baked_texture(model, samples: FrameSamples, progress: Progress) -> TextureResult:
    """The photo's colours as the texture with the light left in (SH = unlit white). One view cannot tell
    albedo from shading (a fitted light trades against the texture and shifts the colours as soon as the
    head turns: measured, docs/render.md); baked, the face keeps the photo's look at every small turn."""
    progress.stage("unwrap texture", 1)
    uvr = uv_raster(model)
    lit, weight = unwrap_texture(model, samples, uvr)
    face_texels = (uvr.tri_id[0] >= 0).numpy()
    coverage = float((weight[face_texels] > 0.05).mean())
    albedo = fill_unseen(np.clip(fill_unseen(lit, weight), 0, 1), np.where(face_texels, 1.0, 0.0))
    progress.update(1)
    white = np.tile(np.asarray(UNIFORM_WHITE, np.float32)[:, None], (1, 3))
    return TextureResult(albedo=albedo.astype(np.float32), sh=white, coverage=coverage)


def analyze_photo(photo: str | Path, out_dir: str | Path, fps: float | None = None, progress: Progress = QUIET,
                  force: bool = False, overlay: bool = True) -> Path:
    """Photo -> profile directory (docs/formats.md; `source.kind` "photo"). Reuses a profile of the same inputs."""
    photo, out_dir = Path(photo), Path(out_dir)
    if fps is not None and not 1 <= fps <= 120:
        raise UserError(f"--fps must be between 1 and 120, got {fps}")
    rate = float(fps or DEFAULT_FPS)
    template = load_template()
    sha = media.sha256_file(photo)
    key = cache_key(sha, None, rate, template.model_id) + ":photo"
    if is_current_profile(out_dir, key, force):
        progress.message(f"reusing profile {out_dir} (same photo and settings)")
        return out_dir
    t0 = time.perf_counter()
    progress.stage("find the face in the photo")
    rgb, notes = read_photo(photo)
    landmarks, face_notes = find_face(rgb, photo)
    for note in notes + face_notes:
        progress.message(note)
    height, width = rgb.shape[:2]
    lm = landmarks[None].astype(np.float32)
    fit = fit_sequence(lm, width, height, template, progress=progress)
    model = template.with_identity(fit.identity)
    pose, expression = fit.pose, np.zeros_like(fit.expression)  # one frame: its expression is the identity's
    centres, side = crop_boxes(lm[:, :N_MESH, :2], rate)
    crops = {s: crop_affines(centres, side, s) for s in CROP_SIZES}
    samples = FrameSamples(
        images=cv2.warpAffine(rgb, crops[512][0], (512, 512), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE)[None],
        cameras=crop_camera(fit.camera, crops[512][0])[None], expression=expression, pose=pose)
    tex = baked_texture(model, samples, progress)
    rendered, masks = render_samples(model, tex, expression, pose, samples.cameras, 512)
    quality = {
        "landmark_nme": reprojection_nme(model, model.vertices, expression, pose, fit.camera, lm),
        "landmark_nme_raw": fit.landmark_nme,
        # the texture came from this very frame: a fit figure, not a held-out one as for a clip
        "face_psnr_same_frame": masked_psnr(rendered, samples.images.astype(np.float32) / 255.0, masks),
        "texture_coverage": tex.coverage,
        "head_rotation_deg": np.degrees(pose[0, :3]).round(2).tolist(),
        "face_px": float((lm[0, :N_MESH, :2].max(0) - lm[0, :N_MESH, :2].min(0)).max()),
        "focal_px": float(fit.camera[0]),
        "notes": notes + face_notes,
    }
    profile_id = profile_id_for(key)
    with atomic_dir(out_dir) as tmp:
        manifest = {
            "format": FORMAT, "version": VERSION, "profile_id": profile_id, "cache_key": key,
            "source": {"kind": "photo", "clip_name": photo.name, "clip_path": str(photo.resolve()),
                       "clip_sha256": sha, "audio_sha256": None, "audio_source": "none", "photo": PHOTO_FILE},
            "fps": rate, "frame_count": 1, "width": width, "height": height,
            "face_model": model.model_id, "basis_names": model.basis_names,
            "software_version": __version__, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        write_profile_files(tmp, model, lm, np.ones(1, bool), fit, pose, expression, crops, tex.albedo, tex.sh,
                            rate, profile_id,
                            {"source": "analyze", "photo": photo.name, "software_version": __version__})
        cv2.imwrite(str(tmp / PHOTO_FILE), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if overlay:
            verts = posed_vertices_np(model.vertices, model.basis, expression, pose)[0]
            drawn = draw_overlay(rgb, project_np(verts, fit.camera), unique_edges(model.triangles), lm[0, :, :2])
            with atomic_path(tmp / "overlay.png", suffix=".png") as path:
                cv2.imwrite(str(path), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
        quality["timings"] = {"total_s": round(time.perf_counter() - t0, 2)}
        (tmp / "quality.json").write_text(json.dumps(quality, indent=2) + "\n")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    progress.close()
    return out_dir
