"""The face mesh derived from MediaPipe's tessellation: clean, consistently oriented, facing the camera."""

from __future__ import annotations

from collections import Counter

import numpy as np

from backend.face.model import load_template
from backend.face.topology import SPURIOUS, _tessellation_edges, raw_triangles, triangles_from_edges


def test_triangle_count_and_spurious_removed():
    tris = triangles_from_edges(_tessellation_edges())
    assert len(tris) == 852
    assert not {tuple(sorted(t)) for t in tris.tolist()} & SPURIOUS


def test_every_edge_used_at_most_twice_in_opposite_directions():
    directed = Counter()
    for a, b, c in raw_triangles():
        for u, v in ((a, b), (b, c), (c, a)):
            directed[(u, v)] += 1
    assert max(directed.values()) == 1  # no shared edge traversed twice the same way
    undirected = Counter()
    for (u, v), n in directed.items():
        undirected[(min(u, v), max(u, v))] += n
    assert max(undirected.values()) == 2


def test_template_faces_the_camera_and_uvs_are_valid():
    model = load_template()
    v = model.vertices[model.triangles]
    normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    assert (normals[:, 2] > 0).mean() > 0.9  # all but the steep sides face +z
    assert model.uvs.min() >= 0 and model.uvs.max() <= 1
    uv = model.uvs[model.triangles]
    area = np.cross(uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0])
    assert (area > 0).mean() > 0.97, "UV layout should keep the triangles' orientation (few fold-overs)"
    iod = np.linalg.norm(model.vertices[263] - model.vertices[33])
    assert abs(iod - 0.09) < 1e-4
    assert model.basis.shape == (32, 468, 3)
