"""The shipped general motion model's data list (models/motion_data.txt): it matches the file shipped, keeps
the evaluation people out, and assembles into a folder that train-general reads with the right people."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from backend.motion.model import load_checkpoint
from backend.motion.people import person_of
from backend.motion.personalization import general_model_path

ROOT = Path(__file__).resolve().parents[1]
EVALUATION_PEOPLE = {"vlog_woman", "lecture_man"}  # docs/motion.md's leave-out protocol


def _tool():
    spec = importlib.util.spec_from_file_location("general_model_data", ROOT / "tools" / "general_model_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_list_is_the_shipped_models_data_and_leaves_the_evaluation_people_out() -> None:
    names = _tool().clip_list()
    _, meta = load_checkpoint(general_model_path())
    assert sorted(Path(n).name for n in names) == sorted(meta["clip_names"])
    people = {person_of(n) for n in names}
    assert people == set(meta["people"]) and not people & EVALUATION_PEOPLE
    assert meta["sampling_share"]["grid_s1"] < 0.15  # the one GRID speaker does not dominate the others


@pytest.mark.realdata
def test_assembled_folder_keeps_each_person(shared_data: Path, tmp_path: Path) -> None:
    tool = _tool()
    names = tool.clip_list()
    linked = tool.assemble(shared_data, tmp_path / "data", names)
    clips = [p for p in linked if p.suffix == ".mp4"]
    assert len(clips) == len(names) and all(p.is_symlink() and p.resolve().is_file() for p in linked)
    assert {person_of(p) for p in clips} == {person_of(n) for n in names}  # GRID stays one person, grid_s1
    wavs = {p.stem for p in linked if p.suffix == ".wav"}
    assert "noem_18s_256" in wavs  # a silent clip brings its speech
    with pytest.raises(SystemExit, match="not in"):
        tool.assemble(tmp_path / "nowhere", tmp_path / "other", names)
