"""Evaluation and benchmarks over whole stages: `evaluate` (talking-head eval: split a clip, personalize
on its head, animate and render the rest, compare with the real frames), `bench` (talking-head bench: wall,
CPU and peak memory per stage), and their pieces (split, video metrics, re-tracked landmarks, identity,
machine info, memory meter, plots, report). Sits above every stage; no stage imports it.
"""

from __future__ import annotations

from backend.core.lazy import lazy_exports

_EXPORTS = {
    "evaluate": "protocol",
    "bench": "benchmark",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
