"""The add-on's backend client (stdlib only): finding the backend Python and running the real backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from addon.clients.client import (
    PROJECT_DIR,
    ProcessJob,
    SubprocessBackend,
    make_backend,
    resolve_python,
    venv_python,
)
from addon.errors import AddonError


def test_pure_addon_modules_import_without_blender() -> None:
    code = ("import sys; sys.modules['bpy'] = None\n"  # any `import bpy` now raises ImportError
            "import addon, addon.data.formats, addon.data.track_math, addon.data.profile, addon.clients.client\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_python_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "python"
    fake.write_text("")
    assert resolve_python(str(fake)) == str(fake)  # the preference wins
    with pytest.raises(AddonError, match="does not exist"):
        resolve_python(str(tmp_path / "missing"))
    monkeypatch.setenv("TALKING_HEAD_PYTHON", str(fake))
    assert resolve_python("") == str(fake)
    monkeypatch.delenv("TALKING_HEAD_PYTHON")
    if venv_python(PROJECT_DIR):
        assert resolve_python("") == venv_python(PROJECT_DIR)


def test_a_backend_url_selects_the_service_and_needs_online_access_beyond_loopback() -> None:
    from addon.clients.service_backend import ServiceBackend

    assert isinstance(make_backend(url="http://127.0.0.1:8765"), ServiceBackend)
    with pytest.raises(AddonError, match="online access is off"):
        make_backend(url="http://gpu-box.example:8765")
    assert isinstance(make_backend(url="http://gpu-box.example:8765", online_access=True), ServiceBackend)


def test_check_runs_the_real_backend(tmp_path: Path) -> None:
    if not venv_python(PROJECT_DIR):
        pytest.skip("no project .venv to run the backend with")
    assert make_backend().check().startswith("talking-head ")


@pytest.mark.skipif(sys.platform == "win32", reason="uses a POSIX shell script as the 'python'")
def test_check_explains_a_python_without_the_backend(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 'No module named backend' >&2\nexit 1\n")
    python.chmod(0o755)
    with pytest.raises(AddonError, match="cannot run the Talking Head backend: No module named backend"):
        SubprocessBackend(str(python)).check()


def test_process_job_reports_failure_with_stderr_tail() -> None:
    job = ProcessJob([sys.executable, "-c", "import sys; print('not json'); sys.stderr.write('boom\\n'); sys.exit(3)"])
    events: list[dict] = []
    while not job.finished:
        events += job.poll()
    assert {"event": "message", "text": "not json"} in events
    assert events[-1]["event"] == "failed" and "status 3" in events[-1]["message"] and "boom" in job.error
