"""Shared pieces every layer may use, and nothing else: user-facing errors (`UserError`: message + hint,
exit code 2), progress reporting (`Progress`: tqdm bars, JSON lines or a callback with a cancel hook), atomic
outputs (`atomic_path`, `atomic_dir`, `write_json`: write a temporary sibling, then rename), the filter for
native libraries' stderr chatter, lazy package exports, and the tracks file (`Tracks`, `load_tracks`,
`save_tracks`): the contract between the backend, the add-on and every exporter (docs/formats.md).

The lowest layer: it imports no other backend package.
"""

from __future__ import annotations

from backend.core.lazy import lazy_exports

_EXPORTS = {
    "UserError": "errors",
    "Progress": "progress",
    "Cancelled": "progress",
    "QUIET": "progress",
    "atomic_path": "atomic",
    "atomic_dir": "atomic",
    "write_json": "atomic",
    "filtered_native_stderr": "native_logs",
    "Tracks": "tracks",
    "load_tracks": "tracks",
    "save_tracks": "tracks",
    "POSE_CHANNELS": "tracks",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
