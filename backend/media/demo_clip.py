"""A built-in demo clip: scikit-image's astronaut photograph (public domain, NASA) gently turned and shifted.

It lets `talking-head demo` and the default test tier run the whole analysis on a real face without any
external data. It is a still photo in motion, not a talking person: the mouth never moves.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from backend import media


def write_demo_clip(path: str | Path, frames: int = 50, fps: int = 25, size: int = 256,
                    with_audio: bool = True) -> Path:
    from skimage import data

    img = data.astronaut()
    h, w = img.shape[:2]
    sr = 16000
    audio = None
    if with_audio:  # a quiet hum, so the clip has an audio stream like a real recording
        t = np.arange(int(frames / fps * sr)) / sr
        audio = ((0.05 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), sr)
    with media.VideoWriter(path, fps, size, size, audio=audio) as writer:
        for i in range(frames):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), 4 * np.sin(i / 6), 1.0)
            m[0, 2] += 6 * np.sin(i / 9)
            frame = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
            writer.write(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA))
    return Path(path)
