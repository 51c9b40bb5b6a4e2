"""Reading and validating the backend's files with the standard library only (the add-on never imports
the backend). Mirrors backend/core/tracks.py and docs/formats.md: same keys, same refusal of newer versions."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import AddonError

TRACKS_FORMAT = "talking-head-tracks"
TRACKS_VERSION = 2  # newest read and written; files without version-2 keys are written as 1
PROFILE_FORMAT = "talking-head-profile"
PROFILE_VERSION = 1
POSE_CHANNELS = ("rx", "ry", "rz", "tx", "ty", "tz")
LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
ARKIT_NAME = re.compile(r"^[a-z][A-Za-z0-9]{0,63}$")  # lower camelCase, as ARKit spells them


@dataclass
class LayerData:
    """A motion kept apart from speech (e.g. a blink): weight per frame in 0..1 times a basis-space shape."""

    weight: list[float]
    shape: list[float]


@dataclass
class ArkitData:
    """Expression as ARKit blendshape weights: rest + weights @ shapes approximates the expression."""

    names: list[str]
    shapes: list[list[float]]  # [N][K] basis coefficients per ARKit shape
    weights: list[list[float]]  # [T][N] in 0..1
    rest: list[float]  # [K] the face at all-zero weights


@dataclass
class TracksData:
    """A validated tracks document as plain lists (rows are frames)."""

    fps: float
    basis: list[str]
    expression: list[list[float]]
    pose: list[list[float]]
    profile_id: str
    face_model: str
    provenance: dict[str, Any] = field(default_factory=dict)
    audio: dict[str, Any] | None = None
    layers: dict[str, LayerData] = field(default_factory=dict)
    arkit: ArkitData | None = None

    @property
    def frame_count(self) -> int:
        return len(self.expression)

    @property
    def version(self) -> int:
        return 2 if self.layers or self.arkit is not None else 1

    def without_layers(self) -> list[list[float]]:
        """Expression rows with every layer's contribution taken out (what speech alone moves)."""
        rows = [list(row) for row in self.expression]
        for layer in self.layers.values():
            for row, w in zip(rows, layer.weight, strict=True):
                for k, s in enumerate(layer.shape):
                    row[k] -= w * s
        return rows

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": TRACKS_FORMAT,
            "version": self.version,
            "fps": float(self.fps),
            "frame_count": self.frame_count,
            "basis": list(self.basis),
            "profile_id": self.profile_id,
            "face_model": self.face_model,
            "pose_convention": "euler_xyz_rad+translation_m; head-local -> OpenGL camera frame",
            "expression": [[float(v) for v in row] for row in self.expression],
            "pose": [[float(v) for v in row] for row in self.pose],
            "provenance": self.provenance,
        }
        if self.audio is not None:
            data["audio"] = self.audio
        if self.layers:
            data["layers"] = {name: {"weight": [float(v) for v in layer.weight],
                                     "shape": [float(v) for v in layer.shape]}
                              for name, layer in self.layers.items()}
        if self.arkit is not None:
            data["arkit"] = {"names": list(self.arkit.names),
                             "shapes": [[float(v) for v in row] for row in self.arkit.shapes],
                             "weights": [[float(v) for v in row] for row in self.arkit.weights],
                             "rest": [float(v) for v in self.arkit.rest]}
        return data


def _bad(where: str, problem: str) -> AddonError:
    return AddonError(f"Invalid tracks file {where}: {problem}. Regenerate it with Talking Head "
                      "(Generate, or `talking-head animate`) rather than editing it by hand.")


def _version(data: dict[str, Any], expected_format: str, supported: int, what: str, where: str) -> None:
    if data.get("format") != expected_format:
        raise AddonError(f"{where} is not a Talking Head {what}: 'format' is {data.get('format')!r}, "
                         f"expected '{expected_format}'.")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise AddonError(f"{where}: {what} 'version' must be a positive integer, found {version!r}.")
    if version > supported:
        raise AddonError(f"{where} is a {what} of format version {version}, newer than this add-on "
                         f"understands ({supported}). Update the Talking Head add-on.")


