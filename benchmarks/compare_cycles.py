"""Agreement of our rasterizer with an independent renderer: Blender Cycles (CPU, headless) on the same mesh.

    .venv/bin/python benchmarks/compare_cycles.py [--profile DIR] [--sizes 256 512] [--json out.json]

The face mesh with its mouth cavity (backend.render.mouth), posed by a few fitted (or synthetic) frames, is
rendered (a) by backend.render.raster with uniform white SH light (shading returns the albedo exactly, see
backend/render/shading.py) and (b) by Cycles with an unlit emission shader reading the same 8-bit texture
through the same UVs (Linear interpolation, extend, Non-Color), a camera at the origin looking down -z with
the same intrinsics (focal length via sensor width, principal point via lens shift), one sample with a
0.01 px pixel filter (point sampling at pixel centres, as the rasterizer does), output as 32-bit linear EXR.
Reported per size: mask IoU (rasterizer coverage vs Cycles alpha > 0.5) and the mean absolute colour error
on pixels both cover, in 1/255 units (targets: IoU >= 0.99, error <= 1). With --profile the profile's
texture (with the cavity colours painted in) and fitted frames are used, else the template mesh with a
procedural texture and synthetic poses. Cycles runs in a child process (`--cycles-worker`) so bpy and torch
never share one interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cycles_worker(scene_npz: Path, out_npz: Path) -> None:
    """Child process: build the scene in bpy, render every frame with Cycles, save RGBA floats."""
    import bpy

    data = np.load(scene_npz)
    verts, tris, uvs, texture, cams = data["verts"], data["tris"], data["uvs"], data["texture"], data["cams"]
    size = int(data["size"])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 0
    scene.cycles.filter_width = 0.01  # point-sample each pixel centre, like the rasterizer
    scene.cycles.pixel_filter_type = "BOX"
    scene.render.film_transparent = True
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.image_settings.color_mode = "RGBA"
    world = bpy.data.worlds.new("black")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.0
    scene.world = world

    img = bpy.data.images.new("albedo", width=texture.shape[1], height=texture.shape[0], alpha=True,
                              float_buffer=True)
    img.colorspace_settings.name = "Non-Color"
    rgba = np.concatenate([texture, np.ones(texture.shape[:2] + (1,), np.float32)], -1)
    img.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())  # bpy rows run bottom to top
    img.pack()
    mat = bpy.data.materials.new("emit")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    tex = nodes.new("ShaderNodeTexImage")
    tex.image, tex.interpolation, tex.extension = img, "Linear", "EXTEND"
    emit = nodes.new("ShaderNodeEmission")
    emit.inputs["Strength"].default_value = 1.0
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(tex.outputs["Color"], emit.inputs["Color"])
    links.new(emit.outputs["Emission"], out.inputs["Surface"])

    cam_data = bpy.data.cameras.new("cam")
    cam_obj = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam_obj)
    scene.camera = cam_obj
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = 36.0
    cam_data.clip_start, cam_data.clip_end = 1e-3, 100.0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(len(verts)):
            mesh = bpy.data.meshes.new(f"face{k}")
            mesh.from_pydata(verts[k].tolist(), [], tris.tolist())
            uv_layer = mesh.uv_layers.new(name="UVMap")
            loop_uv = uvs[tris.reshape(-1)]  # from_pydata keeps face and corner order
            uv_layer.data.foreach_set("uv", loop_uv.astype(np.float32).ravel())
            mesh.materials.append(mat)
            obj = bpy.data.objects.new(f"face{k}", mesh)
            scene.collection.objects.link(obj)
            f, cx, cy = cams[k]
            cam_data.lens = f * 36.0 / size
            cam_data.shift_x = (size / 2 - cx) / size
            cam_data.shift_y = (cy - size / 2) / size
            path = Path(tmp) / f"f{k}.exr"
            scene.render.filepath = str(path)
            bpy.ops.render.render(write_still=True)
            im = bpy.data.images.load(str(path))
            px = np.empty(size * size * 4, np.float32)
            im.pixels.foreach_get(px)
            results.append(px.reshape(size, size, 4)[::-1].copy())
            bpy.data.images.remove(im)
            bpy.data.objects.remove(obj)
    np.save(out_npz, np.stack(results))


def _scene(profile: Path | None, size: int) -> dict[str, np.ndarray]:
    import torch

    from backend.face.crops import crop_camera
    from backend.face.model import load_template
    from backend.face.profile import load_profile
    from backend.render.mouth import cavity_mesh, paint_patch, posed_with_cavity
    from backend.render.video import load_albedo

    if profile is not None:
        prof = load_profile(profile)
        model, fit = prof.face_model(), prof.fit()
        idx = np.linspace(0, len(fit["pose"]) - 1, 4).round().astype(int)
        expression, pose = fit["expression"][idx], fit["pose"][idx]
        cams = np.stack([crop_camera(fit["camera"], a) for a in fit[f"crop_{size}"][idx]])
        albedo = paint_patch(load_albedo(prof))
    else:
        model = load_template()
        rng = np.random.default_rng(3)
        expression = rng.normal(0, 1.0, (4, model.n_expr)).astype(np.float32)
        pose = np.array([[0.05 * k, 0.2 * (k - 1.5), 0.03 * k, 0.0, -0.01, -0.5] for k in range(4)], np.float32)
        yy, xx = np.mgrid[0:512, 0:512] / 512.0
        albedo = paint_patch(np.stack([0.5 + 0.3 * np.sin(9 * xx), 0.4 + 0.3 * np.cos(7 * yy),
                                       0.3 + 0.25 * np.sin(5 * (xx + yy))], -1).astype(np.float32))
        centre = model.vertices.mean(0)
        cams = np.array([[size * 2.2, size / 2 + 10 * k - 15, size / 2 - 8 * k] for k in range(4)], np.float32)
        pose[:, 3:5] -= centre[:2]  # roughly centre the face on the axis
    albedo = (np.clip(albedo, 0, 1) * 255).round() / 255.0  # the 8-bit texture both renderers read
    mesh = cavity_mesh(model.vertices, model.triangles, model.uvs)
    verts = posed_with_cavity(torch.as_tensor(model.vertices), torch.as_tensor(model.basis),
                              torch.as_tensor(expression), torch.as_tensor(pose)).numpy()
    return {"verts": verts.astype(np.float32), "tris": mesh.triangles.astype(np.int64), "uvs": mesh.uvs,
            "texture": albedo.astype(np.float32), "cams": cams.astype(np.float32), "size": np.array(size)}


def _ours(scene: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from backend.render import raster
    from backend.render.shading import UNIFORM_WHITE

    size = int(scene["size"])
    sh = torch.tensor([[UNIFORM_WHITE[i]] * 3 for i in range(9)], dtype=torch.float32)
    with torch.no_grad():
        out = raster.render(torch.as_tensor(scene["verts"]), torch.as_tensor(scene["tris"]),
                            torch.as_tensor(scene["uvs"]), torch.as_tensor(scene["texture"]).permute(2, 0, 1)[None],
                            sh, torch.as_tensor(scene["cams"]), size, size)
    return out.image.numpy(), out.mask[..., 0].numpy() > 0.5


def compare(profile: Path | None, size: int) -> dict[str, float]:
    scene = _scene(profile, size)
    ours, mask = _ours(scene)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "scene.npz", **scene)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        subprocess.run([sys.executable, __file__, "--cycles-worker", str(Path(tmp) / "scene.npz"),
                        str(Path(tmp) / "cycles.npy")], check=True, env=env, stdout=subprocess.DEVNULL)
        cyc = np.load(Path(tmp) / "cycles.npy")
    cmask = cyc[..., 3] > 0.5
    both = mask & cmask
    err = np.abs(ours - cyc[..., :3])[both] * 255
    return {"size": size, "frames": int(len(mask)), "mask_iou": float(both.sum() / (mask | cmask).sum()),
            "mask_pixels": int(mask.sum()), "mask_disagree_pixels": int((mask != cmask).sum()),
            "mean_abs_colour_error_255": float(err.mean()), "p99_colour_error_255": float(np.percentile(err, 99)),
            "max_colour_error_255": float(err.max())}


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--cycles-worker":
        try:
            cycles_worker(Path(sys.argv[2]), Path(sys.argv[3]))
        finally:
            sys.stdout.flush()
            os._exit(0)  # bpy can hang at interpreter exit (docs: design.md section 6)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", type=Path, help="profile directory (default: template mesh, procedural texture)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    results = []
    for size in args.sizes:
        r = compare(args.profile, size)
        print(json.dumps(r))
        results.append(r)
    if args.json:
        from backend.core.atomic import write_json

        write_json(args.json, {"profile": str(args.profile) if args.profile else None, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
