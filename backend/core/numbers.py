"""One validation of numbers for the CLI, the service and the tracks file.

A number is a real JSON/Python number: an int or a float, never a bool or a numeric string; it is finite,
and it fits float32 (every stage computes in float32, so a float64 1e300 that passes a float64 finite check
becomes +inf after the cast). Each option the CLI and the service share has one `Range` here, so the two
can never disagree on what they accept (e.g. --expression-scale and the service's expression_scale).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

F32_MAX = float(np.finfo(np.float32).max)


def is_number(value: Any) -> bool:
    """True for an int or float (not a bool, not a string)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def number_problem(value: Any, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                   integer: bool = False) -> str | None:
    """What is wrong with `value` as a number in [lo, hi] (or (lo, hi] with lo_open), or None when it is fine."""
    if not is_number(value) or (integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        return f"must be {kind}, found {type(value).__name__} {value!r}"
    v = float(value)
    if not math.isfinite(v):
        return f"must be a finite number, found {value!r}"
    if abs(v) > F32_MAX:
        return f"must fit a 32-bit float (|x| <= {F32_MAX:.3g}), found {value!r}"
    if (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi):
        return f"must be {_bounds(lo, hi, lo_open)}, found {value!r}"
    return None


def _bounds(lo: float | None, hi: float | None, lo_open: bool) -> str:
    def num(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:g}"

    if lo is not None and hi is not None:
        return f"between {num(lo)} and {num(hi)}" + (f" (more than {num(lo)})" if lo_open else "")
    if lo is not None:
        return f"{'>' if lo_open else '>='} {num(lo)}"
    return f"<= {num(hi)}"  # type: ignore[arg-type]


@dataclass(frozen=True)
class Range:
    """An option's accepted values: [lo, hi] (lo excluded with lo_open), integers only with `integer`."""

    lo: float | None
    hi: float | None
    lo_open: bool = False
    integer: bool = False

    def problem(self, value: Any) -> str | None:
        return number_problem(value, self.lo, self.hi, lo_open=self.lo_open, integer=self.integer)

    def argparse_type(self):
        """An argparse `type=` that parses the text and applies this range (argparse names the option)."""
        def parse(text: str) -> float | int:
            try:
                value: float | int = int(text) if self.integer else float(text)
            except ValueError:
                kind = "an integer" if self.integer else "a number"
                raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
            problem = self.problem(value)
            if problem:
                raise argparse.ArgumentTypeError(problem.replace(f"found {value!r}", f"got {text!r}"))
            return value

        return parse

    def field(self) -> dict[str, Any]:
        """Pydantic Field keywords: the bounds, no NaN/inf, and strict (no numeric strings or booleans)."""
        bounds: dict[str, Any] = {"strict": True}
        if not self.integer:
            bounds["allow_inf_nan"] = False
        if self.lo is not None:
            bounds["gt" if self.lo_open else "ge"] = self.lo
        if self.hi is not None:
            bounds["le"] = self.hi
        return bounds


# Options shared by the CLI and the service (one definition each).
ANALYZE_FPS = Range(1, 120)
OUTPUT_FPS = Range(0, 1000, lo_open=True)
SMOOTHING = Range(0, 10)
EXPRESSION_SCALE = Range(0, 5)
SEED = Range(0, 2**32 - 1, integer=True)
POSITIVE_INT = Range(1, None, integer=True)
PORT = Range(0, 65535, integer=True)
UPLOAD_MB = Range(0, 1 << 30, lo_open=True)
KEEP_DAYS = Range(0, 36500)


def number_matrix(value: Any, width: int) -> tuple[np.ndarray | None, str | None]:
    """A list of equal rows of `width` strict numbers as float32, or (None, what is wrong).

    Checked element by element in Python first (no bools, no strings), then the magnitude in float64, so a
    value beyond float32 is refused instead of silently becoming infinity."""
    if not isinstance(value, list):
        return None, "must be a list of rows"
    for t, row in enumerate(value):
        if not isinstance(row, list):
            return None, f"must be a list of rows (frame {t} is {type(row).__name__})"
        if len(row) != width:
            return None, f"must be T rows of {width} numbers (frame {t} has {len(row)})"
        for v in row:
            if not is_number(v):
                return None, f"must hold only numbers (frame {t} holds {type(v).__name__} {v!r})"
    arr = np.asarray(value, dtype=np.float64).reshape(len(value), width)
    bad = ~np.isfinite(arr) | (np.abs(arr) > F32_MAX)
    if bad.any():
        t = int(np.argwhere(bad)[0][0])
        return None, f"holds NaN, infinity or a value beyond 32-bit float range (first at frame {t})"
    return arr.astype(np.float32), None


def out_of_bounds(arr: np.ndarray, bound: float) -> int | None:
    """The first frame (row) holding a value with |x| > bound, or None."""
    bad = np.abs(arr) > bound
    return int(np.argwhere(bad)[0][0]) if bad.any() else None
