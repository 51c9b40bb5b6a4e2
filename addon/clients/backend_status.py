"""What the panel shows about the backend service: the last health check (reachable? version, device, queue).

Checked on demand (Refresh, after Start local backend), never while drawing: a draw callback must not wait on
the network. Standard library only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import AddonError
from .client import check_online_access
from .service_client import ServiceClient

CHECK_TIMEOUT_S = 3.0  # Refresh blocks the UI this long at most on an unreachable remote host


@dataclass(frozen=True)
class BackendStatus:
    url: str
    ok: bool
    text: str  # one line: "0.1.0 on cuda:0, queue 2 (1 running)" or the error
    version: str = ""
    device: str = ""
    queue_length: int = 0
    running: int = 0
    checked_at: float = 0.0


_last: BackendStatus | None = None


def last(url: str) -> BackendStatus | None:
    """The last check of this URL (None when it was never checked or the URL changed since)."""
    return _last if _last is not None and _last.url == url.strip().rstrip("/") else None


def remember(url: str, ok: bool, text: str) -> BackendStatus:
    global _last
    _last = BackendStatus(url=url.strip().rstrip("/"), ok=ok, text=text, checked_at=time.time())
    return _last


def refresh(url: str, token: str = "", online_access: bool = False) -> BackendStatus:
    """Ask /health now; an unreachable, too old or token-refusing backend gives ok=False with the reason."""
    global _last
    try:
        client = ServiceClient(url, token, timeout=CHECK_TIMEOUT_S)
        check_online_access(client.url, online_access)
        h = client.check()
    except AddonError as exc:
        return remember(url, False, str(exc))
    queue_length, running = int(h.get("queue_length") or 0), int(h.get("running") or 0)
    text = f"{h.get('version')} on {h.get('device')}, queue {queue_length}" + (f" ({running} running)" if running else "")
    _last = BackendStatus(url=url.strip().rstrip("/"), ok=True, text=text, version=str(h.get("version", "")),
                          device=str(h.get("device", "")), queue_length=queue_length, running=running,
                          checked_at=time.time())
    return _last


def forget() -> None:
    global _last
    _last = None
