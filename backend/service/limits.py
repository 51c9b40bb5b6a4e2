"""Request limits that protect the server itself, as one pure-ASGI middleware (cheap on the status path):

- every route but the upload route takes at most `MAX_JSON_BODY` bytes of body (a job request is a few
  hundred bytes): refused with 413 from Content-Length before reading, or as soon as a streamed body
  passes the limit, so a 200 MB JSON body is never parsed;
- one client (its address, plus its token when one is sent) streams at most `MAX_CONCURRENT_UPLOADS`
  uploads at a time; more are refused with 429 (each can be gigabytes: a page must not open hundreds).
"""

from __future__ import annotations

import collections
import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

Scope = MutableMapping[str, Any]
MAX_JSON_BODY = 1 << 20  # 1 MiB
MAX_CONCURRENT_UPLOADS = 4


class ApiError(HTTPException):
    """An HTTP error with a hint: answered as the documented {detail, hint} JSON body."""

    def __init__(self, status: int, detail: str, hint: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail, headers=headers)
        self.hint = hint


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body larger than {limit // 1024} KiB (the limit on every route but uploads)",
                    "job requests are small JSON documents; send files with POST /api/v1/uploads")


class _TooLarge(ApiError):
    """Raised from inside `receive`: FastAPI passes HTTP errors through its body parsing unchanged."""


async def send_error(send: Callable[[Any], Awaitable[None]], status: int, detail: str, hint: str | None = None,
                     extra: dict[str, str] | None = None) -> None:
    """The service's error body, {detail, hint}, from ASGI code below FastAPI."""
    body = json.dumps({"detail": detail, "hint": hint}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class LimitsMiddleware:
    def __init__(self, app: Any, upload_path: str, max_body: int = MAX_JSON_BODY,
                 max_uploads: int = MAX_CONCURRENT_UPLOADS) -> None:
        self.app, self.upload_path, self.max_body, self.max_uploads = app, upload_path, max_body, max_uploads
        self.active: collections.Counter[str] = collections.Counter()

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path", "").rstrip("/") == self.upload_path:
            await self._upload(scope, receive, send)
        else:
            await self._bounded(scope, receive, send)

    async def _upload(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                      send: Callable[[Any], Awaitable[None]]) -> None:
        client = _client_key(scope)
        if self.active[client] >= self.max_uploads:
            await send_error(send, 429, f"this client already has {self.active[client]} uploads in progress "
                                        f"(at most {self.max_uploads} at a time)",
                             "wait for one to finish, then send the next", {"retry-after": "5"})
            return
        self.active[client] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active[client] -= 1
            if not self.active[client]:
                del self.active[client]

    async def _bounded(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            await self._refuse(send)
            return
        seen, started = 0, False

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    error = body_too_large(self.max_body)
                    raise _TooLarge(error.status_code, str(error.detail), error.hint)
            return message

        async def watched(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Callable[[Any], Awaitable[None]]) -> None:
        error = body_too_large(self.max_body)
        await send_error(send, 413, str(error.detail), error.hint)


def _client_key(scope: Scope) -> str:
    host = (scope.get("client") or ("?", 0))[0]
    auth = dict(scope.get("headers") or []).get(b"authorization", b"")
    return f"{host}|{hashlib.sha256(auth).hexdigest()[:12]}" if auth else str(host)