def _matrix(value: Any, name: str, width: int, where: str) -> list[list[float]]:
    if not isinstance(value, list):
        raise _bad(where, f"'{name}' must be a list of rows")
    rows: list[list[float]] = []
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != width:
            raise _bad(where, f"'{name}' row {i} must hold {width} numbers")
        out = []
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise _bad(where, f"'{name}' row {i} holds {v!r}, not a finite number")
            out.append(float(v))
        rows.append(out)
    return rows


def tracks_from_dict(data: Any, where: str = "tracks") -> TracksData:
    """Validate a parsed tracks document strictly (same rules as backend.core.tracks.tracks_from_dict)."""
    if not isinstance(data, dict):
        raise _bad(where, "the top level must be a JSON object")
    _version(data, TRACKS_FORMAT, TRACKS_VERSION, "tracks file", where)
    for key in ("fps", "basis", "expression", "pose", "profile_id", "face_model"):
        if key not in data:
            raise _bad(where, f"missing key '{key}'")
    fps = data["fps"]
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or not 0 < fps <= 1000:
        raise _bad(where, f"'fps' must be a number in (0, 1000], found {fps!r}")
    basis = data["basis"]
    if not isinstance(basis, list) or not all(isinstance(b, str) and b for b in basis):
        raise _bad(where, "'basis' must be a list of non-empty names")
    if len(set(basis)) != len(basis):
        raise _bad(where, "'basis' names must be unique")
    expression = _matrix(data["expression"], "expression", len(basis), where)
    pose = _matrix(data["pose"], "pose", 6, where)
    if len(expression) != len(pose):
        raise _bad(where, f"'expression' has {len(expression)} frames but 'pose' has {len(pose)}")
    if not expression:
        raise _bad(where, "no frames")
    if "frame_count" in data and data["frame_count"] != len(expression):
        raise _bad(where, f"'frame_count' is {data['frame_count']} but there are {len(expression)} frames")
    if not isinstance(data["profile_id"], str) or not isinstance(data["face_model"], str):
        raise _bad(where, "'profile_id' and 'face_model' must be strings")
    provenance = data.get("provenance", {})
    if not isinstance(provenance, dict):
        raise _bad(where, "'provenance' must be an object")
    audio = data.get("audio")
    if audio is not None and not isinstance(audio, dict):
        raise _bad(where, "'audio' must be an object")
    layers = _layers(data.get("layers", {}), data["version"], len(expression), len(basis), where)
    arkit = _arkit(data.get("arkit"), data["version"], len(expression), len(basis), where)
    return TracksData(fps=float(fps), basis=list(basis), expression=expression, pose=pose,
                      profile_id=data["profile_id"], face_model=data["face_model"],
                      provenance=provenance, audio=audio, layers=layers, arkit=arkit)


def _arkit(value: Any, version: int, frames: int, width: int, where: str) -> ArkitData | None:
    """The optional version-2 'arkit' weights (same rules as backend.core.tracks)."""
    if value is None:
        return None
    if version < 2:
        raise _bad(where, "'arkit' needs format version 2")
    if not isinstance(value, dict) or set(value) != {"names", "shapes", "weights", "rest"}:
        raise _bad(where, "'arkit' must be an object with exactly 'names', 'shapes', 'weights' and 'rest'")
    names = value["names"]
    if not isinstance(names, list) or not all(isinstance(n, str) and ARKIT_NAME.match(n) for n in names):
        raise _bad(where, "'arkit.names' must be a list of lower-camelCase names (e.g. 'jawOpen')")
    if len(set(names)) != len(names):
        raise _bad(where, "'arkit.names' must be unique")
    if not names:
        raise _bad(where, "'arkit.names' is empty (leave 'arkit' out instead)")
    shapes = _matrix(value["shapes"], "arkit.shapes", width, where)
    if len(shapes) != len(names):
        raise _bad(where, f"'arkit.shapes' has {len(shapes)} rows for {len(names)} names")
    weights = _matrix(value["weights"], "arkit.weights", len(names), where)
    if len(weights) != frames:
        raise _bad(where, f"'arkit.weights' has {len(weights)} frames but 'expression' has {frames}")
    if any(w < 0.0 or w > 1.0 for row in weights for w in row):
        raise _bad(where, "'arkit.weights' must lie in 0..1")
    rest = _matrix([value["rest"]], "arkit.rest", width, where)[0]
    return ArkitData(names=list(names), shapes=shapes, weights=weights, rest=rest)


