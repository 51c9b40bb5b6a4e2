"""ARKit-52 controls: the solve (backend/face/arkit.py), the tracks' 'arkit' key in both readers, and the
keys on the face in real bpy (blender tier for the last part)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mp_profile import make_mp_profile

from addon.data.formats import load_tracks as addon_load_tracks
from addon.data.formats import tracks_from_dict as addon_from_dict
from addon.errors import AddonError
from backend.core.errors import UserError
from backend.core.tracks import load_tracks, save_tracks, tracks_from_dict
from backend.face import arkit
from backend.face.model import load_template

ARKIT_52 = {  # Apple's ARFaceAnchor.BlendShapeLocation names, exactly
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose",
    "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut"}


def test_definitions_cover_exactly_the_52_names_and_mirror() -> None:
    assert set(arkit.NAMES) == ARKIT_52 and len(arkit.NAMES) == 52
    model = load_template()
    ak = arkit.arkit_basis(model.vertices, model.triangles, model.basis)
    assert set(ak.expressed) == ARKIT_52 and set(ak.names) | set(ak.left_out) == ARKIT_52
    assert {"jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthPucker"} <= set(ak.names)
    assert {"tongueOut", "eyeLookInLeft"} <= set(ak.left_out)  # nothing in the mesh to show them
    # jawOpen moves the lower lip down, not the upper; Left smiles lift the subject's left corner (x > 0)
    jaw = np.tensordot(ak.shapes[ak.names.index("jawOpen")], model.basis, axes=1)
    assert jaw[14, 1] < -0.006 and abs(jaw[13, 1]) < 0.4 * abs(jaw[14, 1])
    smile = np.tensordot(ak.shapes[ak.names.index("mouthSmileLeft")], model.basis, axes=1)
    assert smile[291, 1] > 0.002 and smile[291, 1] > 2 * abs(smile[61, 1])


def test_solve_recovers_known_weights_within_range() -> None:
    model = load_template()
    ak = arkit.arkit_basis(model.vertices, model.triangles, model.basis)
    rng = np.random.default_rng(5)
    truth = np.zeros((40, len(ak.names)))
    for name in ("jawOpen", "mouthSmileRight", "eyeBlinkLeft"):
        truth[:, ak.names.index(name)] = rng.uniform(0, 0.8, 40)
    expression = truth @ ak.shapes
    w = arkit.solve_weights(expression, np.zeros(model.n_expr), ak.shapes, arkit.gram(model.basis), l1=0.0,
                            iterations=1500)
    assert w.min() >= 0 and w.max() <= 1
    for name in ("jawOpen", "mouthSmileRight", "eyeBlinkLeft"):
        i = ak.names.index(name)
        assert np.corrcoef(w[:, i], truth[:, i])[0, 1] > 0.97, name


def test_arkit_key_round_trips_in_both_readers(tmp_path: Path) -> None:
    profile = make_mp_profile(tmp_path)
    tracks = arkit.with_arkit(load_tracks(profile / "tracks.json"), profile)
    path = save_tracks(tracks, tmp_path / "t.json")
    data = json.loads(path.read_text())
    assert data["version"] == 2 and set(data["arkit"]) == {"names", "shapes", "weights", "rest"}
    back, ours = load_tracks(path), addon_load_tracks(str(path))
    assert back.arkit.names == ours.arkit.names == tracks.arkit.names
    np.testing.assert_allclose(np.asarray(ours.arkit.weights), back.arkit.weights, atol=1e-6)
    assert back.arkit.weights.min() >= 0 and back.arkit.weights.max() <= 1
    assert tracks.provenance["arkit"]["explained"] > 0.9


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda a: a.update(weights=[[1.5] * len(a["names"])] * len(a["weights"])), "0..1"),
    (lambda a: a["names"].__setitem__(0, "JawOpen"), "lower-camelCase"),
    (lambda a: a["names"].__setitem__(1, a["names"][0]), "unique"),
    (lambda a: a.pop("rest"), "exactly"),
    (lambda a: a["shapes"].pop(), "rows for"),
    (lambda a: a["weights"].pop(), "frames"),
])
def test_bad_arkit_keys_are_refused_the_same_way(tmp_path: Path, edit, needle: str) -> None:
    profile = make_mp_profile(tmp_path, frames=8)
    tracks = arkit.with_arkit(load_tracks(profile / "tracks.json"), profile)
    data = json.loads(json.dumps(tracks.to_dict()))
    edit(data["arkit"])
    with pytest.raises(UserError, match=needle):
        tracks_from_dict(data, "x")
    with pytest.raises(AddonError, match=needle):
        addon_from_dict(data, "x")
    data = json.loads(json.dumps(tracks.to_dict()))
    data["version"] = 1
    with pytest.raises(UserError, match="needs format version 2"):
        tracks_from_dict(data, "x")
    with pytest.raises(AddonError, match="needs format version 2"):
        addon_from_dict(data, "x")


def test_the_smoothing_default_is_one_value_everywhere() -> None:
    import argparse

    from addon.data import defaults
    from backend.commands import animate

    sub = argparse.ArgumentParser().add_subparsers()
    animate.register(sub)
    parser = sub.choices["animate"]
    assert parser.get_default("smoothing") == animate.DEFAULT_SMOOTHING == defaults.SMOOTHING


def test_a_blink_layer_drives_the_eye_blinks_directly(tmp_path: Path) -> None:
    from backend.core.tracks import Layer

    profile = make_mp_profile(tmp_path, frames=30)
    tracks = load_tracks(profile / "tracks.json")
    weight = np.clip(np.sin(np.linspace(0, 3, 30)), 0, 1).astype(np.float32)
    tracks.layers = {"blink": Layer(weight=weight, shape=np.zeros(len(tracks.basis), np.float32))}
    solved = arkit.with_arkit(tracks, profile).arkit
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        np.testing.assert_allclose(solved.weights[:, solved.names.index(name)], weight, atol=1e-6)


def test_cli_animate_rig_arkit_writes_arkit_weights(tmp_path: Path) -> None:
    from mp_profile import install_untuned_motion_model
    from test_addon_synthetic import write_wav

    from backend.commands import main

    profile = make_mp_profile(tmp_path, frames=10)
    install_untuned_motion_model(profile)
    speech = write_wav(tmp_path / "speech.wav", 1.2)
    out = tmp_path / "arkit.json"
    assert main(["--progress", "quiet", "animate", str(profile), str(speech), "-o", str(out), "--rig", "arkit",
                 "--no-phonetics"]) == 0
    tracks = load_tracks(out)
    assert tracks.version == 2 and tracks.arkit is not None and "jawOpen" in tracks.arkit.names
    assert set(tracks.arkit.names) <= ARKIT_52 and tracks.arkit.weights.shape == (tracks.frame_count,
                                                                                   len(tracks.arkit.names))
    assert tracks.arkit.weights.min() >= 0 and tracks.arkit.weights.max() <= 1
    assert set(tracks.provenance["arkit"]["left_out"]) == ARKIT_52 - set(tracks.arkit.names)


def test_the_service_path_carries_the_rig_option() -> None:
    import pydantic

    from addon.clients.service_backend import parse_task
    from backend.service.jobs import AnimateOptions

    task = parse_task(["animate", "P", "A.wav", "-o", "T.json", "--personalize", "--pose", "predicted",
                       "--smoothing", "0", "--expression-scale", "1", "--rig", "arkit"])
    assert task.rig == "arkit"
    assert AnimateOptions(rig="arkit").rig == "arkit"
    with pytest.raises(pydantic.ValidationError):
        AnimateOptions(rig="blendshapes")
