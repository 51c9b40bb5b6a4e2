"""Triangles of the MediaPipe face mesh: derived from the tessellation edges, cleaned and consistently oriented.

FACEMESH_TESSELATION lists 1322 undirected edges; its 3-cliques are 854 triangles of which two are spurious
(design.md section 5). The rest form a disk with eye and mouth holes. Winding in the edge list is arbitrary,
so we orient by propagation across shared edges and flip the whole mesh to face +z (the camera).
"""

from __future__ import annotations

from collections import defaultdict, deque
from functools import lru_cache

import numpy as np

SPURIOUS = {(49, 64, 129), (279, 294, 358)}


def _tessellation_edges() -> list[tuple[int, int]]:
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    return sorted({(min(a, b), max(a, b)) for a, b in FACEMESH_TESSELATION})


def triangles_from_edges(edges: list[tuple[int, int]]) -> np.ndarray:
    """All 3-cliques of the edge graph as sorted vertex triples, minus the known spurious ones."""
    nbrs: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        nbrs[a].add(b)
        nbrs[b].add(a)
    tris = set()
    for a, b in edges:
        for c in nbrs[a] & nbrs[b]:
            tris.add(tuple(sorted((a, b, c))))
    return np.array(sorted(tris - SPURIOUS), dtype=np.int32)


def orient_consistently(tris: np.ndarray) -> np.ndarray:
    """Flip triangles so every shared edge is traversed in opposite directions by its two triangles."""
    tris = tris.copy()
    edge_to_tris: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, (a, b, c) in enumerate(tris):
        for u, v in ((a, b), (b, c), (c, a)):
            edge_to_tris[(min(u, v), max(u, v))].append(i)
    seen = np.zeros(len(tris), dtype=bool)
    for start in range(len(tris)):
        if seen[start]:
            continue
        seen[start] = True
        queue = deque([start])
        while queue:
            i = queue.popleft()
            a, b, c = tris[i]
            for u, v in ((a, b), (b, c), (c, a)):
                for j in edge_to_tris[(min(u, v), max(u, v))]:
                    if j == i or seen[j]:
                        continue
                    # neighbour must traverse (v, u); if it contains (u, v) in its cyclic order, flip it
                    x, y, z = tris[j]
                    if (u, v) in ((x, y), (y, z), (z, x)):
                        tris[j] = (x, z, y)
                    seen[j] = True
                    queue.append(j)
    return tris


def face_front(tris: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Flip the whole (consistently oriented) mesh so that the summed normal points to +z."""
    v = vertices[tris]
    normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    return tris if normals[:, 2].sum() > 0 else tris[:, [0, 2, 1]].copy()


@lru_cache(maxsize=1)
def raw_triangles() -> np.ndarray:
    """The 852 face-mesh triangles, consistently (but not yet front-) oriented."""
    return orient_consistently(triangles_from_edges(_tessellation_edges()))
