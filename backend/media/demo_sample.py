"""The demo's own sample, built from what the installed packages ship: no download, no user input.

- portrait: scikit-image's astronaut photograph (Eileen Collins, NASA; public domain), 512x512;
- speech: a few sentences spoken offline by espeak-ng (backend.media.speech_synth), with the lips closing
  on p/b/m often enough to see the lip sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2

from backend.core.atomic import atomic_path
from backend.media.audio import write_wav
from backend.media.speech_synth import synthesize

DEMO_TEXT = ("Hello! I am a talking head, made from one photograph. "
             "My mouth moves with the speech, my head nods and sways, and I blink now and then.")


@dataclass
class DemoSample:
    photo: Path
    speech: Path


def write_demo_sample(out_dir: str | Path, text: str = DEMO_TEXT) -> DemoSample:
    """Write `portrait.png` and `speech.wav` into `out_dir` (atomically; reused when already there)."""
    from skimage import data

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    photo, speech = out / "portrait.png", out / "speech.wav"
    if not photo.is_file():
        with atomic_path(photo, suffix=".png") as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    if not speech.is_file():
        voice = synthesize(text)
        write_wav(speech, voice.samples, voice.sr)
    return DemoSample(photo=photo, speech=speech)
