"""The add-on registers cleanly, and the built extension zip installs, runs and uninstalls in real Blender."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_addon_synthetic import make_profile

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[1]
OPERATORS = ("analyze", "generate", "import_tracks", "bake_tracks", "render_photoreal", "export", "cancel")


def _prefs_class() -> type:
    from addon.blender.preferences import TalkingHeadPreferences

    return TalkingHeadPreferences


def _state() -> dict[str, object]:
    return {
        "scene_prop": hasattr(bpy.types.Scene, "talking_head"),
        "operators": [op for op in OPERATORS if hasattr(bpy.types, f"TALKING_HEAD_OT_{op}")],
        "panel": hasattr(bpy.types, "TALKING_HEAD_PT_main"),
        "prefs": _prefs_class().is_registered,
    }


def test_register_unregister_twice_leaves_nothing_behind() -> None:
    import addon
    from addon.blender import jobs

    bpy.ops.wm.read_factory_settings(use_empty=True)
    clean = _state()
    assert clean == {"scene_prop": False, "operators": [], "panel": False, "prefs": False}
    for _ in range(2):
        addon.register()
        assert _state() == {"scene_prop": True, "operators": list(OPERATORS), "panel": True, "prefs": True}
        assert bpy.context.scene.talking_head.pose_mode == "predicted"
        addon.unregister()
        assert _state() == clean
        assert not bpy.app.timers.is_registered(jobs.timer_tick)


def _refresh_extension_repos() -> None:
    # bpy resolves the user repositories at import time; re-point them at BLENDER_USER_RESOURCES
    import addon_utils

    addon_utils._initialize_extension_repos_pre()
    addon_utils._initialize_extension_repos_post()


def test_extension_zip_builds_installs_runs_an_operator_and_uninstalls(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_extension.py"), "--output-dir",
                          str(tmp_path / "dist")], capture_output=True, text=True, check=True)
    zip_path = Path(out.stdout.strip().splitlines()[-1])
    import zipfile

    names = zipfile.ZipFile(zip_path).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "addon/blender/animation.py" in names
    assert not [n for n in names if n.startswith(("backend/", "tests/", ".venv/", "docs/", "tools/"))]

    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(tmp_path / "user"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    _refresh_extension_repos()
    module = "bl_ext.user_default.talking_head"
    try:
        assert bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                        enable_on_install=True) == {"FINISHED"}
        assert module in bpy.context.preferences.addons
        installed = Path(sys.modules[module].__file__).parent
        assert installed.is_relative_to(tmp_path / "user")  # the zip's copy, not the checkout
        assert hasattr(bpy.types.Scene, "talking_head")
        # preferences are the extension's own and reach the operators' backend lookup
        prefs = bpy.context.preferences.addons[module].preferences
        prefs.python_path = str(tmp_path / "no-such-python")
        profile = make_profile(tmp_path)
        assert bpy.ops.talking_head.import_tracks(profile=str(profile)) == {"FINISHED"}
        assert [o.name for o in bpy.context.scene.objects if o.get("th_role") == "face"] == ["TH_face"]
        with pytest.raises(RuntimeError, match="backend Python set in the add-on preferences does not exist"):
            bpy.ops.talking_head.analyze(clip=str(profile / "audio.wav"))
    finally:
        repos = [r.module for r in bpy.context.preferences.extensions.repos]
        bpy.ops.extensions.package_uninstall(repo_index=repos.index("user_default"), pkg_id="talking_head")
        monkeypatch.delenv("BLENDER_USER_RESOURCES")
        _refresh_extension_repos()
    assert module not in bpy.context.preferences.addons
    assert not hasattr(bpy.types.Scene, "talking_head")
    assert not (tmp_path / "user" / "extensions" / "user_default" / "talking_head").exists()
    assert not os.environ.get("BLENDER_USER_RESOURCES")
