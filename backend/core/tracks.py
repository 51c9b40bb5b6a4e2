"""The tracks format: the contract between the backend and the Blender add-on.

A tracks file is JSON (UTF-8) with these keys (version 2; a file without version-2 keys is written as
version 1, so older readers keep reading it):

- ``format``: ``"talking-head-tracks"``; ``version``: 1 or 2 (readers refuse newer versions).
- ``fps``: frames per second (float > 0); ``frame_count``: T.
- ``basis``: K expression basis names; they name the face model's shape keys.
- ``expression``: T rows of K floats, coefficients of the profile's expression basis (unit: one standard
  deviation of the pooled training expressions; 0 is the person's average talking face).
- ``pose``: T rows of 6 floats ``[rx, ry, rz, tx, ty, tz]``: the head's rotation as Euler angles in
  radians applied in X, then Y, then Z order (R = Rz @ Ry @ Rx, Blender's 'XYZ' mode) and translation in
  metres, mapping head-local coordinates (x: image right, y: up, z: out of the face toward the camera)
  into the camera frame (OpenGL/Blender camera: x right, y up, looking down -z).
- ``profile_id``: the profile the coefficients belong to (its basis); ``face_model``: that model's id.
- ``provenance``: free-form dict: ``source`` (analyze, animate, blender...), software version, options.
- optional ``audio``: ``{"sha256": ..., "duration_s": ...}`` of the driving audio.
- optional ``layers`` (version 2): named motions kept apart from speech so an animator can key them on their
  own, e.g. ``{"blink": {"weight": [T floats in 0..1], "shape": [K floats]}}``. ``shape`` is the layer's
  full-strength displacement in basis coefficients; ``expression`` already *includes* ``weight * shape`` of
  every layer, so a reader that ignores layers shows the same face, and one that keys a layer separately
  subtracts it from ``expression`` first (`Tracks.without_layers`).
- optional ``arkit`` (version 2): the expression as ARKit-52 blendshape weights (`talking-head animate --rig
  arkit`, backend/face/arkit.py): ``{"names": [N lower-camelCase ARKit names], "shapes": [N rows of K floats],
  "weights": [T rows of N floats in 0..1], "rest": [K floats]}``. ``shapes`` are the ARKit shapes as basis
  combinations, ``rest`` the closed-mouth face the weights are relative to; ``expression`` stays the full
  truth (``rest + weights @ shapes`` approximates it; the add-on keys the difference on the PCA keys).

The file is only ever written through `save_tracks`, which validates and writes atomically.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.atomic import atomic_path
from backend.core.errors import UserError
from backend.core.numbers import OUTPUT_FPS, number_matrix, out_of_bounds

FORMAT = "talking-head-tracks"
VERSION = 2  # the newest version this software reads and writes
LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Plausibility bounds (far beyond any real face, well inside float32): analyze measures expressions within
# about +-6 standard deviations; a value of 1e6 would render a polygon across the frame, not a face.
EXPRESSION_LIMIT = 50.0  # basis units (standard deviations)
ROTATION_LIMIT = 100.0  # radians (unwrapped curves from Blender may exceed pi)
TRANSLATION_LIMIT = 100.0  # metres
ARKIT_NAME = re.compile(r"^[a-z][A-Za-z0-9]{0,63}$")  # lower camelCase, as ARKit spells them


@dataclass
class Layer:
    """A motion kept apart from speech (a blink): per-frame weight in 0..1 times a shape in basis units."""

    weight: np.ndarray  # [T] float32 in [0, 1]
    shape: np.ndarray  # [K] float32


@dataclass
class Arkit:
    """Expression as ARKit blendshape weights: rest + weights @ shapes approximates the expression."""

    names: list[str]
    shapes: np.ndarray  # [N, K] float32, basis coefficients per ARKit shape
    weights: np.ndarray  # [T, N] float32 in [0, 1]
    rest: np.ndarray  # [K] float32, the face at all-zero weights


POSE_CHANNELS = ("rx", "ry", "rz", "tx", "ty", "tz")


@dataclass
class Tracks:
    fps: float
    basis: list[str]
    expression: np.ndarray  # [T, K] float32
    pose: np.ndarray  # [T, 6] float32
    profile_id: str
    face_model: str
    provenance: dict[str, Any] = field(default_factory=dict)
    audio: dict[str, Any] | None = None
    layers: dict[str, Layer] = field(default_factory=dict)
    arkit: Arkit | None = None

    @property
    def version(self) -> int:
        """The lowest format version that holds everything here (1 unless version-2 keys are used)."""
        return 2 if self.layers or self.arkit is not None else 1

    def without_layers(self) -> np.ndarray:
        """[T, K] expression with every layer's contribution taken out (what speech alone moves)."""
        out = self.expression.astype(np.float32, copy=True)
        for layer in self.layers.values():
            out -= layer.weight[:, None] * layer.shape[None, :]
        return out

    @property
    def frame_count(self) -> int:
        return int(self.expression.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT,
            "version": self.version,
            "fps": float(self.fps),
            "frame_count": self.frame_count,
            "basis": list(self.basis),
            "profile_id": self.profile_id,
            "face_model": self.face_model,
            "pose_convention": "euler_xyz_rad+translation_m; head-local -> OpenGL camera frame",
            "expression": np.round(self.expression.astype(np.float64), 6).tolist(),
            "pose": np.round(self.pose.astype(np.float64), 7).tolist(),
            "provenance": self.provenance,
        }
        if self.audio is not None:
            data["audio"] = self.audio
        if self.layers:
            data["layers"] = {name: {"weight": np.round(layer.weight.astype(np.float64), 5).tolist(),
                                     "shape": np.round(layer.shape.astype(np.float64), 6).tolist()}
                              for name, layer in self.layers.items()}
        if self.arkit is not None:
            data["arkit"] = {"names": list(self.arkit.names),
                             "shapes": np.round(self.arkit.shapes.astype(np.float64), 6).tolist(),
                             "weights": np.round(self.arkit.weights.astype(np.float64), 5).tolist(),
                             "rest": np.round(self.arkit.rest.astype(np.float64), 6).tolist()}
        return data


