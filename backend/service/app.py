"""The HTTP API (FastAPI), versioned under /api/v1; the OpenAPI spec is at /api/v1/openapi.json.

Status reads come from the job store's memory (async handlers, no disk, no thread hop) so polling stays
fast while a job runs; uploads stream to disk in the event loop; heavy work runs in worker child processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import __version__
from backend.core.errors import UserError
from backend.core.oserrors import is_disk_full
from backend.face.profile import read_manifest
from backend.service import jobs
from backend.service.jobstore import QUEUED, RUNNING, SUCCEEDED, JobStore
from backend.service.limits import MAX_CONCURRENT_UPLOADS, MAX_JSON_BODY, ApiError, LimitsMiddleware
from backend.service.security import AccessMiddleware
from backend.service.uploads import check_room, disk_full, receive_upload
from backend.service.worker import Worker, detect_devices, device_name

API_VERSION = 1
API_PREFIX = f"/api/v{API_VERSION}"
DEFAULT_MAX_UPLOAD = 2 << 30
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_KEEP_DAYS = 7.0
PRUNE_EVERY_S = 3600.0
JOB_RESERVE_BYTES = 1 << 20  # what a new job folder and its index row need, at the least


@dataclass
class ServiceConfig:
    data_dir: Path
    token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    devices: list[str] = field(default_factory=list)  # empty: detect (every GPU, else the CPU)
    keep_days: float = DEFAULT_KEEP_DAYS  # finished jobs and unused uploads older than this are deleted; 0: never


class Health(BaseModel):
    service: str
    version: str
    api_version: int
    device: str
    devices: list[str]
    queue_length: int
    running: int
    jobs: dict[str, int]
    job_kinds: dict[str, bool]
    max_upload_bytes: int
    max_json_body_bytes: int
    max_concurrent_uploads: int
    keep_days: float


class UploadInfo(BaseModel):
    id: str
    name: str
    kind: str
    size: int
    sha256: str
    created: float


class JobStatus(BaseModel):
    id: str
    kind: str
    state: str
    stage: str
    progress: float
    eta_s: float | None
    queue_position: int | None
    error: str | None
    log_tail: list[str]
    done_steps: list[str]
    result: dict[str, Any]
    params: dict[str, Any]
    attempts: int
    device: str | None
    created: float
    started: float | None
    finished: float | None


class ErrorBody(BaseModel):
    detail: Any
    hint: str | None = None


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Documented error responses (the OpenAPI spec lists every status a route can answer)."""
    text = {400: "bad request", 401: "missing or wrong bearer token", 403: "refused: not a loopback request",
            404: "no such job, upload, profile or file", 409: "the job has no result (yet)",
            413: "upload or request body larger than the server's limit",
            415: "not a video, audio, image or tracks file", 422: "invalid request",
            429: "too many uploads in progress from this client", 501: "this backend lacks a stage the job needs",
            507: "the server's data disk is full"}
    return {c: {"model": ErrorBody, "description": text[c]} for c in (401, 403, 413, *codes)}


class ProfileInfo(BaseModel):
    id: str
    manifest: dict[str, Any]
    files: list[str]


