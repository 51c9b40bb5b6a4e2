"""The add-on's pure pieces behind the scene setup, in plain Python: SH world, framing, keyed columns, sound
files by content, background progress lines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from test_addon_synthetic import make_tracks, write_wav

from addon.data import framing, keying, sh_world
from addon.data.formats import ArkitData, LayerData, tracks_from_dict
from addon.data.progress_lines import LinePacer, overall_eta, progress_line
from addon.data.sound_files import sound_files


def test_uniform_white_sh_is_radiance_one_and_up_is_world_z() -> None:
    white = np.zeros((9, 3))
    white[0] = math.sqrt(4 * math.pi)
    np.testing.assert_allclose(sh_world.equirect(white)[..., :3], 1.0, rtol=1e-6)
    up = white.copy()
    up[1] = 1.0  # the camera frame's +y (up) lobe
    img = sh_world.equirect(up)[..., 0]
    assert img[-1].mean() > img[len(img) // 2].mean() > img[0].mean()  # last row = top of Blender's equirect


def test_face_crop_holds_the_projected_face_and_the_lens_maps_it_to_the_frame() -> None:
    v = np.random.default_rng(0).uniform(-0.08, 0.08, (50, 3))
    pose = np.array([0.1, -0.2, 0.05, 0.02, -0.01, -0.6])
    cam = (700.0, 320.0, 240.0)
    x0, y0, side = framing.face_crop(v, pose, cam)
    px = framing.project(v, pose, cam)
    assert (px[:, 0] > x0).all() and (px[:, 0] < x0 + side).all() and (px[:, 1] > y0).all()
    lens, sx, sy = framing.lens_and_shift(cam, (x0, y0, side))
    # a point at the crop's left edge lands on the sensor's left edge (Blender: x_s = lens * X / -Z)
    assert math.isclose(lens * (x0 - cam[1]) / cam[0], -18 + 36 * sx, abs_tol=1e-9)
    assert math.isclose(lens * (cam[2] - y0) / cam[0], 18 + 36 * sy, abs_tol=1e-9)


def test_keyed_columns_give_back_the_expression_in_both_modes() -> None:
    basis = [f"e{i}" for i in range(4)]
    t = tracks_from_dict(make_tracks(basis, frames=12).to_dict())
    t.layers = {"blink": LayerData(weight=[0.5] * 12, shape=[0.1, 0.0, -0.2, 0.0])}
    t.arkit = ArkitData(names=["jawOpen"], shapes=[[0.0, 1.0, 0.0, 0.5]], weights=[[0.3]] * 12,
                        rest=[0.2, 0.0, 0.0, 0.0])
    order = [0, 1, 2, 3]
    for mode, rest in (("PCA", np.zeros(4)), ("ARKIT", np.array([0.2, 0, 0, 0]))):
        plan = keying.plan_columns(t, basis, order, mode, rest, 10.0)
        values = {c.name: c.values for c in plan.columns}
        shapes = {c.name: c.shape.tolist() for c in plan.columns if c.shape is not None}
        np.testing.assert_allclose(keying.combine(values, shapes, basis, rest, 12), t.expression, atol=1e-12)
        assert ("jawOpen" in values) == (mode == "ARKIT") and ("blink" in values) == (mode == "PCA")
    t.arkit = None
    assert keying.plan_columns(t, basis, order, "ARKIT", np.zeros(4), 10.0).mode == "PCA"


def test_sound_files_are_found_by_content(tmp_path: Path) -> None:
    write_wav(tmp_path / "b_speech.dat", 0.1)
    (tmp_path / "a.mp3").write_bytes(b"ID3\x04\x00" + b"\x00" * 20)
    (tmp_path / "c.wav").write_text("not really a wav")
    (tmp_path / ".hidden.wav").write_bytes((tmp_path / "b_speech.dat").read_bytes())
    assert [Path(p).name for p in sound_files(str(tmp_path))] == ["a.mp3", "b_speech.dat"]


def test_progress_lines_have_percent_stage_and_eta_and_a_heartbeat() -> None:
    assert progress_line("Batch", 0.4213, "Animate x: predicting", 75) == \
        "talking-head:  42% Batch | Animate x: predicting | ETA 1:15"
    assert progress_line("Batch", 0.0, "", None).endswith("| starting | ETA ?")
    pacer = LinePacer()
    assert pacer.due("a", 0.0, 0.0) and not pacer.due("a", 0.01, 1.0)
    assert pacer.due("a", 0.06, 1.5) and pacer.due("b", 0.06, 1.6) and pacer.due("b", 0.06, 7.0)
    assert overall_eta(0.5, 10.0, None, False) == 10.0 and overall_eta(0.9, 10.0, 3.0, True) == 3.0
