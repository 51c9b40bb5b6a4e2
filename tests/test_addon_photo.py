"""The add-on's Generate on one photo, headless under real bpy (tools/blender_batch.py --clip PHOTO): the
photo is analysed, the speech animated by the motion prior (no personalize), the take imported with sound."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from backend.media import write_wav
from backend.media.speech_synth import synthesize

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "blender_batch.py"


def test_generate_from_a_photo_saves_a_playable_blend(tmp_path: Path) -> None:
    from skimage import data

    photo = tmp_path / "portrait.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    speech = synthesize("Maybe a big blue boat.")
    wav = tmp_path / "speech.wav"
    write_wav(wav, speech.samples, speech.sr)
    out = tmp_path / "scene.blend"
    done = subprocess.run([sys.executable, str(SCRIPT), "--", "--clip", str(photo), "--audio", str(wav),
                           "--fps", "25", "--out", str(out), "--pose", "still"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    bpy.ops.wm.open_mainfile(filepath=str(out))
    try:
        scene = bpy.context.scene
        face = bpy.data.objects["TH_face"]
        assert face.data.shape_keys.animation_data.action is not None
        frames = scene.frame_end - scene.frame_start + 1
        assert abs(frames - round(len(speech.samples) / speech.sr * 25)) <= 1
        editor = scene.sequence_editor
        assert any(s.type == "SOUND" for s in (editor.strips if hasattr(editor, "strips") else editor.sequences))
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)
