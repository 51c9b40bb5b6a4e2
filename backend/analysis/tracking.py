"""Face tracking: MediaPipe FaceMesh in tracking mode (478 points), one consistent person, gaps filled.

Tracking mode and static mode disagree systematically (design.md 5b), so a profile is tracked in one mode
only. When several faces appear we keep the one nearest the previous pick (the largest at the start) and
say how often that happened. Gaps up to `max_gap_s` are filled by linear interpolation; longer gaps, or no
face at all, are refused with the frame ranges named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from backend.core.errors import UserError
from backend.core.native_logs import filtered_native_stderr
from backend.core.progress import QUIET, Progress
from backend.face.landmarks import N_TRACKED, inter_ocular


@dataclass
class TrackResult:
    landmarks: np.ndarray  # [T,478,3] px (x, y, z*width), MediaPipe axes
    valid: np.ndarray  # [T] bool: detected (False: interpolated)
    notes: list[str] = field(default_factory=list)


def frame_ranges(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) index ranges where mask is true."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    if not len(idx):
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def describe_ranges(ranges: list[tuple[int, int]], limit: int = 6) -> str:
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:limit]]
    more = f" and {len(ranges) - limit} more" if len(ranges) > limit else ""
    return ", ".join(parts) + more


class FaceTracker:
    """Wraps MediaPipe's legacy FaceMesh solution; feed frames in order."""

    def __init__(self, max_faces: int = 3, min_confidence: float = 0.5, static: bool = False) -> None:
        from mediapipe.python.solutions import face_mesh

        # `static`: detect afresh in every image (a photo; no tracking state to carry)
        self._mesh = face_mesh.FaceMesh(static_image_mode=static, max_num_faces=max_faces,
                                            refine_landmarks=True, min_detection_confidence=min_confidence,
                                            min_tracking_confidence=min_confidence)
        self._previous_centre: np.ndarray | None = None
        self.static = static
        self.multi_face_frames = 0
        self.faces_seen = 0  # faces in the last processed frame

    def all_faces(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Every face in one RGB uint8 frame as [478,3] px landmarks."""
        height, width = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        faces = [np.array([(p.x * width, p.y * height, p.z * width) for p in f.landmark], dtype=np.float32)
                 for f in result.multi_face_landmarks or []]
        return [c for c in faces if c.shape[0] == N_TRACKED]

    def process(self, rgb: np.ndarray) -> np.ndarray | None:
        """One RGB uint8 frame -> [478,3] px landmarks of the main face, or None."""
        candidates = self.all_faces(rgb)
        self.faces_seen = len(candidates)
        if not candidates:
            return None
        if len(candidates) > 1:
            self.multi_face_frames += 1
        if self._previous_centre is None or self.static:
            pick = max(candidates, key=lambda c: float(inter_ocular(c[:, :2])))
        else:
            pick = min(candidates, key=lambda c: float(np.linalg.norm(c[:, :2].mean(0) - self._previous_centre)))
        self._previous_centre = pick[:, :2].mean(0)
        return pick

    def close(self) -> None:
        self._mesh.close()


def fill_gaps(landmarks: np.ndarray, valid: np.ndarray, max_gap: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Linearly interpolate missing frames; returns the filled array and the gaps too long to fill."""
    out = landmarks.copy()
    too_long = []
    known = np.flatnonzero(valid)
    for start, end in frame_ranges(~valid):
        length = end - start + 1
        if length > max_gap:
            too_long.append((start, end))
            continue
        before = known[known < start]
        after = known[known > end]
        if len(before) and len(after):
            a, b = before[-1], after[0]
            w = ((np.arange(start, end + 1) - a) / (b - a))[:, None, None]
            out[start:end + 1] = (1 - w) * landmarks[a] + w * landmarks[b]
        else:  # gap at an end of the clip: hold the nearest tracked frame
            out[start:end + 1] = landmarks[before[-1] if len(before) else after[0]]
    return out, too_long


def track_frames(frames: Iterable[tuple[int, np.ndarray]], total: int, fps: float,
                 progress: Progress = QUIET, max_gap_s: float = 0.5) -> TrackResult:
    with filtered_native_stderr():
        return _track(frames, total, fps, progress, max_gap_s)


def _track(frames: Iterable[tuple[int, np.ndarray]], total: int, fps: float, progress: Progress,
           max_gap_s: float) -> TrackResult:
    tracker = FaceTracker()
    lms = np.full((total, N_TRACKED, 3), np.nan, dtype=np.float32)
    valid = np.zeros(total, dtype=bool)
    progress.stage("track faces", total)
    try:
        for index, rgb in frames:
            if index >= total:
                break
            found = tracker.process(rgb)
            if found is not None:
                lms[index], valid[index] = found, True
            progress.update(1)
    finally:
        tracker.close()
    if not valid.any():
        raise UserError("no usable face found in any frame of the clip",
                        hint="use a clip where one face is clearly visible, frontal-ish and at least ~60 px across")
    max_gap = max(1, int(round(max_gap_s * fps)))
    filled, too_long = fill_gaps(lms, valid, max_gap)
    if too_long:
        raise UserError(f"no usable face in frames {describe_ranges(too_long)} (longer than {max_gap_s} s; "
                        f"{int((~valid).sum())} of {total} frames have no face)",
                        hint="trim the clip to a part where the face is visible throughout")
    notes = []
    if tracker.multi_face_frames:
        notes.append(f"several faces in {tracker.multi_face_frames} frames: kept the main (largest, then "
                     "nearest) person")
    if (~valid).any():
        notes.append(f"filled {int((~valid).sum())} frames without a face by interpolation "
                     f"({describe_ranges(frame_ranges(~valid))})")
    return TrackResult(landmarks=filled, valid=valid, notes=notes)
