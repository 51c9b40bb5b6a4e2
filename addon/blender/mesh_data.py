"""`obj.data` as a `bpy.types.Mesh`: the add-on's face and proxies are mesh objects, and anything else
under one of their names is a scene the user broke, said as such instead of an AttributeError."""

from __future__ import annotations

import bpy

from ..errors import AddonError


def mesh_of(obj: bpy.types.Object) -> bpy.types.Mesh:
    data = obj.data
    if not isinstance(data, bpy.types.Mesh):
        raise AddonError(f"{obj.name} is not a mesh object any more; re-import the tracks.")
    return data
