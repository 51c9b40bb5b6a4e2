"""Who is in a training folder: one person key per clip, the leave-out split, the sampling weights and the
people-balanced sample the feature and loss statistics are computed on.

A leave-out evaluation is only honest when the general model never saw the *person* (not just the clip):
feifei1/2/3 are one woman, GRID's 1000 sentences one man. The key is read from the file name:

- a name with a duration token (`noem_18s_256`, `feifei2_15s_256`) -> what comes before it, trailing digits
  dropped (`noem`, `feifei`): clips of one person numbered 1, 2, 3 fall together. This over-merges at worst
  (`hdtf_radio2` and `hdtf_radio34` become `hdtf_radio`), which only removes more from the training side;
- a name without one (GRID's `bbaf2n`) -> its folder (`grid_s1`): a corpus folder is one speaker.

Sampling weights: each person's share of the training crops grows with the square root of their frames, and
no person weighs more than CAP_OVER_MEDIAN times the median person. The square root alone still gives the 50
minutes of the single GRID speaker about 35 % of every batch against 20 people of ~15 s each (90 % of the
frames without it); the cap holds it near 9 % whatever share of the folder it is. Within a person, clips are
drawn by length. The shipped model's 26 people are under the cap (largest 2.95x the median), so the cap does
not change its recipe.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

CAP_OVER_MEDIAN = 3.0  # most weight of one person, in median persons
T = TypeVar("T")
_DURATION = re.compile(r"^(?P<who>.+?)_\d+(?:\.\d+)?s(?:_|$)")


def person_of(path: str | Path) -> str:
    """The person key of a clip or profile path (module docstring)."""
    p = Path(path)
    stem = p.stem
    m = _DURATION.match(stem)
    if m:
        return re.sub(r"(?<=[A-Za-z])\d+$", "", m.group("who"))
    return p.parent.name or stem


def leave_out(paths: Sequence[Path], people: Iterable[str], key=person_of) -> tuple[list[Path], list[Path]]:
    """(training side, left-out side): every clip of a person matching one of `people` (globs over person
    keys or clip names) is left out, with all other clips of that same person."""
    pats = list(people)
    out_people = {key(p) for p in paths if any(fnmatch.fnmatch(key(p), x) or fnmatch.fnmatch(Path(p).name, x)
                                              for x in pats)}
    train = [p for p in paths if key(p) not in out_people]
    held = [p for p in paths if key(p) in out_people]
    return train, held


def sampling_weights(people: Sequence[str], frames: Sequence[int]) -> list[float]:
    """Per-clip sampling weight: person share proportional to sqrt(person's frames), capped at CAP_OVER_MEDIAN
    times the median person's, split by clip length."""
    totals: dict[str, int] = {}
    for who, n in zip(people, frames, strict=True):
        totals[who] = totals.get(who, 0) + max(1, int(n))
    root = {who: n ** 0.5 for who, n in totals.items()}
    cap = CAP_OVER_MEDIAN * float(np.median(list(root.values())))
    share = {who: min(r, cap) for who, r in root.items()}
    return [max(1, int(n)) * share[who] / totals[who] for who, n in zip(people, frames, strict=True)]


def spread_over_people(items: Sequence[T], people: Sequence[str], n: int) -> list[T]:
    """Up to n items taken in turns across people (each person's first item, then their second, ...), in the
    given order within a person: a statistics sample in which 1000 sentences of one speaker count as one
    person, not as 97 % of the sample."""
    queues: dict[str, list[T]] = {}
    for item, who in zip(items, people, strict=True):
        queues.setdefault(who, []).append(item)
    picked: list[T] = []
    depth = 0
    while len(picked) < n and any(depth < len(q) for q in queues.values()):
        picked += [q[depth] for q in queues.values() if depth < len(q)][: n - len(picked)]
        depth += 1
    return picked
