"""The package layout's contracts (pyproject [tool.importlinter]) hold: layers, no cycles, no bpy in the
backend, no backend in the add-on. Runs the real `lint-imports` over the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: install the dev extra (`make venv`)")
    return found


def test_import_contracts_are_kept() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    kept = proc.stdout.count(" KEPT")
    assert kept >= 5, proc.stdout


def test_backend_top_level_stays_small() -> None:
    entries = [p.name for p in (ROOT / "backend").iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 12, sorted(entries)  # 10 packages + __init__ + __main__
    for package in (p for p in (ROOT / "backend").iterdir() if p.is_dir() and p.name != "__pycache__"):
        init = package / "__init__.py"
        assert init.is_file(), f"{package} is not a package"
        assert init.read_text().lstrip().startswith('"""'), f"{init} has no docstring saying what it is"


def test_a_broken_contract_fails_the_check(tmp_path: Path) -> None:
    """The runner above really catches a break: a contract the code violates (the tracks file reads numpy)."""
    config = tmp_path / "broken.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["backend"]\ninclude_external_packages = true\n\n'
                      '[[tool.importlinter.contracts]]\nname = "core without numpy"\ntype = "forbidden"\n'
                      'source_modules = ["backend.core"]\nforbidden_modules = ["numpy"]\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([_lint_imports(), "--no-cache", "--config", str(config)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "BROKEN" in proc.stdout, proc.stdout[-2000:]
