"""Closed geometry behind the mask's openings, as separate objects parented to the head: eyeballs (textured
with the face texture mapped over the eye opening), a dark mouth cavity, upper teeth (rigid with the head),
lower teeth and tongue (vertex-parented to the lowest vertex of the mouth opening, so they follow the jaw however
it is keyed).
Proxies, not anatomy: sizes come from the openings (docs/blender.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bmesh
import bpy
import numpy as np

from ..data.mesh_holes import affine_uv, find_holes
from ..data.profile import Profile
from .mesh_data import mesh_of

EYE_RADIUS_M = 0.012


def _mesh(name: str, bm: bmesh.types.BMesh, created: list[Any]) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new(name)
    created.append(mesh)
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    return mesh


def _sphere(radius: tuple[float, float, float], centre: np.ndarray) -> bmesh.types.BMesh:
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=1.0)
    for v in bm.verts:
        v.co = (centre[0] + v.co.x * radius[0], centre[1] + v.co.y * radius[1], centre[2] + v.co.z * radius[2])
    return bm


def _box(size: tuple[float, float, float], centre: np.ndarray) -> bmesh.types.BMesh:
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.0)
    for v in bm.verts:
        v.co = (centre[0] + v.co.x * size[0], centre[1] + v.co.y * size[1], centre[2] + v.co.z * size[2])
    bmesh.ops.bevel(bm, geom=list(bm.edges), offset=min(size) * 0.3, segments=2, affect="EDGES")
    return bm


def _flat_material(name: str, rgb: tuple[float, float, float], created: list[Any],
                   roughness: float = 0.5) -> bpy.types.Material:
    material = bpy.data.materials.new(name)
    created.append(material)
    material.use_nodes = True
    material.diffuse_color = (*rgb, 1.0)
    bsdf = next((n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)  # type: ignore
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)  # type: ignore[attr-defined]
        bsdf.inputs["Roughness"].default_value = roughness  # type: ignore[attr-defined]
    return material


def build_closed_geometry(rig: Any, profile: Profile, basis_co: np.ndarray,
                          new_object: Callable[[str, Any, str], bpy.types.Object], created: list[Any],
                          view_layer: bpy.types.ViewLayer) -> list[str]:
    """Eyeballs, mouth cavity, teeth and tongue for a mask with eye and mouth openings; [] otherwise."""
    holes = find_holes(basis_co, profile.triangles)
    if holes is None:
        return []
    made: list[str] = []
    face_materials = mesh_of(rig.face).materials
    face_material = face_materials[0] if face_materials else None
    for side, loop in zip(("R", "L"), holes.eyes, strict=True):
        pts = basis_co[loop]
        centre = pts.mean(0).astype(np.float64)
        width = float(np.ptp(pts[:, 0]))
        r = max(EYE_RADIUS_M, width * 0.45)
        centre[2] = float(pts[:, 2].max()) - r + 0.002  # the cornea just behind the lids
        mesh = _mesh(f"TH_eye_{side}", _sphere((r, r, r), centre), created)
        affine = affine_uv(pts, profile.uvs[loop])
        uv = mesh.uv_layers.new(name="UVMap")
        co = np.array([mesh.vertices[i].co[:] for i in range(len(mesh.vertices))])
        corner_vertex = np.empty(len(mesh.loops), dtype=np.int32)
        mesh.loops.foreach_get("vertex_index", corner_vertex)
        xy1 = np.concatenate([co[corner_vertex, :2], np.ones((len(corner_vertex), 1))], 1)
        uv.data.foreach_set("uv", np.clip(xy1 @ affine, 0.0, 1.0).astype(np.float32).ravel())
        if face_material is not None:
            mesh.materials.append(face_material)
        eye = new_object(f"TH_eye_{side}", mesh, "eye")
        eye.parent = rig.head
        made.append(eye.name)

    mouth = basis_co[holes.mouth]
    m_centre = mouth.mean(0).astype(np.float64)
    half_w = float(np.ptp(mouth[:, 0])) / 2
    front = float(mouth[:, 2].max())
    cavity_c = np.array([m_centre[0], m_centre[1] - 0.006, front - 0.03])
    cavity = new_object("TH_mouth", _mesh("TH_mouth", _sphere((half_w + 0.006, 0.028, 0.026), cavity_c),
                                         created), "mouth")
    mesh_of(cavity).materials.append(_flat_material("TH_mouth", (0.12, 0.02, 0.02), created, 0.8))
    cavity.parent = rig.head
    teeth_mat = _flat_material("TH_teeth", (0.85, 0.82, 0.74), created, 0.35)
    upper_y = float(mouth[:, 1].max())
    upper = new_object("TH_teeth_upper", _mesh("TH_teeth_upper", _box(
        (half_w * 1.3, 0.009, 0.008), np.array([m_centre[0], upper_y - 0.006, front - 0.009])), created), "teeth")
    mesh_of(upper).materials.append(teeth_mat)
    upper.parent = rig.head
    # lower lip: the three lowest vertices of the mouth opening
    low = [holes.mouth[i] for i in np.argsort(mouth[:, 1])[:3]]
    lower_y = float(mouth[:, 1].min())
    lower = new_object("TH_teeth_lower", _mesh("TH_teeth_lower", _box(
        (half_w * 1.2, 0.009, 0.008), np.array([m_centre[0], lower_y + 0.003, front - 0.010])), created), "teeth")
    mesh_of(lower).materials.append(teeth_mat)
    tongue = new_object("TH_tongue", _mesh("TH_tongue", _sphere(
        (half_w * 0.8, 0.006, 0.018), np.array([m_centre[0], lower_y + 0.002, front - 0.026])), created), "tongue")
    mesh_of(tongue).materials.append(_flat_material("TH_tongue", (0.55, 0.18, 0.18), created, 0.6))
    for obj in (lower, tongue):  # they follow the lower lip (and so the jaw), whatever drives it; one vertex
        obj.parent = rig.face  # (translation only): three lip vertices lie almost on a line, so VERTEX_3's
        obj.parent_type = "VERTEX"  # rotation would be unstable
        obj.parent_vertices = (low[0], 0, 0)
    view_layer.update()  # the vertex-parent frames at rest, then cancel them so the proxies stay in place
    for obj in (lower, tongue):
        obj.matrix_parent_inverse = obj.matrix_world.inverted() @ rig.face.matrix_world
    made += [cavity.name, upper.name, lower.name, tongue.name]
    return made