def _fail(where: str, problem: str) -> UserError:
    return UserError(f"invalid tracks file {where}: {problem}",
                     hint="tracks files are written by `talking-head animate`/`analyze` or the Blender add-on's "
                          "bake; regenerate it rather than editing by hand")


def tracks_from_dict(data: Any, where: str = "") -> Tracks:
    """Validate a parsed tracks document strictly and return it as arrays."""
    if not isinstance(data, dict):
        raise _fail(where, "the top level must be a JSON object")
    if data.get("format") != FORMAT:
        raise _fail(where, f"'format' must be '{FORMAT}', found {data.get('format')!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(where, "'version' must be an integer")
    if version > VERSION:
        raise UserError(f"tracks file {where} has format version {version}, newer than this software "
                        f"understands ({VERSION})", hint="update Talking Head (backend and add-on)")
    if version < 1:
        raise _fail(where, f"unknown version {version}")
    for key in ("fps", "basis", "expression", "pose", "profile_id", "face_model"):
        if key not in data:
            raise _fail(where, f"missing key '{key}'")
    fps = data["fps"]
    if OUTPUT_FPS.problem(fps):
        raise _fail(where, f"'fps' must be a number in (0, 1000], found {fps!r}")
    basis = data["basis"]
    if not isinstance(basis, list) or not all(isinstance(b, str) and b for b in basis):
        raise _fail(where, "'basis' must be a list of non-empty names")
    if len(set(basis)) != len(basis):
        raise _fail(where, "'basis' names must be unique")
    expression = _matrix(data["expression"], "expression", len(basis), where)
    pose = _matrix(data["pose"], "pose", 6, where)
    if expression.shape[0] != pose.shape[0]:
        raise _fail(where, f"'expression' has {expression.shape[0]} frames but 'pose' has {pose.shape[0]}")
    if expression.shape[0] == 0:
        raise _fail(where, "no frames")
    _check_bounds(expression, "'expression'", EXPRESSION_LIMIT, "basis units", where)
    _check_bounds(pose[:, :3], "'pose' rotation (rx, ry, rz)", ROTATION_LIMIT, "radians", where)
    _check_bounds(pose[:, 3:], "'pose' translation (tx, ty, tz)", TRANSLATION_LIMIT, "metres", where)
    frame_count = data.get("frame_count", expression.shape[0])
    if isinstance(frame_count, bool) or frame_count != expression.shape[0]:
        raise _fail(where, f"'frame_count' is {data['frame_count']} but there are {expression.shape[0]} frames")
    if not isinstance(data["profile_id"], str) or not isinstance(data["face_model"], str):
        raise _fail(where, "'profile_id' and 'face_model' must be strings")
    provenance = data.get("provenance", {})
    if not isinstance(provenance, dict):
        raise _fail(where, "'provenance' must be an object")
    audio = data.get("audio")
    if audio is not None and not isinstance(audio, dict):
        raise _fail(where, "'audio' must be an object")
    layers = _layers(data.get("layers", {}), version, expression.shape[0], len(basis), where)
    arkit = _arkit(data.get("arkit"), version, expression.shape[0], len(basis), where)
    return Tracks(fps=float(fps), basis=list(basis), expression=expression, pose=pose,
                  profile_id=data["profile_id"], face_model=data["face_model"], provenance=provenance,
                  audio=audio, layers=layers, arkit=arkit)


def _arkit(value: Any, version: int, frames: int, width: int, where: str) -> Arkit | None:
    """The optional version-2 'arkit' weights (same rules as addon/data/formats.py)."""
    if value is None:
        return None
    if version < 2:
        raise _fail(where, "'arkit' needs format version 2")
    if not isinstance(value, dict) or set(value) != {"names", "shapes", "weights", "rest"}:
        raise _fail(where, "'arkit' must be an object with exactly 'names', 'shapes', 'weights' and 'rest'")
    names = value["names"]
    if not isinstance(names, list) or not all(isinstance(n, str) and ARKIT_NAME.match(n) for n in names):
        raise _fail(where, "'arkit.names' must be a list of lower-camelCase names (e.g. 'jawOpen')")
    if len(set(names)) != len(names):
        raise _fail(where, "'arkit.names' must be unique")
    if not names:
        raise _fail(where, "'arkit.names' is empty (leave 'arkit' out instead)")
    shapes = _matrix(value["shapes"], "arkit.shapes", width, where)
    if len(shapes) != len(names):
        raise _fail(where, f"'arkit.shapes' has {len(shapes)} rows for {len(names)} names")
    weights = _matrix(value["weights"], "arkit.weights", len(names), where)
    if len(weights) != frames:
        raise _fail(where, f"'arkit.weights' has {len(weights)} frames but 'expression' has {frames}")
    if weights.size and (weights.min() < 0.0 or weights.max() > 1.0):
        raise _fail(where, "'arkit.weights' must lie in 0..1")
    rest = _matrix([value["rest"]], "arkit.rest", width, where)[0]
    return Arkit(names=list(names), shapes=shapes, weights=weights, rest=rest)


def _layers(value: Any, version: int, frames: int, width: int, where: str) -> dict[str, Layer]:
    if not value:
        return {}
    if version < 2:
        raise _fail(where, "'layers' needs format version 2")
    if not isinstance(value, dict):
        raise _fail(where, "'layers' must be an object of name -> {weight, shape}")
    out: dict[str, Layer] = {}
    for name, layer in value.items():
        if not LAYER_NAME.match(name):
            raise _fail(where, f"layer name {name!r} must be lower-case letters, digits and _")
        if not isinstance(layer, dict) or set(layer) != {"weight", "shape"}:
            raise _fail(where, f"layer '{name}' must be an object with exactly 'weight' and 'shape'")
        weight = _matrix([layer["weight"]], f"layers.{name}.weight", frames, where)[0]
        shape = _matrix([layer["shape"]], f"layers.{name}.shape", width, where)[0]
        _check_bounds(shape[None], f"'layers.{name}.shape'", EXPRESSION_LIMIT, "basis units", where)
        if weight.min(initial=0.0) < 0.0 or weight.max(initial=0.0) > 1.0:
            raise _fail(where, f"'layers.{name}.weight' must lie in 0..1")
        out[name] = Layer(weight=weight, shape=shape)
    return out


def _matrix(value: Any, name: str, width: int, where: str) -> np.ndarray:
    """T rows of `width` strict numbers (backend.core.numbers) as float32; [] is 0 rows."""
    if isinstance(value, list) and not value:
        return np.zeros((0, width), np.float32)
    arr, problem = number_matrix(value, width)
    if arr is None:
        raise _fail(where, f"'{name}' {problem}")
    return arr


def _check_bounds(arr: np.ndarray, name: str, limit: float, unit: str, where: str) -> None:
    frame = out_of_bounds(arr, limit)
    if frame is not None:
        raise _fail(where, f"{name} holds a value beyond +-{limit:g} {unit} (first at frame {frame}); no real "
                           "face moves that far")


def load_tracks(path: str | os.PathLike[str]) -> Tracks:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"tracks file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(str(path), f"not valid JSON ({exc})") from None
    return tracks_from_dict(data, str(path))


def save_tracks(tracks: Tracks, path: str | os.PathLike[str]) -> Path:
    data = tracks.to_dict()
    tracks_from_dict(json.loads(json.dumps(data)), str(path))  # never write what we could not read back
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    return path
