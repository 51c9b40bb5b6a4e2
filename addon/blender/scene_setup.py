"""What makes the first F12 show the person: the face camera as the scene camera, framed on the face; the
factory startup cube and light out of the way (hidden, never deleted); the profile's lighting as the world
(or the texture as an unlit emission); the scene's fps from the tracks. Every change is recorded in `undo`
so a failed import puts the scene back."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import bpy
import numpy as np

from ..data import framing, sh_world
from ..data.profile import Profile

FACE_RESOLUTION = 1024
LIGHTING_MODES = ("SH", "UNLIT", "KEEP")
FRAMINGS = ("FACE", "CLIP")
Undo = list[Callable[[], None]]


def _set(undo: Undo, owner: Any, attr: str, value: Any) -> None:
    old = getattr(owner, attr)
    setattr(owner, attr, value)
    undo.append(lambda: setattr(owner, attr, old))


def is_factory_cube(obj: bpy.types.Object) -> bool:
    mesh = obj.data
    return (obj.type == "MESH" and obj.name.startswith("Cube") and isinstance(mesh, bpy.types.Mesh)
            and len(mesh.vertices) == 8 and obj.location.length < 1e-6 and max(obj.dimensions.x, obj.dimensions.y, obj.dimensions.z) <= 2.0 + 1e-6)


def is_factory_light(obj: bpy.types.Object) -> bool:
    return obj.type == "LIGHT" and obj.name.startswith("Light") and obj.data.type == "POINT"  # type: ignore


def clear_startup_objects(scene: bpy.types.Scene, undo: Undo) -> list[str]:
    """Hide (viewport and render) the startup cube, which encloses the camera at the origin, and the startup
    point light, which would add to the profile's lighting. Returns their names (for the report)."""
    hidden = []
    for obj in scene.objects:
        if (is_factory_cube(obj) or is_factory_light(obj)) and not obj.hide_render:
            _set(undo, obj, "hide_render", True)
            _set(undo, obj, "hide_viewport", True)
            hidden.append(obj.name)
    return hidden


def frame_camera(cam: bpy.types.Camera, scene: bpy.types.Scene, profile: Profile, pose: np.ndarray,
                 mode: str, undo: Undo) -> None:
    """FACE: a square crop around the face at `pose`; CLIP: the clip's whole frame."""
    f, cx, cy = profile.camera
    cam.sensor_fit = "HORIZONTAL"
    cam.sensor_width = framing.SENSOR_MM
    cam.clip_start = 0.01
    if mode == "FACE":
        crop = framing.face_crop(profile.vertices, pose, profile.camera)
        cam.lens, cam.shift_x, cam.shift_y = framing.lens_and_shift(profile.camera, crop)
        res = (FACE_RESOLUTION, FACE_RESOLUTION)
    else:
        side = max(profile.width, profile.height)
        cam.lens = f * framing.SENSOR_MM / profile.width
        cam.shift_x = (profile.width / 2 - cx) / side
        cam.shift_y = (cy - profile.height / 2) / side
        res = (profile.width, profile.height)
    _set(undo, scene.render, "resolution_x", res[0])
    _set(undo, scene.render, "resolution_y", res[1])
    _set(undo, scene.render, "resolution_percentage", 100)


def sh_world_for(profile: Profile, created: list[Any]) -> bpy.types.World | None:
    sh = sh_world.read_sh(os.path.join(profile.directory, "lighting.json"))
    if sh is None:
        return None
    pixels = sh_world.equirect(sh)
    image = bpy.data.images.new("TH_lighting", pixels.shape[1], pixels.shape[0], float_buffer=True)
    created.append(image)
    pixels_prop: Any = image.pixels  # a bpy_prop_array at run time; the stubs type it as a float
    pixels_prop.foreach_set(pixels.ravel())
    image.pack()
    world = bpy.data.worlds.new("TH_world")
    created.append(world)
    world.use_nodes = True
    tree = world.node_tree
    assert tree is not None
    env = tree.nodes.new("ShaderNodeTexEnvironment")
    env.image = image  # type: ignore[attr-defined]
    env.interpolation = "Cubic"  # type: ignore[attr-defined]
    background = next(n for n in tree.nodes if n.type == "BACKGROUND")
    tree.links.new(env.outputs["Color"], background.inputs["Color"])
    return world


def apply_lighting(scene: bpy.types.Scene, profile: Profile, mode: str, created: list[Any], undo: Undo) -> None:
    if mode == "SH":
        world = sh_world_for(profile, created)
        if world is not None:
            _set(undo, scene, "world", world)


def set_scene_fps(scene: bpy.types.Scene, fps: float, undo: Undo) -> None:
    base = round(fps)
    _set(undo, scene.render, "fps", max(1, base))
    _set(undo, scene.render, "fps_base", max(1, base) / fps)
