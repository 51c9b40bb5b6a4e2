"""The bad-input catalogue (issue 16): every case through the real CLI (a subprocess) or the real server on
loopback. Each asserts a non-zero exit or a 4xx/507 status, a message naming the problem, no partial output,
and no traceback without --debug. Full-disk cases use a real 600 KB tmpfs (skipped where it cannot be
mounted, i.e. when not root)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from test_render_video import FPS, T, make_audio, make_profile, make_tracks
from test_service_harness import Server, noise_video, tone_wav

from backend import media
from backend.core.errors import UserError
from backend.core.tracks import load_tracks

ROOT = Path(__file__).resolve().parents[1]


def cli(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend", "--progress", "quiet", *argv], capture_output=True,
                          text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=timeout)


def leftovers(folder: Path) -> list[str]:
    """Temp files and folders our atomic writers or the render store would leave (names start with . or th-)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".", "th-render-"))) if folder.exists() else []


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    profile = make_profile(root)
    tracks = load_tracks(make_tracks(root / "tracks.json", T))
    data = json.loads((root / "tracks.json").read_text())

    def variant(name: str, change: Callable[[dict], None]) -> Path:
        d = json.loads(json.dumps(data))
        change(d)
        path = root / f"{name}.json"
        path.write_text(json.dumps(d))
        return path

    silent = root / "silent.mp4"
    noise_video(silent, frames=30)
    clip = root / "target.mp4"
    truncated = root / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    wav = make_audio(root / "speech.wav", T / FPS)
    cut = root / "cut.wav"
    cut.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])  # header promises twice the data
    readonly = root / "readonly"
    readonly.mkdir()
    return {"root": root, "profile": profile, "tracks": root / "tracks.json", "audio": wav, "clip": clip,
            "silent": silent, "truncated": truncated, "cut": cut, "profile_id": Path(tracks.profile_id),
            "pose_1e300": variant("pose_1e300", lambda d: d["pose"][3].__setitem__(0, 1e300)),
            "expr_1e300": variant("expr_1e300", lambda d: d["expression"][2].__setitem__(1, 1e300)),
            "expr_1e6": variant("expr_1e6", lambda d: d["expression"][0].__setitem__(0, 1e6)),
            "pose_1e6": variant("pose_1e6", lambda d: d["pose"][0].__setitem__(5, -1e6)),
            "string": variant("string", lambda d: d["expression"][0].__setitem__(0, "1.0")),
            "boolean": variant("boolean", lambda d: d["pose"][0].__setitem__(0, True)),
            "other_profile": variant("other_profile", lambda d: d.__setitem__("profile_id", "0123456789abcdef"))}


@dataclass(frozen=True)
class CliCase:
    name: str
    argv: Callable[[dict[str, Path], Path], list[str]]  # (world, output) -> argv
    says: str  # a piece of the message naming the problem
    output: str = "out.glb"


