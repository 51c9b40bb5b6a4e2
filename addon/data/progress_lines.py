"""Progress lines for background mode (`blender -b`): what a farm script reads on stdout to tell a running
job from a hung one. Pure formatting and pacing; jobs.run_blocking prints them."""

from __future__ import annotations

from dataclasses import dataclass

HEARTBEAT_S = 5.0  # a line at least this often, even when nothing changed
PREFIX = "talking-head:"


def eta_text(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "ETA ?"
    s = int(round(seconds))
    return f"ETA {s // 60}:{s % 60:02d}"


def progress_line(title: str, fraction: float, stage: str, eta_s: float | None) -> str:
    """`talking-head: 42% Generate | Animate: predicting expression | ETA 0:12`."""
    pct = int(max(0.0, min(1.0, fraction)) * 100)
    return f"{PREFIX} {pct:3d}% {title} | {stage or 'starting'} | {eta_text(eta_s)}"


@dataclass
class LinePacer:
    """Says when to print: on a new stage, every 5 percentage points, and at least every HEARTBEAT_S."""

    last_stage: str = ""
    last_pct: int = -100
    last_time: float = -1e9

    def due(self, stage: str, fraction: float, now: float) -> bool:
        pct = int(fraction * 100)
        if stage != self.last_stage or pct >= self.last_pct + 5 or now - self.last_time >= HEARTBEAT_S:
            self.last_stage, self.last_pct, self.last_time = stage, pct, now
            return True
        return False


def overall_eta(fraction: float, elapsed_s: float, step_eta_s: float | None, last_step: bool) -> float | None:
    """Remaining seconds: the running step's own ETA when it is the last step, else the pace so far."""
    if step_eta_s is not None and (last_step or fraction <= 0.02):
        return float(step_eta_s)
    if fraction <= 0.02:
        return None
    return elapsed_s / fraction * (1.0 - fraction)
