"""ARKit-52 blendshapes on the shared expression basis, and tracks solved onto them (docs/blender.md).

Each ARKit shape is defined by *landmark definitions* on the MediaPipe topology: groups of mesh vertices
that move by a displacement (head-local mm: x toward the subject's left, y up, z toward the camera), spread
to their neighbours with a Gaussian falloff over the *geodesic* distance on the mesh (so moving the lower lip
never drags the upper lip across the mouth opening). A "Left" shape is defined once; its "Right" twin is the
mirror image (x negated, vertices mapped to their mirror vertices). The shape in the basis is the weighted,
ridge-regularised least-squares combination of the basis vectors closest to that displacement field
(defined vertices weight 1, every other vertex weight 0.25 with target 0, so a shape moves nothing else).
Its *expressed fraction* 1 - |B c - d|^2 / |d|^2 says how much of the definition the basis can show: the
basis is PCA of talking faces, so gaze, tongue and some cheek/nose motions are not in it and are reported,
not faked (EXPRESSED_MIN).

The tracks are solved per frame onto the kept shapes as weights in 0..1 by bounded least squares in vertex
space (FISTA on the basis Gram metric, a small L1 term so weights stay sparse), relative to a *rest*
expression (the closed-mouth face: ARKit weights are 0 at rest, while expression 0 is the average talking
face). A blink layer, when the tracks have one, drives eyeBlinkLeft/Right directly; otherwise the blink is
solved from the expression like every other shape. What the weights do not explain is the residual
`expression - rest - weights @ shapes`, which the add-on keys on the PCA keys so the face stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.core.errors import UserError
from backend.core.tracks import Tracks
from backend.face.landmarks import MOUTH_PAIRS

NAMES = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose",
    "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)
EXPRESSED_MIN = 0.5  # shapes whose definition the basis shows less than half of are left out (reported)
L1 = 0.02  # per unit weight, in mm^2 of vertex error: prefers few active shapes over many tiny ones
ITERATIONS = 400

# landmarks (MediaPipe 468), subject's LEFT side (x > 0) or the midline
L_UPPER_LID = (386, 385, 387, 384, 398, 388, 466)
L_LOWER_LID = (374, 380, 381, 373, 390, 249, 382)
L_BROW_INNER = (336, 285, 296, 334)
L_BROW_OUTER = (300, 276, 293, 283, 282, 295)
L_CHEEK = (280, 330, 425, 411, 352, 346, 347)
L_NOSTRIL = (279, 294, 278, 331, 358, 327)
L_CORNER = (291, 308, 409, 375)
L_UPPER_LIP = (409, 270, 269, 267, 415, 310, 311, 312)
L_LOWER_LIP = (375, 321, 405, 314, 324, 318, 402, 317)
L_DIMPLE = (287, 432, 410)
UPPER_LIP = (0, 13, 37, 267, 39, 269, 40, 270, 185, 409, 191, 415, 80, 310, 81, 311, 82, 312)
LOWER_LIP = (17, 14, 84, 314, 181, 405, 91, 321, 146, 375, 95, 324, 88, 318, 178, 402, 87, 317)
CHIN = (152, 175, 199, 200, 18, 148, 377, 176, 400)
JAW_LINE = (172, 136, 150, 149, 397, 365, 379, 378)
BOTH_CORNERS = (61, 291, 78, 308)

# a group: (vertices, displacement mm (dx, dy, dz), geodesic radius mm, symmetric); symmetric groups also
# move the mirror vertices with dx flipped (dx is then "outward")
Group = tuple[tuple[int, ...], tuple[float, float, float], float, bool]
LEFT: dict[str, list[Group]] = {  # the "Left" shapes; "Right" is their mirror
    "eyeBlink": [(L_UPPER_LID, (0, -8.0, 0.5), 5, False), (L_LOWER_LID, (0, 1.0, 0), 4, False)],
    "eyeLookDown": [(L_UPPER_LID, (0, -2.5, 0), 5, False)],
    "eyeLookIn": [],  # gaze: the eye opening itself does not move on this topology
    "eyeLookOut": [],
    "eyeLookUp": [(L_UPPER_LID, (0, 2.0, 0), 5, False)],
    "eyeSquint": [(L_LOWER_LID, (0, 2.5, 0), 5, False), (L_UPPER_LID, (0, -1.5, 0), 5, False)],
    "eyeWide": [(L_UPPER_LID, (0, 3.0, 0), 6, False)],
    "mouthSmile": [(L_CORNER, (4.0, 6.0, -2.0), 14, False)],
    "mouthFrown": [(L_CORNER, (0.5, -5.0, 0), 12, False)],
    "mouthDimple": [(L_CORNER, (2.0, 0, -3.0), 8, False), (L_DIMPLE, (0, 0, -2.0), 6, False)],
    "mouthStretch": [(L_CORNER, (5.0, -2.0, 0), 12, False)],
    "mouthPress": [(L_UPPER_LIP, (0, -1.5, -1.0), 5, False), (L_LOWER_LIP, (0, 1.5, -1.0), 5, False)],
    "mouthLowerDown": [(L_LOWER_LIP, (0, -4.0, 0.5), 7, False)],
    "mouthUpperUp": [(L_UPPER_LIP, (0, 4.0, 0.5), 7, False)],
    "browDown": [(L_BROW_INNER + L_BROW_OUTER, (-1.5, -4.0, 0), 12, False)],
    "browOuterUp": [(L_BROW_OUTER, (0, 6.0, 0), 12, False)],
    "cheekSquint": [(L_CHEEK, (0, 4.0, 0.5), 12, False)],
    "noseSneer": [(L_NOSTRIL, (0, 3.0, 0), 6, False)],
}
MIDDLE: dict[str, list[Group]] = {
    "jawOpen": [(LOWER_LIP, (0, -16.0, -3.0), 6, False), (CHIN, (0, -20.0, -5.0), 22, False),
                (JAW_LINE, (0, -10.0, -2.0), 14, False)],
    "jawForward": [(CHIN + LOWER_LIP, (0, 0, 6.0), 20, False)],
    "jawLeft": [(CHIN + LOWER_LIP, (6.0, 0, 0), 20, False)],
    "mouthClose": [(LOWER_LIP, (0, 6.0, 0), 5, False), (UPPER_LIP, (0, -2.0, 0), 4, False)],
    "mouthFunnel": [(UPPER_LIP, (0, 2.0, 5.0), 6, False), (LOWER_LIP, (0, -2.0, 5.0), 6, False),
                    (BOTH_CORNERS, (-3.0, 0, 2.0), 6, True)],
    "mouthPucker": [(UPPER_LIP + LOWER_LIP, (0, 0, 6.0), 6, False), (BOTH_CORNERS, (-8.0, 0, 2.0), 8, True)],
    "mouthLeft": [(UPPER_LIP + LOWER_LIP, (6.0, 0, 0), 10, False)],
    "mouthRollLower": [(LOWER_LIP, (0, 2.0, -4.0), 5, False)],
    "mouthRollUpper": [(UPPER_LIP, (0, -2.0, -4.0), 5, False)],
    "mouthShrugLower": [(LOWER_LIP, (0, 3.0, 1.0), 6, False), (CHIN, (0, 2.0, 1.0), 12, False)],
    "mouthShrugUpper": [(UPPER_LIP, (0, 3.0, 1.0), 6, False)],
    "browInnerUp": [(L_BROW_INNER, (0, 6.0, 0), 12, True)],
    "cheekPuff": [(L_CHEEK, (6.0, 0, 3.0), 16, True)],
    "tongueOut": [],  # no tongue in the mesh
}


@dataclass
class ArkitBasis:
    """ARKit shapes as basis combinations: names [N], shapes [N, K], expressed fraction per ARKit name."""

    names: list[str]
    shapes: np.ndarray
    expressed: dict[str, float]

    @property
    def left_out(self) -> list[str]:
        return [n for n in NAMES if n not in self.names]


def mirror_map(vertices: np.ndarray) -> np.ndarray:
    """[V] index of each vertex's mirror image across x = 0 (nearest vertex to (-x, y, z))."""
    flipped = vertices * np.array([-1.0, 1.0, 1.0])
    d = np.linalg.norm(vertices[None, :, :] - flipped[:, None, :], axis=-1)
    return d.argmin(axis=1)