P, TR, AU = "profile", "tracks", "audio"
CLI_CASES = [
    CliCase("export_pose_1e300", lambda w, o: ["export", str(w[P]), str(w["pose_1e300"]), "-o", str(o)],
            "beyond 32-bit float range"),
    CliCase("export_expr_1e300", lambda w, o: ["export", str(w[P]), str(w["expr_1e300"]), "-o", str(o)],
            "beyond 32-bit float range"),
    CliCase("render_expr_1e6", lambda w, o: ["render", str(w[P]), str(w["expr_1e6"]), str(w[AU]), "-o", str(o)],
            "beyond +-50 basis units", "out.mp4"),
    CliCase("render_pose_1e6", lambda w, o: ["render", str(w[P]), str(w["pose_1e6"]), str(w[AU]), "-o", str(o)],
            "beyond +-100 metres", "out.mp4"),
    CliCase("export_string_number", lambda w, o: ["export", str(w[P]), str(w["string"]), "-o", str(o)],
            "holds str '1.0'"),
    CliCase("export_boolean_number", lambda w, o: ["export", str(w[P]), str(w["boolean"]), "-o", str(o)],
            "holds bool True"),
    CliCase("export_other_profile", lambda w, o: ["export", str(w[P]), str(w["other_profile"]), "-o", str(o)],
            "belong to profile 0123456789abcdef"),
    CliCase("animate_silent_video", lambda w, o: ["animate", str(w[P]), str(w["silent"]), "-o", str(o)],
            "video without a sound track", "out.json"),
    CliCase("analyze_truncated_mp4", lambda w, o: ["analyze", str(w["truncated"]), "-o", str(o)], "truncated",
            "profile"),
    CliCase("animate_expression_scale_inf",
            lambda w, o: ["animate", str(w[P]), str(w[AU]), "-o", str(o), "--expression-scale", "inf"],
            "argument --expression-scale: must be a finite number", "out.json"),
    CliCase("animate_expression_scale_negative",
            lambda w, o: ["animate", str(w[P]), str(w[AU]), "-o", str(o), "--expression-scale", "-3"],
            "argument --expression-scale: must be between 0 and 5", "out.json"),
    CliCase("animate_seed_negative", lambda w, o: ["animate", str(w[P]), str(w[AU]), "-o", str(o), "--seed", "-5"],
            "argument --seed: must be between 0", "out.json"),
    CliCase("analyze_fps_nan", lambda w, o: ["analyze", str(w["clip"]), "-o", str(o), "--fps", "nan"],
            "argument --fps: must be a finite number", "profile"),
    CliCase("train_general_empty_folder_path", lambda w, o: ["train-general", "", "-o", str(o)],
            "the training folder is an empty path", "motion.pt"),
    CliCase("render_output_in_missing_dir",
            lambda w, o: ["render", str(w[P]), str(w[TR]), str(w[AU]), "-o", str(o.parent / "no" / "such" / "x.mp4"),
                          "--clip", "/proc/version"], "cannot write the output", "out.mp4"),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_cli_refuses_bad_input_cleanly(case: CliCase, world: dict[str, Path], tmp_path: Path) -> None:
    if case.name == "render_output_in_missing_dir":  # a parent that cannot be created: under a file
        (tmp_path / "no").write_text("a file, not a folder")
    out = tmp_path / case.output
    r = cli(*case.argv(world, out))
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert case.says in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr[-2000:]
    assert not out.exists() and leftovers(tmp_path) == [], leftovers(tmp_path)


def test_cut_short_wav_is_noted(world: dict[str, Path]) -> None:
    from backend.commands import _route_notes
    from backend.core.progress import Progress

    messages: list[str] = []
    progress = Progress(mode="quiet")
    progress.message = messages.append  # type: ignore[method-assign]
    _route_notes(progress)
    samples = media.load_audio(world["cut"])
    assert samples.size > 0
    assert any("cut short" in m and str(world["cut"]) in m for m in messages), messages
    messages.clear()
    media.load_audio(world["audio"])
    assert messages == []  # a whole file: no note


# ---- full disk and unwritable places (a real tmpfs) ----

@contextlib.contextmanager
def tmpfs(path: Path, size: str = "600k") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()}): needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system holding `folder` until `leave` bytes are free."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(folder / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


