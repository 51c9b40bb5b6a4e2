"""Figures of the eval report: motion curves (eval-motion's plot), mouth opening measured on the videos, and a
frame strip real | coarse | refined (missing until the refiner exists)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from backend.core.atomic import atomic_path
from backend.eval.landmarks import mouth_opening_px
from backend.motion.data import MotionClip
from backend.motion.evaluation import plot_eval

STRIP_ROWS = 4
STRIP_COLUMNS = ("real", "coarse_fitted_pose", "coarse_predicted_pose", "refined_fitted_pose")


def write_plots(out_dir: Path, report: dict, truth: MotionClip, expr: np.ndarray, true_expr: np.ndarray,
                pose: np.ndarray, true_pose: np.ndarray, fps: float, offset: int, real: np.ndarray,
                videos: dict[str, np.ndarray], landmarks: dict[str, np.ndarray]) -> dict[str, str]:
    plot_eval(truth.mouth.opening(expr), truth.mouth.opening(true_expr), pose, true_pose, fps, offset,
              out_dir / "motion.png", report)
    plot_video_mouth(landmarks, fps, offset, out_dir / "mouth_video.png")
    frame_strip(real, videos, out_dir / "strip.png")
    return {"motion": "motion.png", "mouth_video": "mouth_video.png", "strip": "strip.png"}


def plot_video_mouth(landmarks: dict[str, np.ndarray], fps: float, offset: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3), dpi=90)
    for name, lm in landmarks.items():
        t = (offset + np.arange(len(lm))) / fps
        ax.plot(t, mouth_opening_px(lm), lw=1.4 if name == "real" else 1, label=name,
                color="k" if name == "real" else None)
    ax.set_xlabel("time in the clip (s)")
    ax.set_ylabel("inner-lip opening (px at 256)")
    ax.set_title("mouth opening re-tracked on the videos (gaps: no face found)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _missing_tile(size: int) -> np.ndarray:
    tile = np.full((size, size, 3), 60, np.uint8)
    for k, text in enumerate(("refined:", "missing", "(--no-refiner)")):
        cv2.putText(tile, text, (12, size // 2 - 20 + 28 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (230, 230, 230), 2)
    return tile


def frame_strip(real: np.ndarray, videos: dict[str, np.ndarray], path: Path) -> None:
    """Rows: evenly spread held-out frames; columns: STRIP_COLUMNS (a grey 'missing' tile when absent)."""
    size = real.shape[1]
    rows = np.unique(np.linspace(0, len(real) - 1, STRIP_ROWS + 2).round().astype(int)[1:-1])
    sources = {"real": real, **videos}
    header = np.full((28, size * len(STRIP_COLUMNS), 3), 255, np.uint8)
    for c, name in enumerate(STRIP_COLUMNS):
        cv2.putText(header, name, (c * size + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    lines = [header]
    for i in rows:
        tiles = [sources[name][i] if name in sources and i < len(sources[name]) else _missing_tile(size)
                 for name in STRIP_COLUMNS]
        lines.append(np.concatenate(tiles, axis=1))
    image = np.concatenate(lines, axis=0)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