def _layers(value: Any, version: int, frames: int, width: int, where: str) -> dict[str, LayerData]:
    """The optional version-2 'layers' (same rules as backend.core.tracks)."""
    if not value:
        return {}
    if version < 2:
        raise _bad(where, "'layers' needs format version 2")
    if not isinstance(value, dict):
        raise _bad(where, "'layers' must be an object of name -> {weight, shape}")
    out: dict[str, LayerData] = {}
    for name, layer in value.items():
        if not LAYER_NAME.match(name):
            raise _bad(where, f"layer name {name!r} must be lower-case letters, digits and _")
        if not isinstance(layer, dict) or set(layer) != {"weight", "shape"}:
            raise _bad(where, f"layer '{name}' must be an object with exactly 'weight' and 'shape'")
        weight = _matrix([layer["weight"]], f"layers.{name}.weight", frames, where)[0]
        shape = _matrix([layer["shape"]], f"layers.{name}.shape", width, where)[0]
        if any(w < 0.0 or w > 1.0 for w in weight):
            raise _bad(where, f"'layers.{name}.weight' must lie in 0..1")
        out[name] = LayerData(weight=weight, shape=shape)
    return out


def _read_json(path: str, what: str) -> Any:
    if not os.path.isfile(path):
        raise AddonError(f"{what} not found: {path}. Check the path (or run Analyze/Generate first).")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AddonError(f"{what} {path} is not valid JSON ({exc}).") from None


def load_tracks(path: str) -> TracksData:
    return tracks_from_dict(_read_json(path, "Tracks file"), path)


def save_tracks(tracks: TracksData, path: str) -> str:
    """Write atomically (temp sibling + rename), after checking that what we write reads back."""
    data = tracks.to_dict()
    tracks_from_dict(json.loads(json.dumps(data)), path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, separators=(",", ":")) + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_manifest(profile_dir: str) -> dict[str, Any]:
    """Read and check a profile's manifest.json: format, version, basis names, frame size."""
    if not os.path.isdir(profile_dir):
        raise AddonError(f"Profile directory not found: {profile_dir}. Run Analyze on the target clip first.")
    path = os.path.join(profile_dir, "manifest.json")
    data = _read_json(path, "Profile manifest")
    if not isinstance(data, dict):
        raise AddonError(f"{path}: the top level must be a JSON object.")
    _version(data, PROFILE_FORMAT, PROFILE_VERSION, "profile", path)
    names = data.get("basis_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise AddonError(f"{path}: 'basis_names' must be a non-empty list of names. Re-run Analyze.")
    for key in ("width", "height"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise AddonError(f"{path}: '{key}' must be a positive integer. Re-run Analyze.")
    return data


def basis_order(tracks_basis: list[str], profile_basis: list[str], where: str) -> list[int]:
    """Column of each profile basis name in the tracks; the same names in another order are accepted."""
    if set(tracks_basis) != set(profile_basis) or len(tracks_basis) != len(profile_basis):
        missing = [n for n in profile_basis if n not in tracks_basis][:5]
        extra = [n for n in tracks_basis if n not in profile_basis][:5]
        raise AddonError(f"The tracks{' ' + where if where else ''} do not match the profile's expression basis "
                         f"({len(tracks_basis)} vs {len(profile_basis)} names; missing {missing}, "
                         f"unexpected {extra}). Use tracks generated for this profile.")
    index = {name: i for i, name in enumerate(tracks_basis)}
    return [index[name] for name in profile_basis]
