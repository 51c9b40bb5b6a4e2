"""Running a trained refiner over the video path's frames: a window of 3 frames per output frame, so each
frame comes out one frame late (`RefineStream.push` returns what became ready; `flush` the rest)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from backend.render.face import single_thread
from backend.render.refine.checkpoint import Refiner
from backend.render.refine.inputs import FrameInput, frame_input, key_vector
from backend.render.refine.memory import Memory
from backend.render.refine.network import Generator, blend


def window_planes(frames: Sequence[FrameInput], centre: Sequence[int]) -> np.ndarray:
    """[B, 3*6, R, R] uint8: the planes of frames c-1, c, c+1 for each centre c (clamped at the ends)."""
    last = len(frames) - 1
    return np.stack([np.concatenate([frames[min(max(c + d, 0), last)].planes for d in (-1, 0, 1)])
                     for c in centre])


def network_input(planes: np.ndarray, memory_planes: np.ndarray | None) -> torch.Tensor:
    """uint8 window planes [B,18,R,R] + the memory's read [B,3,R,R] (zeros without a memory) -> float input."""
    x = torch.from_numpy(np.ascontiguousarray(planes)).float() / 255.0
    if memory_planes is None:
        mem = torch.zeros(x.shape[0], 3, *x.shape[-2:])
    else:
        mem = torch.from_numpy(np.ascontiguousarray(memory_planes, dtype=np.float32))
    return torch.cat([x, mem], 1)


def read_memory(memory: Memory, keys: np.ndarray, use: bool, k: int, exclude: np.ndarray | None = None,
                radius: int = 0) -> np.ndarray | None:
    return memory.read(keys, k, exclude, radius) if use else None


@torch.no_grad()
def refine(generator: Generator, x: torch.Tensor, coarse: np.ndarray) -> np.ndarray:
    """Network input [B,C,R,R] + coarse composites [B,S,S,3] uint8 -> refined [B,S,S,3] uint8."""
    device = next(generator.parameters()).device
    c = torch.from_numpy(np.ascontiguousarray(coarse)).to(device).permute(0, 3, 1, 2).float() / 255.0
    colour, attention = generator(x.to(device))
    out = blend(colour.float(), attention.float(), c)
    return (out.clamp(0, 1) * 255 + 0.5).byte().permute(0, 2, 3, 1).cpu().numpy()


class RefineStream:
    """Feed coarse frames in output order; get refined frames (with their payloads) back in order."""

    def __init__(self, refiner: Refiner, batch: int = 8) -> None:
        self.refiner = refiner
        self.batch = batch
        self.frames: list[FrameInput] = []  # frame before the pending ones (context) + pending frames
        self.keys: list[np.ndarray] = []
        self.payloads: list[Any] = []
        self.has_context = False

    def push(self, composite: np.ndarray, mask: np.ndarray, cavity: np.ndarray, expression: np.ndarray,
             pose: np.ndarray, payload: Any = None) -> list[tuple[np.ndarray, Any]]:
        cfg = self.refiner.config
        fi = frame_input(composite, mask, cavity, cfg.net_size, blank_holes=not cfg.inlays)
        self.frames.append(fi)
        self.keys.append(key_vector(np.asarray(expression)[None], np.asarray(pose)[None], fi.key_extra[None])[0])
        self.payloads.append(payload)
        pending = len(self.frames) - int(self.has_context)
        return self._run(self.batch) if pending > self.batch else []

    def flush(self) -> list[tuple[np.ndarray, Any]]:
        out: list[tuple[np.ndarray, Any]] = []
        while len(self.frames) - int(self.has_context) > 0:
            out += self._run(self.batch, final=True)
        return out

    def _run(self, count: int, final: bool = False) -> list[tuple[np.ndarray, Any]]:
        first = int(self.has_context)
        pending = len(self.frames) - first
        n = min(count, pending if final else pending - 1)
        centre = list(range(first, first + n))
        cfg = self.refiner.config
        keys = np.stack([self.keys[c] for c in centre])
        x = network_input(window_planes(self.frames, centre),
                          read_memory(self.refiner.memory, keys, cfg.memory, cfg.top_k))
        with single_thread():  # as the rasterizer: one thread is faster on a shared 2-core machine
            images = refine(self.refiner.generator, x, np.stack([self.frames[c].coarse for c in centre]))
        out = [(images[i], self.payloads[c]) for i, c in enumerate(centre)]
        keep = first + n - 1  # the last refined frame stays as the next batch's t-1 context
        self.frames, self.keys, self.payloads = self.frames[keep:], self.keys[keep:], self.payloads[keep:]
        self.has_context = True
        return out
