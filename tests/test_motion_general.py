"""train-general over a folder of profiles: streaming training, resumable checkpoints, fine-tuning from it."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from backend.core.errors import UserError
from backend.core.progress import Cancelled, Progress
from backend.motion import general as motion_general
from backend.motion.evaluation import general_trained_on
from backend.motion.features import VTLP_WARPS
from backend.motion.model import MotionEnsemble, MotionNet, load_checkpoint
from backend.motion.personalization import SCRATCH, personalize
from backend.motion.synthetic import write_profile


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("general")
    for seed in (1, 2):
        write_profile(root / "data" / f"person{seed}", duration_s=6.0, fps=25.0, seed=seed)
    (root / "data" / "notes.txt").write_text("not a clip")
    return root


def test_train_general_resumes_after_an_interruption(folder: Path, monkeypatch) -> None:
    """A stop in the second member of the ensemble resumes there: the finished first member is not trained
    again, the second continues from its last checkpoint, then the third is trained."""
    monkeypatch.setattr(motion_general, "GENERAL", replace(motion_general.GENERAL, batch=4, crop=32, eval_every=10))
    out = folder / "models" / "motion.pt"
    checks = [0]

    def stop_in_member_2() -> bool:  # asked once per training step (Progress.update)
        checks[0] += 1
        return checks[0] > 95  # member 1: steps 1-60, member 2: steps 1-35

    interrupted = Progress(mode="quiet", cancel_requested=stop_in_member_2)
    with pytest.raises(Cancelled):
        motion_general.train_general(folder / "data", out, profiles_dir=folder / "cache", steps=60,
                                     checkpoint_every=20, progress=interrupted)
    partial = out.with_name("motion.partial.pt")
    assert partial.is_file() and not out.exists()
    state = torch.load(partial, weights_only=False)
    assert state["member"] == 1 and state["step"] == 20 and len(state["done"]) == 1
    messages: list[str] = []
    steps = [0]

    def count_steps() -> bool:
        steps[0] += 1
        return False

    resumed = Progress(mode="quiet", callback=lambda e: messages.append(e.get("text", "")),
                       cancel_requested=count_steps)
    path, hists, profiles = motion_general.train_general(folder / "data", out, profiles_dir=folder / "cache",
                                                        steps=60, checkpoint_every=20, progress=resumed)
    assert any("resuming" in m and "member 2" in m for m in messages), messages
    assert steps[0] == 40 + 60  # the second member's remaining steps and the third member
    assert path == out and out.is_file() and not partial.exists()
    assert len(profiles) == 2 and [h.steps[-1] for h in hists] == [60, 60, 60]
    model, meta = load_checkpoint(out)
    assert isinstance(model, MotionEnsemble) and len(model.members) == 3
    assert meta["kind"] == "general" and meta["profiles"] == 2 and meta["steps"] == 60
    assert meta["members"] == [{"warps": [], "seed": 0, "formants": False},
                               {"warps": list(VTLP_WARPS), "seed": 0, "formants": False},
                               {"warps": [], "seed": 1, "formants": False}]
    # members differ: the warped crops, the other seed
    states = [m.state_dict()["head.weight"] for m in model.members]
    assert not torch.equal(states[0], states[1]) and not torch.equal(states[0], states[2])
    assert (out.with_name("motion_loss.png")).is_file()


def test_single_model_option_trains_one_plain_network(folder: Path, monkeypatch) -> None:
    monkeypatch.setattr(motion_general, "GENERAL", replace(motion_general.GENERAL, batch=4, crop=32, eval_every=10))
    out = folder / "single" / "motion.pt"
    _, hists, _ = motion_general.train_general(folder / "data", out, profiles_dir=folder / "cache", steps=10,
                                               members=motion_general.GENERAL_MEMBERS[:1])
    model, meta = load_checkpoint(out)
    assert len(hists) == 1 and isinstance(model, MotionNet) and "members" not in meta
    assert torch.load(out, weights_only=False)["version"] == 1  # the layout older versions read


def test_personalize_starts_from_the_general_model(folder: Path) -> None:
    general = folder / "models" / "motion.pt"
    if not general.is_file():
        pytest.skip("needs the model of test_train_general_resumes_after_an_interruption")
    profile = write_profile(folder / "target", duration_s=6.0, fps=25.0, seed=3)
    quick = replace(SCRATCH, steps=30, eval_every=10)
    result = personalize(profile, general=general, cfg=quick)
    assert result.init.startswith("general:")
    # each member of the general ensemble is fine-tuned on its own, with its own early stop
    model, meta = load_checkpoint(result.path)
    assert isinstance(model, MotionEnsemble) and len(result.histories) == 3
    assert meta["member_best_steps"] == [h.best_step for h in result.histories]
    # synthetic profiles have no source clip: nothing to flag as seen (eval's leak check)
    assert general_trained_on(result.init, general) == set()
    assert general_trained_on("scratch", general) == set()
    # a profile on another face model cannot use it: scratch, with a message saying why
    manifest = json.loads((profile / "manifest.json").read_text())
    manifest["face_model"] = "some-other-model"
    (profile / "manifest.json").write_text(json.dumps(manifest))
    messages: list[str] = []
    result = personalize(profile, general=general, cfg=quick,
                         progress=Progress(mode="quiet", callback=lambda e: messages.append(e.get("text", ""))))
    assert result.init == "scratch" and any("from scratch" in m for m in messages)


def test_folder_without_usable_clips_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no usable clips"):
        motion_general.collect_profiles(tmp_path / "empty", tmp_path / "cache", [], Progress(mode="quiet"))
    with pytest.raises(UserError, match="not a folder"):
        motion_general.collect_profiles(tmp_path / "missing", tmp_path / "cache", [], Progress(mode="quiet"))


def test_same_data_and_seed_give_the_same_model(folder: Path, monkeypatch) -> None:
    """A rebuild of the shipped model from its data list must reproduce it: the initial weights are seeded
    too (before the fix they came from whatever the process's torch RNG held), and the profiles' names do not
    change the order the sampler draws from (it is by clip content)."""
    monkeypatch.setattr(motion_general, "GENERAL", replace(motion_general.GENERAL, batch=4, crop=32, eval_every=10))
    states = []
    for k in range(2):
        data = folder / f"layout{k}" / "same"  # the folder's name is the person key of the clips in it
        for i, src in enumerate(sorted((folder / "data").glob("person*"))):
            dst = data / (f"p{i}" if k == 0 else f"p{1 - i}")  # the second layout swaps the names
            shutil.copytree(src, dst)
            manifest = json.loads((dst / "manifest.json").read_text())
            manifest["source"]["clip_sha256"] = f"{i:064d}"  # what a real clip's analysis records
            (dst / "manifest.json").write_text(json.dumps(manifest))
        torch.manual_seed(100 + k)  # a different global RNG state each time
        out = folder / f"repro{k}" / "motion.pt"
        motion_general.train_general(data, out, profiles_dir=folder / "cache", steps=12, resume=False)
        states.append([m["state"] for m in torch.load(out, weights_only=False)["members"]])
    assert all(torch.equal(a[k], b[k]) for a, b in zip(*states, strict=True) for k in a)
    # and the same bytes, so a rebuild can be checked against models/README.md's sha256
    assert (folder / "repro0" / "motion.pt").read_bytes() == (folder / "repro1" / "motion.pt").read_bytes()


def test_a_clip_another_process_is_analyzing_is_waited_for_not_marked_failed(tmp_path: Path) -> None:
    """Two train-general runs over one profile cache: the second waits for the profile the first is writing
    and reuses it. (It used to record the busy clip as a permanent `.failed.json` and train without it.)"""
    import threading
    import time

    from backend.core.atomic import exclusive_output
    from backend.media.demo_clip import write_demo_clip

    write_demo_clip(tmp_path / "data" / "clip.mp4", frames=40, fps=25)
    cache = tmp_path / "cache"
    first = motion_general.collect_profiles(tmp_path / "data", cache, [], Progress(mode="quiet"))
    assert len(first) == 1
    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:  # the same flock a second process's analyze takes
        with exclusive_output(first[0], "profile"):
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=other_writer)
    writer.start()
    holding.wait(10)
    threading.Timer(1.5, release.set).start()
    messages: list[str] = []
    t0 = time.monotonic()
    again = motion_general.collect_profiles(tmp_path / "data", cache, [], Progress(
        mode="quiet", callback=lambda e: messages.append(e.get("text", ""))))
    writer.join()
    assert again == first and time.monotonic() - t0 >= 1.4
    assert any("waiting for another process" in m for m in messages), messages
    assert list(cache.glob("*.failed.json")) == []


def test_a_partial_checkpoint_of_another_seed_is_not_resumed(folder: Path, monkeypatch) -> None:
    monkeypatch.setattr(motion_general, "GENERAL", replace(motion_general.GENERAL, batch=4, crop=32, eval_every=10))
    out = folder / "seeds" / "motion.pt"
    single = motion_general.GENERAL_MEMBERS[:1]
    checks = [0]

    def stop_after_25() -> bool:
        checks[0] += 1
        return checks[0] > 25

    with pytest.raises(Cancelled):
        motion_general.train_general(folder / "data", out, profiles_dir=folder / "cache", steps=40, members=single,
                                     checkpoint_every=20, progress=Progress(mode="quiet", cancel_requested=stop_after_25))
    assert torch.load(out.with_name("motion.partial.pt"), weights_only=False)["seed"] == 0
    messages: list[str] = []
    _, hists, _ = motion_general.train_general(folder / "data", out, profiles_dir=folder / "cache", steps=40,
                                               members=single, seed=1, progress=Progress(
                                                   mode="quiet", callback=lambda e: messages.append(e.get("text", ""))))
    assert not any("resuming" in m for m in messages) and hists[0].steps[-1] == 40
