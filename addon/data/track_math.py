"""Pure conversions between tracks (rows at the tracks' fps) and keyframes (rows at the scene's fps).

No bpy and no numpy here, so all of it is tested without Blender (the split glTF-Blender-IO uses)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

ANGLE_COLUMNS = (0, 1, 2)  # rx, ry, rz of a pose row


def unwrap(rows: Sequence[Sequence[float]], columns: Iterable[int] = ANGLE_COLUMNS) -> list[list[float]]:
    """Remove 2*pi jumps along time in the given columns, so interpolation never spins the long way round."""
    out = [list(r) for r in rows]
    cols = tuple(columns)
    for i in range(1, len(out)):
        for c in cols:
            delta = out[i][c] - out[i - 1][c]
            if abs(delta) > math.pi:
                out[i][c] -= 2 * math.pi * round(delta / (2 * math.pi))
    return out


def resampled_count(count: int, src_fps: float, dst_fps: float) -> int:
    """Frames at dst_fps that cover the same time span as `count` frames at src_fps (last frame included)."""
    if count <= 1 or src_fps == dst_fps:
        return count
    # a tiny epsilon so that exact multiples (e.g. 24 -> 48) are not lost to float rounding
    return int(math.floor((count - 1) * dst_fps / src_fps + 1e-9)) + 1


def resample(rows: Sequence[Sequence[float]], src_fps: float, dst_fps: float) -> list[list[float]]:
    """Linearly interpolate rows sampled at src_fps onto dst_fps (row j sits at time j / dst_fps).

    Equal rates return a copy unchanged, so no precision is lost in the common case."""
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError("frame rates must be positive")
    if src_fps == dst_fps or len(rows) <= 1:
        return [list(r) for r in rows]
    last = len(rows) - 1
    out: list[list[float]] = []
    for j in range(resampled_count(len(rows), src_fps, dst_fps)):
        s = min(j * src_fps / dst_fps, float(last))
        i = min(int(math.floor(s)), last - 1)
        w = s - i
        a, b = rows[i], rows[i + 1]
        out.append([x + (y - x) * w for x, y in zip(a, b, strict=True)])
    return out


def resample_pose(pose: Sequence[Sequence[float]], src_fps: float, dst_fps: float) -> list[list[float]]:
    """Unwrap the Euler angles, then resample: the head never flips between two frames."""
    return resample(unwrap(pose), src_fps, dst_fps)


def source_frame_positions(count: int, src_fps: float, dst_fps: float, start_frame: float) -> list[float]:
    """Scene frame (possibly fractional) at which each of `count` source frames falls."""
    return [start_frame + i * dst_fps / src_fps for i in range(count)]


_TAKE_RE = re.compile(r"^TH_take_(\d{3,})_")


def next_take_number(action_names: Iterable[str]) -> int:
    """One more than the highest 'TH_take_NNN_...' already present (1 when there is none)."""
    numbers = [int(m.group(1)) for n in action_names if (m := _TAKE_RE.match(n))]
    return max(numbers, default=0) + 1


def take_action_names(number: int) -> tuple[str, str]:
    """(shape-key action, head pose action) names of take `number`."""
    return f"TH_take_{number:03d}_shapes", f"TH_take_{number:03d}_pose"


def scene_fps(fps: int, fps_base: float) -> float:
    return fps / fps_base
