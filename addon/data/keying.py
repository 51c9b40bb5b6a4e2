"""Which shape keys a take keys, with what values: the PCA keys, a layer's own key (e.g. "blink"), the ARKit
keys; and the way back (bake). Pure numpy, so it is tested without Blender.

Every keyed column is a shape key whose displacement is a combination of the basis (`shape`, K profile-order
coefficients; a PCA key is a unit vector). The face at a frame is therefore
    rest + sum over columns of value * shape
where `rest` is the rig's Basis expression (the ARKit rest face on an ARKit rig, else 0). The PCA keys carry
whatever the other columns do not explain (the residual), so the face is exactly the tracks' expression in
every mode, and baking sums the columns back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formats import TracksData

MODES = ("PCA", "ARKIT")


@dataclass
class Column:
    name: str
    values: np.ndarray  # [T] at the tracks' fps
    shape: np.ndarray | None  # [K] profile-order basis coefficients; None: the PCA key of that name
    slider: tuple[float, float]


@dataclass
class Plan:
    columns: list[Column]
    notes: list[str]
    mode: str  # the mode actually keyed ("ARKIT" falls back to "PCA" without ARKit weights)


def plan_columns(tracks: TracksData, profile_basis: list[str], order: list[int], mode: str, rest: np.ndarray,
                 pca_range: float) -> Plan:
    """Columns to key for `tracks` (`order`: tracks column of each profile basis name)."""
    expression = np.asarray(tracks.expression, dtype=np.float64)[:, order]
    notes: list[str] = []
    extra: list[Column] = []
    if mode == "ARKIT" and tracks.arkit is None:
        notes.append("these tracks have no ARKit weights (animate with --rig arkit): keyed on the PCA keys")
        mode = "PCA"
    if mode == "ARKIT":
        assert tracks.arkit is not None
        shapes = np.asarray(tracks.arkit.shapes, dtype=np.float64)[:, order]
        weights = np.asarray(tracks.arkit.weights, dtype=np.float64)
        extra = [Column(n, weights[:, i], shapes[i], (0.0, 1.0)) for i, n in enumerate(tracks.arkit.names)]
    else:
        for name, layer in tracks.layers.items():
            extra.append(Column(name, np.asarray(layer.weight, np.float64),
                                np.asarray(layer.shape, np.float64)[order], (0.0, 1.0)))
    residual = expression - rest[None, :]
    for col in extra:
        assert col.shape is not None
        residual = residual - col.values[:, None] * col.shape[None, :]
    pca = [Column(n, residual[:, k], None, (-pca_range, pca_range)) for k, n in enumerate(profile_basis)]
    return Plan(columns=pca + extra, notes=notes, mode=mode)


def combine(values: dict[str, np.ndarray], shapes: dict[str, list[float]], profile_basis: list[str],
            rest: np.ndarray, frames: int) -> np.ndarray:
    """[T, K] profile-order expression from column values (the inverse of plan_columns)."""
    out = np.tile(np.asarray(rest, np.float64), (frames, 1))
    for k, name in enumerate(profile_basis):
        if name in values:
            out[:, k] += values[name]
    for name, shape in shapes.items():
        if name in values:
            out += values[name][:, None] * np.asarray(shape, np.float64)[None, :]
    return out
