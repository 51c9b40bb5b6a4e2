"""The face mesh's holes, found from its triangles: boundary edges chained into loops. On the MediaPipe mask
these are the outer rim, the two eye openings and the mouth opening (closed_geometry.py fills them)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np


def boundary_loops(triangles: np.ndarray) -> list[list[int]]:
    """Closed loops of boundary edges (edges used by one triangle), longest first."""
    count = Counter(tuple(sorted(e)) for t in triangles.tolist() for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))
    nxt: dict[int, list[int]] = defaultdict(list)
    for (a, b), n in count.items():
        if n == 1:
            nxt[a].append(b)
            nxt[b].append(a)
    seen: set[int] = set()
    loops = []
    for start in nxt:
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        seen.add(start)
        while True:
            options = [v for v in nxt[cur] if v != prev and v not in seen]
            if not options:
                break
            prev, cur = cur, options[0]
            seen.add(cur)
            loop.append(cur)
        loops.append(loop)
    return sorted(loops, key=len, reverse=True)


@dataclass
class Holes:
    eyes: list[list[int]]  # [subject's right (x < 0), subject's left (x > 0)]
    mouth: list[int]


def find_holes(vertices: np.ndarray, triangles: np.ndarray) -> Holes | None:
    """The eye and mouth openings, or None when the mesh has not got them (e.g. a closed or grid mesh)."""
    loops = boundary_loops(triangles)
    inner = [lp for lp in loops[1:] if len(lp) >= 6]
    if len(inner) < 3:
        return None
    centres = [vertices[lp].mean(0) for lp in inner]
    mouth_i = int(np.argmin([c[1] for c in centres]))
    rest = [i for i in range(len(inner)) if i != mouth_i]
    eyes = sorted(rest, key=lambda i: -len(inner[i]))[:2]
    eyes.sort(key=lambda i: centres[i][0])
    if centres[eyes[0]][0] >= 0 or centres[eyes[1]][0] <= 0 or centres[mouth_i][1] >= min(
            centres[eyes[0]][1], centres[eyes[1]][1]):
        return None
    return Holes(eyes=[inner[eyes[0]], inner[eyes[1]]], mouth=inner[mouth_i])


def affine_uv(points: np.ndarray, uvs: np.ndarray) -> np.ndarray:
    """[3, 2] least-squares affine map from (x, y) to UV (so a patch behind a hole samples the texture there)."""
    a = np.concatenate([points[:, :2], np.ones((len(points), 1))], 1)
    return np.linalg.lstsq(a, uvs, rcond=None)[0]
