"""Who may talk to the service.

- Binding: loopback by default; a non-loopback bind needs a token (else anyone on the network could run
  jobs and read results).
- With a token: every request, the OpenAPI page included, must carry `Authorization: Bearer <token>`;
  compared in constant time.
- Without a token (loopback only): a web page in the user's browser could still reach 127.0.0.1, so the
  Host header must name the loopback (defeats DNS rebinding) and a cross-site Origin is refused (defeats
  form posts from other sites), `Origin: null` included (sandboxed iframes on any site send it).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from backend.core.errors import UserError

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback_literal(host: str) -> bool:
    """'localhost' or a loopback IP literal. No DNS: a rebinding attacker's name may resolve to 127.0.0.1."""
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    """True when every address `host` (a bind address) resolves to is a loopback address."""
    if is_loopback_literal(host):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_bind(host: str, token: str | None) -> None:
    if token is not None and len(token) < 16:
        raise UserError("the token is too short (fewer than 16 characters)",
                        hint="use a long random one, e.g. `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`")
    if not is_loopback(host) and not token:
        raise UserError(f"refusing to listen on {host} without a token: anyone who can reach this machine could "
                        "run jobs and download results",
                        hint="pass --token (or set TALKING_HEAD_TOKEN) and give the same token to the add-on, "
                             "or bind to 127.0.0.1 and use an SSH tunnel")


def _host_of(value: str) -> str:
    """The host part of a Host header ('[::1]:8765', 'localhost:8765', '127.0.0.1')."""
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class AccessMiddleware:
    """Pure ASGI (cheap on the hot status path): bearer token when one is set, else loopback-only checks."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.expected is not None:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await _deny(send, 401, "missing or wrong token: send 'Authorization: Bearer <token>' with the "
                                       "token the server was started with", {"www-authenticate": "Bearer"})
                return
        else:
            host = headers.get(b"host", b"").decode("latin-1")
            if host and not is_loopback_literal(_host_of(host)):
                await _deny(send, 403, f"this server accepts only loopback requests (Host: {host}); start it "
                                       "with --token to serve other machines")
                return
            # 'Origin: null' is what sandboxed iframes, file: pages and some redirects send: a page on any site
            # can produce it, so it is as cross-site as a named foreign origin.
            origin = headers.get(b"origin", b"").decode("latin-1")
            if origin and (origin == "null" or not is_loopback_literal(urlsplit(origin).hostname or "")):
                await _deny(send, 403, f"cross-site requests are refused (Origin: {origin})")
                return
        await self.app(scope, receive, send)


async def _deny(send: Callable[[Any], Awaitable[None]], status: int, detail: str,
                extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
