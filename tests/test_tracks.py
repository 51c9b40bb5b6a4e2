"""The tracks format: strict validation with clear errors, atomic round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.core.errors import UserError
from backend.core.tracks import VERSION, Layer, Tracks, load_tracks, save_tracks, tracks_from_dict


def make(frames: int = 5, k: int = 3) -> Tracks:
    rng = np.random.default_rng(1)
    return Tracks(fps=25.0, basis=[f"b{i}" for i in range(k)], expression=rng.normal(size=(frames, k)).astype(np.float32),
                  pose=rng.normal(size=(frames, 6)).astype(np.float32), profile_id="abc", face_model="m",
                  provenance={"source": "test"})


def test_round_trip(tmp_path):
    t = make()
    path = save_tracks(t, tmp_path / "t.json")
    back = load_tracks(path)
    assert back.fps == 25.0 and back.basis == t.basis and back.profile_id == "abc"
    np.testing.assert_allclose(back.expression, t.expression, atol=1e-6)
    np.testing.assert_allclose(back.pose, t.pose, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # no temp files left


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="other"), "'format'"),
    (lambda d: d.update(version=VERSION + 1), "newer"),
    (lambda d: d.pop("pose"), "missing key 'pose'"),
    (lambda d: d.update(fps=0), "'fps'"),
    (lambda d: d.update(fps="25"), "'fps'"),
    (lambda d: d["expression"][1].append(0.0), "'expression'"),
    (lambda d: d["pose"].pop(), "frames"),
    (lambda d: d.update(basis=["a", "a", "b"]), "unique"),
    (lambda d: d["expression"][0].__setitem__(0, float("nan")), "NaN"),
    (lambda d: d.update(frame_count=99), "frame_count"),
    (lambda d: d["pose"][0].__setitem__(0, "x"), "numbers"),
])
def test_invalid_documents_are_refused_clearly(mutate, message):
    data = json.loads(json.dumps(make().to_dict()))
    mutate(data)
    with pytest.raises(UserError, match=message):
        tracks_from_dict(data, "t.json")


def test_not_json(tmp_path):
    p = tmp_path / "t.json"
    p.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_tracks(p)


def with_blink(frames: int = 5, k: int = 3) -> Tracks:
    t = make(frames, k)
    weight = np.linspace(0.0, 1.0, frames, dtype=np.float32)
    shape = np.array([0.5, -1.0, 0.0][:k], np.float32)
    t.expression = t.expression + weight[:, None] * shape[None, :]
    t.layers = {"blink": Layer(weight=weight, shape=shape)}
    return t


def test_layers_round_trip_as_version_2_and_plain_files_stay_version_1(tmp_path):
    plain = save_tracks(make(), tmp_path / "plain.json")
    assert json.loads(plain.read_text())["version"] == 1  # older readers keep reading files without layers
    t = with_blink()
    path = save_tracks(t, tmp_path / "blink.json")
    assert json.loads(path.read_text())["version"] == 2
    back = load_tracks(path)
    np.testing.assert_allclose(back.layers["blink"].weight, t.layers["blink"].weight, atol=1e-5)
    np.testing.assert_allclose(back.layers["blink"].shape, t.layers["blink"].shape, atol=1e-6)
    np.testing.assert_allclose(back.without_layers(), make().expression, atol=1e-5)  # speech alone


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(version=1), "needs format version 2"),
    (lambda d: d["layers"]["blink"]["weight"].__setitem__(0, 1.5), "0..1"),
    (lambda d: d["layers"]["blink"]["weight"].pop(), "layers.blink.weight"),
    (lambda d: d["layers"]["blink"]["shape"].append(0.0), "layers.blink.shape"),
    (lambda d: d["layers"].update({"Blink!": d["layers"]["blink"]}), "layer name"),
    (lambda d: d["layers"]["blink"].pop("shape"), "exactly 'weight' and 'shape'"),
])
def test_bad_layers_are_refused_clearly(mutate, message):
    data = json.loads(json.dumps(with_blink().to_dict()))
    mutate(data)
    with pytest.raises(UserError, match=message):
        tracks_from_dict(data, "t.json")
