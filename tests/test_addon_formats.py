"""The add-on's stdlib readers refuse what the backend refuses, with messages a user can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_addon_synthetic import make_profile

from addon.data.formats import basis_order, load_manifest, load_tracks, save_tracks, tracks_from_dict
from addon.data.profile import load_profile
from addon.errors import AddonError


def _tracks(profile: Path) -> dict:
    return json.loads((profile / "tracks.json").read_text())


def test_round_trip_through_save(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    tracks = load_tracks(str(profile / "tracks.json"))
    out = save_tracks(tracks, str(tmp_path / "out" / "t.json"))
    again = load_tracks(out)
    assert again.to_dict() == tracks.to_dict()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp left


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda d: d.update(version=3), "newer than this add-on"),
    (lambda d: d.update(layers={"blink": {"weight": [0.5], "shape": [0.0]}}), "needs format version 2"),
    (lambda d: d.update(format="other"), "not a Talking Head tracks"),
    (lambda d: d.pop("pose"), "missing key 'pose'"),
    (lambda d: d["expression"][3].append(0.0), "row 3"),
    (lambda d: d["pose"].pop(), "frames"),
    (lambda d: d.update(fps=0), "'fps'"),
    (lambda d: d["expression"][0].__setitem__(0, float("nan")), "finite"),
    (lambda d: d.update(basis=["a"] * len(d["basis"])), "unique"),
])
def test_bad_tracks_are_refused_clearly(tmp_path: Path, edit, needle: str) -> None:
    data = _tracks(make_profile(tmp_path))
    edit(data)
    with pytest.raises(AddonError, match=needle):
        tracks_from_dict(data, "t.json")


def test_missing_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(AddonError, match="not found.*Analyze"):
        load_tracks(str(tmp_path / "nope.json"))
    with pytest.raises(AddonError, match="Profile directory not found"):
        load_manifest(str(tmp_path / "nope"))
    profile = make_profile(tmp_path)
    (profile / "face_model.npz").unlink()
    with pytest.raises(AddonError, match="Face model missing"):
        load_profile(str(profile))


def test_newer_profile_version_is_refused(tmp_path: Path) -> None:
    profile = make_profile(tmp_path, version=3)
    with pytest.raises(AddonError, match="version 3, newer than this add-on"):
        load_profile(str(profile))


def test_basis_order_accepts_permutation_and_refuses_mismatch() -> None:
    assert basis_order(["b", "a", "c"], ["a", "b", "c"], "x") == [1, 0, 2]
    with pytest.raises(AddonError, match="do not match the profile's expression basis"):
        basis_order(["a", "b"], ["a", "b", "c"], "x")


def test_layers_are_read_and_can_be_taken_out_of_the_expression(tmp_path: Path) -> None:
    """A version-2 file's blink layer (the same document the backend writes) reads back, and
    without_layers() gives the speech-only expression the add-on keys when blinks get their own control."""
    data = _tracks(make_profile(tmp_path))
    k, frames = len(data["basis"]), len(data["expression"])
    shape = [0.25 * (i % 3) for i in range(k)]
    weight = [(i % 4) / 3 for i in range(frames)]
    speech = [list(row) for row in data["expression"]]
    data["expression"] = [[v + w * s for v, s in zip(row, shape, strict=False)] for row, w in zip(speech, weight, strict=False)]
    data.update(version=2, layers={"blink": {"weight": weight, "shape": shape}})
    tracks = tracks_from_dict(data, "t.json")
    assert tracks.version == 2 and list(tracks.layers) == ["blink"]
    for got, want in zip(tracks.without_layers(), speech, strict=False):
        assert got == pytest.approx(want, abs=1e-9)
    assert tracks_from_dict(json.loads(json.dumps(tracks.to_dict())), "again").to_dict() == tracks.to_dict()