@pytest.mark.parametrize("command", ["render", "analyze", "export"])
def test_full_disk_is_a_clear_error(command: str, world: dict[str, Path], tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        fill(disk, 16 << 10)
        out = disk / "out" / {"render": "video.mp4", "analyze": "profile", "export": "anim.glb"}[command]
        argv = {"render": ["render", str(world[P]), str(world[TR]), str(world[AU]), "-o", str(out), "--clip",
                           str(world["clip"])],
                "analyze": ["analyze", str(world["silent"]), "-o", str(out)],
                "export": ["export", str(world[P]), str(world[TR]), "-o", str(out)]}[command]
        r = cli(*argv)
        assert r.returncode == 2, (r.returncode, r.stderr[-2000:])  # not 135 (SIGBUS), not 1
        assert "space" in r.stderr and str(disk) in r.stderr, r.stderr[-2000:]
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr[-2000:]
        assert not out.exists() and leftovers(out.parent) == [], leftovers(out.parent)


def test_read_only_output_is_a_clear_error(world: dict[str, Path], tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro") as ro:
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        for argv in (["export", str(world[P]), str(world[TR]), "-o", str(ro / "a.glb")],
                     ["analyze", str(world["silent"]), "-o", str(ro / "profile")]):
            r = cli(*argv)
            assert r.returncode == 2 and "read-only file system" in r.stderr, r.stderr[-2000:]
            assert "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_frame_store_reports_enospc_not_sigbus(tmp_path: Path) -> None:
    from backend.render.frame_store import FrameStore

    with tmpfs(tmp_path / "disk") as disk:
        with pytest.raises(OSError) as info:
            FrameStore(disk / "frames.bin", 50, 480, 640)  # 46 MB on a 600 KB disk
        assert info.value.errno == errno.ENOSPC and str(disk) in str(info.value)
        with FrameStore(disk / "small.bin", 2, 8, 8) as store:  # and it works where it fits
            store[1] = np.full((8, 8, 3), 7, np.uint8)
            assert store[1].sum() == 7 * 192 and store[0].sum() == 0


def test_job_store_leaves_no_orphan_on_a_full_disk(tmp_path: Path) -> None:
    from backend.service.jobstore import JobStore

    with tmpfs(tmp_path / "disk", "2m") as disk:
        store = JobStore(disk / "data")
        src = disk / "input.bin"
        src.write_bytes(b"x" * 1000)
        fill(disk, 0)
        with contextlib.suppress(OSError):
            (disk / "more").write_bytes(b"x" * 65536)  # the last blocks too
        with pytest.raises(OSError):
            store.create_job("render", {}, {"clip": Path("/proc/version")})  # a copy that cannot fit
        assert list(store.jobs_dir.iterdir()) == [] and store.list_public() == []
        store.close()


def test_two_analyze_runs_into_one_profile(tmp_path: Path) -> None:
    from backend.core.atomic import exclusive_output

    target = tmp_path / "profile"
    with exclusive_output(target, "profile"):
        code = ("from backend.core.atomic import exclusive_output\n"
                f"with exclusive_output({str(target)!r}, 'profile'): pass\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert r.returncode != 0 and "another process is writing the profile" in r.stderr
    assert leftovers(tmp_path) == []  # the lock file is gone
    with exclusive_output(target, "profile"):  # and the next run may write
        pass


def without_root_powers(argv: list[str]) -> list[str]:
    """Permission bits apply to root only without CAP_DAC_OVERRIDE: drop it (capsh) when running as root."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("capsh") is None:
        pytest.skip("running as root without capsh: permission bits cannot be tested")
    return ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", shlex.join(argv)]


def test_replacing_a_read_only_profile_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "profile"
    target.mkdir()
    (target / "manifest.json").write_text("{}")
    target.chmod(0o555)
    code = ("from backend.core.atomic import atomic_dir\n"
            f"with atomic_dir({str(target)!r}) as tmp:\n"
            "    (tmp / 'manifest.json').write_text('{\"new\": 1}')\n")
    r = subprocess.run(without_root_powers([sys.executable, "-c", code]), capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((target / "manifest.json").read_text()) == {"new": 1}
    assert leftovers(tmp_path) == [], leftovers(tmp_path)


COMMANDS_WITH_OUTPUT = {
    "analyze": lambda w, o: ["analyze", str(w["silent"]), "-o", str(o / "profile")],
    "animate": lambda w, o: ["animate", str(w[P]), str(w[AU]), "-o", str(o / "t.json")],
    "render": lambda w, o: ["render", str(w[P]), str(w[TR]), str(w[AU]), "-o", str(o / "v.mp4")],
    "export": lambda w, o: ["export", str(w[P]), str(w[TR]), "-o", str(o / "a.glb")],
    "personalize": lambda w, o: ["personalize", str(w[P]), "-o", str(o / "m.pt")],
    "demo": lambda w, o: ["demo", "-o", str(o / "demo")],
    "eval": lambda w, o: ["eval", str(w["silent"]), "-o", str(o / "report")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS_WITH_OUTPUT))
def test_unwritable_output_directory_is_a_clear_error(command: str, world: dict[str, Path], tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    argv = [sys.executable, "-m", "backend", "--progress", "quiet", *COMMANDS_WITH_OUTPUT[command](world, locked)]
    r = subprocess.run(without_root_powers(argv), capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "permission denied" in r.stderr and str(locked) in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert list(locked.iterdir()) == []


def test_tracks_strings_and_float32_overflow_are_refused_in_python(world: dict[str, Path]) -> None:
    for name in ("pose_1e300", "expr_1e300", "string", "boolean", "expr_1e6"):
        with pytest.raises(UserError, match="invalid tracks file"):
            load_tracks(world[name])


# ---- the real server ----

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("bad-server")
    with Server(root / "data", "--max-upload-mb", "4") as srv:
        yield srv


@dataclass(frozen=True)
class HttpCase:
    name: str
    body: bytes
    status: int
    says: str
    headers: tuple[tuple[str, str], ...] = ()


def job(text: str) -> bytes:
    return text.encode()


HTTP_CASES = [
    *[HttpCase(f"fps_{v}", job(f'{{"kind":"analyze","clip":"x","fps":{v}}}'), 422, "fps")
      for v in ("NaN", "Infinity", "-Infinity", "1e999")],
    *[HttpCase(f"{field}_{v}", job(f'{{"kind":"animate","profile":"0123456789abcdef","audio":"x",'
                                   f'"options":{{"{field}":{v}}}}}'), 422, field)
      for field in ("smoothing", "expression_scale") for v in ("NaN", "Infinity", "1e999")],
    HttpCase("fps_string", job('{"kind":"analyze","clip":"x","fps":"25"}'), 422, "fps"),
    HttpCase("overlay_string", job('{"kind":"analyze","clip":"x","overlay":"true"}'), 422, "overlay"),
    HttpCase("expression_scale_negative", job('{"kind":"animate","profile":"0123456789abcdef","audio":"x",'
                                              '"options":{"expression_scale":-3}}'), 422, "expression_scale"),
    HttpCase("body_over_limit", b'{"kind":"analyze","clip":"' + b"x" * (2 << 20) + b'"}', 413,
             "request body larger than"),
    HttpCase("origin_null", job('{"kind":"analyze","clip":"x"}'), 403, "cross-site", (("Origin", "null"),)),
]


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c.name for c in HTTP_CASES])
def test_server_refuses_bad_requests_cleanly(case: HttpCase, server: Server) -> None:
    with server.client() as c:
        r = c.post("/jobs", content=case.body, headers={"Content-Type": "application/json", **dict(case.headers)})
        assert r.status_code == case.status, r.text[:500]
        assert case.says in json.dumps(r.json()), r.text[:500]
        assert c.get("/health").status_code == 200  # the client's next request still works
    assert list((server.data_dir / "jobs").iterdir()) == []


def test_chunked_body_over_limit_is_refused(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"kind":"analyze","clip":"'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    with server.client() as c:
        r = c.post("/jobs", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "request body larger than" in r.json()["detail"]


def test_upload_of_out_of_range_tracks_is_refused(server: Server, world: dict[str, Path]) -> None:
    with server.client() as c:
        for name in ("expr_1e300", "pose_1e6", "string"):
            r = c.post("/uploads", content=world[name].read_bytes(), params={"name": name})
            assert r.status_code == 415 and "invalid tracks file" in r.json()["detail"], r.text[:300]


def test_concurrent_uploads_per_client_are_limited(server: Server) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    socks = []
    try:
        for _ in range(4):  # four uploads that have sent their headers and part of their body
            s = socket.create_connection((host, int(port)))
            s.sendall(f"POST /api/v1/uploads HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100000\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n".encode() + b"\0" * 1000)
            socks.append(s)
        deadline, status = time.monotonic() + 10, 0
        with server.client() as c:
            while time.monotonic() < deadline and status != 429:
                r = c.post("/uploads", content=b"\0" * 100)
                status = r.status_code
                time.sleep(0.1)
            assert status == 429 and "uploads in progress" in r.json()["detail"]
    finally:
        for s in socks:
            s.close()
    with server.client() as c:  # once they are gone, uploads are accepted again
        deadline = time.monotonic() + 10
        while (r := c.post("/uploads", content=b"\0" * 100)).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.status_code == 415  # zeros are no media: refused by content, not by the limit


def test_delete_jobs_and_retention(server: Server, tmp_path: Path) -> None:
    with server.client() as c:
        clip = c.post("/uploads", content=noise_video(tmp_path / "c.mp4", frames=12).read_bytes()).json()
        job_status = c.post("/jobs", json={"kind": "analyze", "clip": clip["id"]}).json()
        if job_status["state"] in ("queued", "running"):
            r = c.delete(f"/jobs/{job_status['id']}")
            assert r.status_code == 409 and "cancel it first" in r.json()["hint"]
            c.post(f"/jobs/{job_status['id']}/cancel")
        deadline = time.monotonic() + 60
        while c.get(f"/jobs/{job_status['id']}").json()["state"] not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert c.delete(f"/jobs/{job_status['id']}").status_code == 204
        assert c.get(f"/jobs/{job_status['id']}").status_code == 404
        assert not (server.data_dir / "jobs" / job_status["id"]).exists()
        assert c.get("/health").json()["keep_days"] == 7


def test_prune_deletes_old_finished_jobs_and_unused_uploads(tmp_path: Path) -> None:
    from backend.service.jobstore import FAILED, JobStore

    store = JobStore(tmp_path / "data")
    partial = store.partial_dir / "p"
    partial.write_bytes(b"a")
    old_upload = store.add_upload(partial, "a", "video", 1, "0" * 64)
    partial.write_bytes(b"b")
    needed_upload = store.add_upload(partial, "b", "audio", 1, "1" * 64)
    done = store.create_job("analyze", {}, {"clip": store.upload_path(old_upload.id)})
    store.finish(done.id, FAILED, "x")
    waiting = store.create_job("render", {}, {"audio": store.upload_path(needed_upload.id)})
    assert store.prune(7 * 86400) == (0, 0)  # nothing is old yet
    assert store.prune(7 * 86400, now=time.time() + 8 * 86400) == (1, 1)
    assert store.get(done.id) is None and not store.job_dir(done.id).exists()
    assert store.get_upload(old_upload.id) is None and store.get_upload(needed_upload.id) is not None
    assert store.get(waiting.id) is not None  # queued: kept
    store.close()


def test_full_data_disk_gives_507_and_leaves_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk, Server(disk / "data", log=tmp_path / "server.log") as srv:
        with srv.client() as c:
            clip = c.post("/uploads", content=noise_video(tmp_path / "c.mp4", frames=12).read_bytes()).json()
            fill(disk, 200 << 10)
            r = c.post("/uploads", content=tone_wav(tmp_path / "t2.wav", seconds=2).read_bytes())
            assert r.status_code == 507, r.text
            assert set(r.json()) == {"detail", "hint"} and "disk is full" in r.json()["detail"]
            r = c.post("/jobs", json={"kind": "analyze", "clip": clip["id"]})
            assert r.status_code == 507, r.text
            assert set(r.json()) == {"detail", "hint"} and "disk is full" in r.json()["detail"]
            assert c.get("/jobs").json() == []  # no job in the index
        assert list((disk / "data" / "uploads" / ".partial").iterdir()) == []
        assert list((disk / "data" / "jobs").iterdir()) == []


# ---- kill -9 of the server or of a worker mid-job ----

def planted_server(tmp_path: Path, world: dict[str, Path]) -> tuple[Path, str]:
    """A data directory holding the synthetic profile (as an analyze job would leave it) and its clip."""
    data = tmp_path / "data"
    profile_id = json.loads((world[P] / "manifest.json").read_text())["profile_id"]
    shutil.copytree(world[P], data / "profiles" / profile_id)
    (data / "clips").mkdir(parents=True)
    shutil.copyfile(world["clip"], data / "clips" / profile_id)
    return data, profile_id


def render_job(c: httpx.Client, profile_id: str, tracks: str, audio: str) -> str:
    r = c.post("/jobs", json={"kind": "render", "profile": profile_id, "tracks": tracks, "audio": audio,
                              "options": {"refine": False}})
    assert r.status_code == 202, r.text
    return r.json()["id"]


@pytest.mark.parametrize("victim", ["server", "worker"])
def test_kill9_loses_no_upload_or_finished_result(victim: str, world: dict[str, Path], tmp_path: Path) -> None:
    from test_service_harness import child_pids_for, wait_for

    data, profile_id = planted_server(tmp_path, world)
    srv = Server(data).start()
    with srv.client() as c:
        tracks = c.post("/uploads", content=world[TR].read_bytes()).json()
        audio = c.post("/uploads", content=world[AU].read_bytes()).json()
        done = render_job(c, profile_id, tracks["id"], audio["id"])
        assert wait_for(c, done, timeout=180)["state"] == "succeeded"
        video = c.get(f"/jobs/{done}/result").content
        assert video[4:8] == b"ftyp"
        busy = render_job(c, profile_id, tracks["id"], audio["id"])
        wait_for(c, busy, ("running",), timeout=60, poll=0.05)
        deadline = time.monotonic() + 30
        while not child_pids_for(busy) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child_pids_for(busy), "the step never started"
        if victim == "worker":
            for pid in child_pids_for(busy):
                os.kill(pid, 9)
            failed = wait_for(c, busy, timeout=60)
            assert failed["state"] == "failed" and "signal 9" in failed["error"], failed
    if victim == "server":
        srv.kill9()
        t0 = time.monotonic()
        srv = Server(data).start()
    with srv.client() as c:
        # nothing acknowledged is lost: both uploads, the finished job's video (byte for byte)
        assert c.get(f"/uploads/{tracks['id']}").json()["sha256"] == tracks["sha256"]
        assert c.get(f"/uploads/{audio['id']}").json()["sha256"] == audio["sha256"]
        assert c.get(f"/jobs/{done}/result").content == video
        if victim == "server":  # the interrupted job resumes and finishes
            resumed = wait_for(c, busy, timeout=180)
            assert resumed["state"] == "succeeded" and resumed["attempts"] == 2, resumed
            print(json.dumps({"kill9_resume_s": round(time.monotonic() - t0, 1)}))
        else:  # the server lives on: the same job submitted again succeeds
            again = render_job(c, profile_id, tracks["id"], audio["id"])
            assert wait_for(c, again, timeout=180)["state"] == "succeeded"
    srv.stop()
