"""Shape-key mapping presets for retargeting onto a user's character: JSON files mapping our ARKit (or PCA)
key names to the character's own names, e.g. {"format": "talking-head-keymap", "version": 1,
"map": {"jawOpen": "Jaw_Open", "eyeBlinkLeft": "Blink_L"}}; a value may also be {"name": ..., "scale": 0.8}.
Without a preset, keys of the same name are matched (ARKit rigs: CC4, VRoid, ReadyPlayerMe, Faceit)."""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import AddonError

FORMAT = "talking-head-keymap"


def load_keymap(path: str) -> dict[str, tuple[str, float]]:
    """source name -> (target name, scale)."""
    if not os.path.isfile(path):
        raise AddonError(f"Key map not found: {path}. Pick a .json mapping preset.")
    try:
        with open(path, encoding="utf-8") as fh:
            data: Any = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AddonError(f"Key map {path} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("map"), dict):
        raise AddonError(f"{path} is not a Talking Head key map: expected {{\"format\": \"{FORMAT}\", "
                         "\"version\": 1, \"map\": {\"jawOpen\": \"YourJawKey\", ...}}.")
    if data.get("version", 1) != 1:
        raise AddonError(f"{path}: key map version {data.get('version')!r} is newer than this add-on reads (1).")
    out: dict[str, tuple[str, float]] = {}
    for src, dst in data["map"].items():
        if isinstance(dst, str):
            if dst:  # "" leaves that key unmapped
                out[src] = (dst, 1.0)
        elif isinstance(dst, dict) and isinstance(dst.get("name"), str) and isinstance(dst.get("scale", 1.0),
                                                                                       (int, float)):
            out[src] = (dst["name"], float(dst.get("scale", 1.0)))
        else:
            raise AddonError(f"{path}: map entry {src!r} must be a key name or {{\"name\": ..., \"scale\": ...}}.")
    return out


def save_keymap(mapping: dict[str, tuple[str, float]], path: str) -> str:
    data = {"format": FORMAT, "version": 1,
            "map": {s: (d if k == 1.0 else {"name": d, "scale": k}) for s, (d, k) in mapping.items()}}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
    return path


def match(source: list[str], target: list[str], mapping: dict[str, tuple[str, float]] | None = None
          ) -> dict[str, tuple[str, float]]:
    """source key -> (target key, scale) for every source key that has a target (mapped, else same name,
    else case-insensitive)."""
    lower = {t.lower(): t for t in target}
    out = {}
    for name in source:
        if mapping and name in mapping:
            if mapping[name][0] in target:
                out[name] = mapping[name]
        elif name in target:
            out[name] = (name, 1.0)
        elif name.lower() in lower:
            out[name] = (lower[name.lower()], 1.0)
    return out