def geodesic(vertices: np.ndarray, triangles: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """[V] distance (mm) along mesh edges to the nearest source vertex."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1) * 1000.0
    n = len(vertices)
    graph = coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    return np.asarray(dijkstra(graph, directed=False, indices=sources, min_only=True))


def definition_field(groups: list[Group], vertices: np.ndarray, triangles: np.ndarray, mirror: np.ndarray,
                     flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(displacement [V,3] metres, membership [V] in 0..1) of one shape's landmark definition."""
    field = np.zeros_like(vertices, dtype=np.float64)
    member = np.zeros(len(vertices))
    side = np.sign(np.where(np.abs(vertices[:, 0]) < 1e-3, 0.0, vertices[:, 0]))
    for ids, disp, radius, symmetric in groups:
        idx = np.asarray(ids)
        d = np.asarray(disp, dtype=np.float64) / 1000.0
        if flip:
            idx, d = mirror[idx], d * np.array([-1.0, 1.0, 1.0])
        if symmetric:
            idx = np.unique(np.concatenate([idx, mirror[idx]]))
        m = np.exp(-(geodesic(vertices, triangles, idx) / radius) ** 2)
        vec = np.tile(d, (len(vertices), 1))
        if symmetric:
            vec[:, 0] = abs(d[0]) * np.sign(d[0]) * side  # outward on both sides, none on the midline
        field += m[:, None] * vec
        member = np.maximum(member, m)
    return field, member


def solve_shape(field: np.ndarray, member: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, float]:
    """Basis coefficients [K] closest to `field` (weighted, ridge) and the expressed fraction."""
    if not member.any() or not np.abs(field).any():
        return np.zeros(basis.shape[0]), 0.0
    w = np.where(member > 0.05, 1.0, 0.25)
    b = basis.reshape(basis.shape[0], -1, 3).astype(np.float64) * 1000.0  # mm per unit
    d = field * 1000.0
    sw = np.sqrt(w)[None, :, None]
    a = (b * sw).reshape(b.shape[0], -1)
    y = (d[None] * sw).reshape(-1)
    gram = a @ a.T
    ridge = 1e-3 * np.trace(gram) / len(gram)
    c = np.linalg.solve(gram + ridge * np.eye(len(gram)), a @ y)
    fit = np.tensordot(c, b, axes=1)
    inside = member > 0.05
    err = np.sum((fit - d)[inside] ** 2)
    return c, float(max(0.0, 1.0 - err / np.sum(d[inside] ** 2)))


def arkit_basis(vertices: np.ndarray, triangles: np.ndarray, basis: np.ndarray,
                expressed_min: float = EXPRESSED_MIN) -> ArkitBasis:
    """Solve every ARKit shape onto `basis` ([K, 468, 3]); keep those it expresses well enough."""
    vertices = np.asarray(vertices, dtype=np.float64)
    if len(vertices) != 468:
        raise ValueError(f"ARKit definitions need the MediaPipe 468-vertex topology, got {len(vertices)}")
    mirror = mirror_map(vertices)
    defs: dict[str, tuple[list[Group], bool]] = {}
    for stem, groups in LEFT.items():
        defs[stem + "Left"], defs[stem + "Right"] = (groups, False), (groups, True)
    for name, groups in MIDDLE.items():
        defs[name] = (groups, False)
    defs["jawRight"] = (MIDDLE["jawLeft"], True)
    defs["mouthRight"] = (MIDDLE["mouthLeft"], True)
    names, shapes, expressed = [], [], {}
    for name in NAMES:
        groups, flip = defs[name]
        field, member = definition_field(groups, vertices, triangles, mirror, flip)
        c, frac = solve_shape(field, member, basis)
        expressed[name] = round(frac, 3)
        if frac >= expressed_min:
            names.append(name)
            shapes.append(c)
    k = basis.shape[0]
    return ArkitBasis(names=names, shapes=np.asarray(shapes, dtype=np.float64).reshape(len(names), k),
                      expressed=expressed)


def gram(basis: np.ndarray) -> np.ndarray:
    """[K, K] vertex-space metric of the basis, in mm^2 per unit coefficient."""
    b = basis.reshape(basis.shape[0], -1).astype(np.float64) * 1000.0
    return b @ b.T


def solve_weights(expression: np.ndarray, rest: np.ndarray, shapes: np.ndarray, metric: np.ndarray,
                  fixed: dict[int, np.ndarray] | None = None, l1: float = L1,
                  iterations: int = ITERATIONS) -> np.ndarray:
    """[T, N] weights in 0..1 with rest + weights @ shapes closest to expression in vertex space.

    `fixed` maps a shape index to its given [T] weights (a blink layer): those are not solved."""
    e = np.asarray(expression, dtype=np.float64) - rest[None, :]
    n = len(shapes)
    fixed = fixed or {}
    free = np.array([i not in fixed for i in range(n)])
    w = np.zeros((len(e), n))
    for i, values in fixed.items():
        w[:, i] = np.clip(values, 0.0, 1.0)
    if not free.any():
        return w
    target = e - w[:, ~free] @ shapes[~free]
    s = shapes[free]
    a = s @ metric @ s.T
    b = target @ metric @ s.T
    step = 1.0 / max(float(np.linalg.eigvalsh(a).max()), 1e-12)
    x = np.zeros((len(e), int(free.sum())))
    z, t = x.copy(), 1.0
    for _ in range(iterations):  # FISTA with projection onto the box [0, 1]
        x_new = np.clip(z - step * (z @ a - b + l1), 0.0, 1.0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x_new + ((t - 1) / t_new) * (x_new - x)
        x, t = x_new, t_new
    w[:, free] = x
    return w


def closed_mouth_rest(expression: np.ndarray, basis: np.ndarray, quantile: float = 0.1) -> np.ndarray:
    """Mean expression over the frames with the most closed mouth (as personalization.rest_expression)."""
    b = basis[:, MOUTH_PAIRS[:, 0], :] - basis[:, MOUTH_PAIRS[:, 1], :]  # [K, P, 3]
    gap = np.tensordot(expression.astype(np.float64), b, axes=1)[..., 1].mean(-1)  # vertical gap change
    closed = gap <= np.quantile(gap, quantile)
    return expression[closed].mean(axis=0).astype(np.float64)


@dataclass
class ArkitTrack:
    names: list[str]
    shapes: np.ndarray  # [N, K]
    weights: np.ndarray  # [T, N] in 0..1
    rest: np.ndarray  # [K]
    explained: float  # fraction of the expression's motion (vertex space, about rest) the weights explain
    left_out: list[str]


def solve_tracks(tracks: Tracks, vertices: np.ndarray, triangles: np.ndarray, basis: np.ndarray,
                 basis_names: list[str], rest: np.ndarray | None = None) -> ArkitTrack:
    """ARKit weights for `tracks` (columns in the tracks' basis order)."""
    order = [basis_names.index(n) for n in tracks.basis]
    basis = np.asarray(basis)[order]
    ak = arkit_basis(vertices, triangles, basis)
    expression = tracks.expression.astype(np.float64)
    rest = closed_mouth_rest(expression, basis) if rest is None else np.asarray(rest, np.float64)[order]
    metric = gram(basis)
    fixed: dict[int, np.ndarray] = {}
    blink = tracks.layers.get("blink")
    if blink is not None:
        for name in ("eyeBlinkLeft", "eyeBlinkRight"):
            if name in ak.names:
                fixed[ak.names.index(name)] = blink.weight.astype(np.float64)
    weights = solve_weights(expression, rest, ak.shapes, metric, fixed)
    resid = expression - rest - weights @ ak.shapes
    total = np.einsum("ti,ij,tj->", expression - rest, metric, expression - rest)
    left = np.einsum("ti,ij,tj->", resid, metric, resid)
    return ArkitTrack(names=ak.names, shapes=ak.shapes, weights=weights.astype(np.float32), rest=rest,
                      explained=float(1.0 - left / max(total, 1e-12)), left_out=ak.left_out)


def with_arkit(tracks: Tracks, profile_dir: str | Path) -> Tracks:
    """`tracks` plus ARKit weights solved on the profile's face model (`animate --rig arkit`). The rest face is
    the profile clip's own closed-mouth face (its tracks.json), like the motion model's rest expression."""
    from backend.core.tracks import Arkit, load_tracks
    from backend.face.model import FaceModel

    profile_dir = Path(profile_dir)
    model = FaceModel.load(profile_dir / "face_model.npz")
    if len(model.vertices) != 468:
        raise UserError(f"--rig arkit needs a face model on the MediaPipe 468-vertex topology; "
                        f"{profile_dir} has {len(model.vertices)} vertices", hint="use --rig pca")
    own = profile_dir / "tracks.json"
    rest = None
    if own.is_file():
        clip = load_tracks(own)
        if clip.basis == model.basis_names:
            rest = closed_mouth_rest(clip.expression, model.basis)
    if rest is None:  # no clip tracks: the new speech's own closed-mouth frames
        order = [model.basis_names.index(n) for n in tracks.basis]
        rest = closed_mouth_rest(tracks.expression, model.basis[order])
        rest = rest[np.argsort(order)]
    solved = solve_tracks(tracks, model.vertices, model.triangles, model.basis, model.basis_names, rest)
    tracks.arkit = Arkit(names=solved.names, shapes=solved.shapes.astype(np.float32), weights=solved.weights,
                         rest=solved.rest.astype(np.float32))
    tracks.provenance = {**tracks.provenance, "arkit": {"explained": round(solved.explained, 4),
                                                        "left_out": solved.left_out}}
    return tracks
