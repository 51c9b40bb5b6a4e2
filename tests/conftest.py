"""Shared fixtures and tier handling for the whole suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TALKING_HEAD_SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config: pytest.Config) -> None:
    # the same default as the CLI (backend.commands.configure_torch_threads): on 2 shared cores extra torch
    # threads make everything several times slower
    from backend.commands import configure_torch_threads

    configure_torch_threads()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    have_data = SHARED_DATA.is_dir()
    try:
        import torch

        have_cuda = torch.cuda.is_available()
    except Exception:  # torch missing or broken: the gpu tier cannot run
        have_cuda = False
    try:
        import importlib.util

        have_bpy = importlib.util.find_spec("bpy") is not None
    except Exception:
        have_bpy = False
    for item in items:
        if "realdata" in item.keywords and not have_data:
            item.add_marker(pytest.mark.skip(reason=f"real test data not found at {SHARED_DATA}"))
        if "gpu" in item.keywords and not have_cuda:
            item.add_marker(pytest.mark.skip(reason="no CUDA device"))
        if "blender" in item.keywords and not have_bpy:
            item.add_marker(pytest.mark.skip(reason="bpy not installed (pip extra 'blender')"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # bpy 4.5 can hang at interpreter exit when a timer is still registered (design.md section 6):
    # once bpy was imported, end the process ourselves with pytest's status.
    if "bpy" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        status = getattr(config, "_th_exitstatus", 0)
        os._exit(int(status))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._th_exitstatus = exitstatus  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def registered():
    """The add-on registered in bpy for one test module (blender tier), unregistered after it."""
    import addon

    addon.register()
    yield addon
    addon.unregister()