def create_app(config: ServiceConfig) -> FastAPI:
    store = JobStore(config.data_dir)
    devices = config.devices or detect_devices()
    workers: list[Worker] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for note in store.recover():
            print(f"recovered job {note}", flush=True)
        workers.extend(Worker(store, d) for d in devices)
        for w in workers:
            w.start()
        pruner = asyncio.create_task(prune_forever()) if config.keep_days > 0 else None
        yield
        if pruner is not None:
            pruner.cancel()
        for w in workers:
            w.stop()
        for w in workers:
            w.join(timeout=10)
        store.close()

    async def prune_forever() -> None:
        while True:
            with contextlib.suppress(OSError, sqlite3.Error):
                jobs_deleted, uploads_deleted = await run_in_threadpool(store.prune, config.keep_days * 86400)
                if jobs_deleted or uploads_deleted:
                    print(f"retention: deleted {jobs_deleted} jobs and {uploads_deleted} uploads older than "
                          f"{config.keep_days:g} days", flush=True)
            await asyncio.sleep(PRUNE_EVERY_S)

    app = FastAPI(title="Talking Head backend", version=__version__, lifespan=lifespan,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=f"{API_PREFIX}/docs", redoc_url=None,
                  description="Jobs for the Talking Head Blender add-on: upload a clip and speech, analyze, "
                              "animate, render, poll status, cancel, download results. See docs/service.md.")
    app.state.store = store
    app.state.workers = workers
    api = APIRouter(prefix=API_PREFIX)

    def job_or_404(job_id: str) -> dict[str, Any]:
        status = store.public(job_id) if JOB_ID.match(job_id) else None
        if status is None:
            raise HTTPException(404, f"no job {job_id!r} on this server")
        return status

    def upload_of(upload_id: str, role: str, kinds: tuple[str, ...]) -> Path:
        upload = store.get_upload(upload_id) if JOB_ID.match(upload_id) else None
        if upload is None:
            raise HTTPException(422, f"{role}: no upload {upload_id!r} on this server (upload it first)")
        if upload.kind not in kinds:
            raise HTTPException(422, f"{role}: upload '{upload.name}' is {upload.kind}, but {role} must be "
                                     f"{' or '.join(kinds)}")
        return store.upload_path(upload.id)

    def profile_or_404(profile_id: str, status: int = 404) -> Path:
        path = store.profile_dir(profile_id) if jobs.PROFILE_ID.match(profile_id) else None
        if path is None or read_manifest(path) is None:
            raise HTTPException(status, f"no profile {profile_id!r} on this server (run an analyze job first)")
        return path

    @api.get("/health", response_model=Health, summary="version, device, queue length, available job kinds",
             responses=_errors())
    async def health() -> dict[str, Any]:
        counts = store.counts()
        return {"service": "talking-head", "version": __version__, "api_version": API_VERSION,
                "device": ", ".join(device_name(d) for d in devices), "devices": devices,
                "queue_length": counts[QUEUED], "running": counts[RUNNING], "jobs": counts,
                "job_kinds": {k: all(jobs.stage_available(s) for s in steps) for k, steps in jobs.KIND_STEPS.items()},
                "max_upload_bytes": config.max_upload_bytes, "max_json_body_bytes": MAX_JSON_BODY,
                "max_concurrent_uploads": MAX_CONCURRENT_UPLOADS, "keep_days": config.keep_days}

    @api.post("/uploads", status_code=201, response_model=UploadInfo,
              summary="upload one file (the raw bytes as the body); returns its id and sniffed kind",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
              responses=_errors(400, 415, 422, 429, 507))
    async def upload(request: Request,
                     name: Annotated[str | None, Query(max_length=1024, description="file name (label only)")] = None,
                     ) -> dict[str, Any]:
        up = await receive_upload(request, store, name, config.max_upload_bytes)
        return up.public()

    @api.get("/uploads/{upload_id}", response_model=UploadInfo, responses=_errors(404))
    async def get_upload(upload_id: str) -> dict[str, Any]:
        up = store.get_upload(upload_id) if JOB_ID.match(upload_id) else None
        if up is None:
            raise HTTPException(404, f"no upload {upload_id!r} on this server")
        return up.public()

    @api.post("/jobs", status_code=202, response_model=JobStatus, summary="queue an analyze/animate/render/generate job",
              responses=_errors(404, 422, 501, 507))
    async def submit(req: Annotated[jobs.JobRequest, Body()]) -> dict[str, Any]:
        for step in jobs.KIND_STEPS[req.kind]:
            if not jobs.stage_available(step):
                raise HTTPException(501, f"this backend (version {__version__}) has no '{step}' stage yet, so it "
                                         f"cannot run {req.kind} jobs; update the backend")
        params = req.model_dump(exclude={"kind"})
        inputs: dict[str, Path] = {}
        if isinstance(req, (jobs.AnalyzeRequest, jobs.GenerateRequest)):
            inputs["clip"] = upload_of(req.clip, "clip", ("video", "image"))  # one photo is enough
            params["clip_sha256"] = store.get_upload(req.clip).sha256  # type: ignore[union-attr]
            clip_audio = req.audio if isinstance(req, jobs.AnalyzeRequest) else req.clip_audio
            if clip_audio:
                inputs["clip_audio"] = upload_of(clip_audio, "clip audio", ("audio", "video"))
                params["audio_sha256"] = store.get_upload(clip_audio).sha256  # type: ignore[union-attr]
        if isinstance(req, (jobs.AnimateRequest, jobs.RenderRequest)):
            profile_or_404(req.profile, 422)
        if isinstance(req, (jobs.AnimateRequest, jobs.RenderRequest, jobs.GenerateRequest)):
            inputs["audio"] = upload_of(req.audio, "audio", ("audio", "video"))
        if isinstance(req, jobs.RenderRequest):
            if (req.tracks is None) == (req.tracks_job is None):
                raise HTTPException(422, "render needs exactly one of 'tracks' (an upload) or 'tracks_job'")
            if req.tracks is not None:
                inputs["tracks"] = upload_of(req.tracks, "tracks", ("tracks",))
            else:
                source = job_or_404(str(req.tracks_job))
                if source["state"] != SUCCEEDED or "tracks.json" not in source["result"].get("files", []):
                    raise HTTPException(422, f"job {req.tracks_job} has no finished tracks.json to render")
                inputs["tracks"] = store.job_dir(source["id"]) / "out" / "tracks.json"
        check_room(store, JOB_RESERVE_BYTES, "new job")
        job = store.create_job(req.kind, params, inputs)  # on a full disk: nothing left behind, 507
        return store.public(job.id)  # type: ignore[return-value]

    @api.get("/jobs", response_model=list[JobStatus], summary="recent jobs, newest first", responses=_errors(422))
    async def list_jobs(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        return store.list_public(limit)

    @api.get("/jobs/{job_id}", response_model=JobStatus, summary="state, stage, progress 0-1, ETA, log tail, error",
             responses=_errors(404))
    async def status(job_id: str) -> dict[str, Any]:
        return job_or_404(job_id)

    @api.post("/jobs/{job_id}/cancel", response_model=JobStatus,
              summary="cancel: a queued job at once, a running one within seconds (its step is killed)",
              responses=_errors(404))
    async def cancel(job_id: str) -> dict[str, Any]:
        job_or_404(job_id)
        if store.request_cancel(job_id) == RUNNING:
            for w in workers:
                w.cancel(job_id)
        return job_or_404(job_id)

    @api.delete("/jobs/{job_id}", status_code=204, response_class=Response,
                summary="delete a finished job and its files (a queued or running one: cancel it first)",
                responses=_errors(404, 409))
    async def delete_job(job_id: str) -> Response:
        status = job_or_404(job_id)
        if not await run_in_threadpool(store.delete_job, job_id):
            raise ApiError(409, f"job {job_id} is {status['state']}; only a finished job can be deleted",
                           f"cancel it first (POST /api/v1/jobs/{job_id}/cancel), then delete it")
        return Response(status_code=204)

    def job_file(job_id: str, name: str) -> FileResponse:
        status = job_or_404(job_id)
        if status["state"] != SUCCEEDED:
            raise HTTPException(409, f"job {job_id} is {status['state']}, it has no result yet")
        # The name must be one the server itself listed for this job: nothing else is ever opened.
        if name not in status["result"].get("files", []) or not SAFE_NAME.match(name):
            raise HTTPException(404, f"job {job_id} has no result file {name!r}")
        return FileResponse(store.job_dir(job_id) / "out" / name, filename=name)

    @api.get("/jobs/{job_id}/result", summary="the job's main result file (tracks.json or video.mp4)",
             responses={200: {"content": {"application/octet-stream": {}}}, **_errors(404, 409)})
    async def result(job_id: str) -> Any:
        status = job_or_404(job_id)
        primary = jobs.PRIMARY_RESULT.get(status["kind"])
        if primary is None:
            if status["state"] == SUCCEEDED:
                return JSONResponse(status["result"])  # analyze: the profile id (files via /profiles)
            raise HTTPException(409, f"job {job_id} is {status['state']}, it has no result yet")
        return job_file(job_id, primary)

    @api.get("/jobs/{job_id}/files/{name}", summary="one result file of a finished job",
             responses={200: {"content": {"application/octet-stream": {}}}, **_errors(404, 409)})
    async def result_file(job_id: str, name: str) -> FileResponse:
        return job_file(job_id, name)

    @api.get("/profiles/{profile_id}", response_model=ProfileInfo, summary="a profile's manifest and files",
             responses=_errors(404))
    async def profile(profile_id: str) -> dict[str, Any]:
        path = profile_or_404(profile_id)
        files = sorted(f.name for f in path.iterdir() if f.is_file() and not f.name.startswith("."))
        return {"id": profile_id, "manifest": read_manifest(path) or {}, "files": files}

    @api.get("/profiles/{profile_id}/files/{name}", summary="one file of a profile (names from GET /profiles/{id})",
             responses={200: {"content": {"application/octet-stream": {}}}, **_errors(404)})
    async def profile_file(profile_id: str, name: str) -> FileResponse:
        path = profile_or_404(profile_id)
        listed = {f.name for f in path.iterdir() if f.is_file() and not f.name.startswith(".")}
        if name not in listed or not SAFE_NAME.match(name):
            raise HTTPException(404, f"profile {profile_id} has no file {name!r}")
        return FileResponse(path / name, filename=name)

    app.include_router(api)

    @app.exception_handler(UserError)
    async def user_error(_request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"detail": exc.args[0], "hint": exc.hint}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "hint": getattr(exc, "hint", None)}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # The errors echo the input, which may be NaN or infinity (valid Python, invalid JSON): say it as text.
        return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors())),
                             "hint": "see the API's OpenAPI spec at /api/v1/openapi.json for the accepted fields"},
                            status_code=422)

    @app.exception_handler(OSError)
    async def os_error(_request: Request, exc: OSError) -> JSONResponse:
        if is_disk_full(exc):
            error = disk_full("while handling the request")
            return JSONResponse({"detail": error.detail, "hint": error.hint}, status_code=507)
        raise exc

    @app.exception_handler(sqlite3.OperationalError)
    async def db_error(_request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        if "full" in str(exc):
            error = disk_full("the job index")
            return JSONResponse({"detail": error.detail, "hint": error.hint}, status_code=507)
        raise exc

    app.add_middleware(LimitsMiddleware, upload_path=f"{API_PREFIX}/uploads")
    app.add_middleware(AccessMiddleware, token=config.token)
    return app


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by its text ('nan', 'inf'), so it serialises as JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
