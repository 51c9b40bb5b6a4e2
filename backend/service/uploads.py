"""Uploads: the request body streamed to disk with a size limit, hashed on the way, then sniffed by content.

The body is the raw file (`Content-Type: application/octet-stream`), not multipart: multipart parsers spool
the whole file before the application sees it, so the limit could only be checked afterwards. Here it is
checked against Content-Length before reading and against the bytes received while reading; an upload
over the limit is answered 413 and its partial file deleted. The client's file name is kept only as a
label: it never becomes part of a server path.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import unicodedata
from pathlib import Path

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from backend import media
from backend.core.errors import UserError
from backend.core.oserrors import is_disk_full
from backend.core.tracks import load_tracks
from backend.service.jobstore import JobStore, Upload, new_id
from backend.service.limits import ApiError

# Room left free on the data disk after an upload: the jobs that use it write there too.
RESERVE_BYTES = 1 << 20

MAX_NAME = 200
TRACKS_MAX_BYTES = 256 << 20  # a tracks.json of hours of animation is far below this


def display_name(raw: str | None) -> str:
    """A harmless label from a client-supplied file name: last path component, printable, bounded."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return name[:MAX_NAME] or "upload"


def disk_full(where: str) -> ApiError:
    """507: the server's data disk is full (documented in docs/service.md)."""
    return ApiError(507, f"the server's data disk is full ({where})",
                    "free space on the server's --data-dir disk (old jobs are deleted after --keep-days), "
                    "then send the request again")


def check_room(store: JobStore, needed: int, where: str) -> None:
    try:
        free = shutil.disk_usage(store.root).free
    except OSError:
        return
    if free < needed + RESERVE_BYTES:
        raise disk_full(f"{where}: {needed / (1 << 20):.1f} MB needed, {free / (1 << 20):.1f} MB free")


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"upload larger than this server's limit of {limit / (1 << 20):g} MB; start the "
                              "server with a larger --max-upload-mb or send a shorter file")


async def receive_upload(request: Request, store: JobStore, name: str | None, limit: int) -> Upload:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)  # refuse before reading a byte
    check_room(store, int(declared) if declared and declared.isdigit() else 0, "upload")
    label = display_name(name)
    partial = store.partial_dir / new_id()
    digest, size = hashlib.sha256(), 0
    try:
        with open(partial, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                fh.write(chunk)
                digest.update(chunk)
        if size == 0:
            raise HTTPException(400, "empty upload: send the file's bytes as the request body")
        kind = await run_in_threadpool(sniff_upload, partial, label)
        return await run_in_threadpool(store.add_upload, partial, label, kind, size, digest.hexdigest())
    except ClientDisconnect:
        raise HTTPException(400, "the client disconnected before the upload finished") from None
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise disk_full("upload") from None
    except sqlite3.OperationalError as exc:
        if "full" not in str(exc):
            raise
        raise disk_full("upload") from None
    finally:
        partial.unlink(missing_ok=True)  # gone already when it was accepted (renamed into place)


def sniff_upload(path: Path, label: str) -> str:
    """'video', 'audio', 'image' or 'tracks' by content; HTTP 415 naming the problem otherwise."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    try:
        if head.lstrip()[:1] in (b"{", b"["):
            if path.stat().st_size > TRACKS_MAX_BYTES:
                raise UserError(f"{label} looks like JSON but is too large for a tracks file")
            load_tracks(path)
            return "tracks"
        return media.sniff(path)
    except UserError as exc:
        # The messages name the file by its (server) path: show the client's label instead.
        message = str(exc).replace(str(path), label)
        raise HTTPException(415, f"unsupported upload: {message}") from None
    except Exception as exc:  # FFmpeg can fail in ways media.sniff does not translate: still the client's file
        raise HTTPException(415, f"unsupported upload: {label} could not be read as video, audio, image or "
                                 f"tracks ({type(exc).__name__})") from None
