"""`talking-head serve`: the HTTP backend the Blender add-on talks to (docs/service.md)."""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path

from backend.core.errors import UserError
from backend.core.numbers import KEEP_DAYS, PORT, UPLOAD_MB
from backend.core.progress import Progress


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "talking-head" / "service"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="run the HTTP job service for the Blender add-on",
        description="Serve the versioned job API (/api/v1; OpenAPI at /api/v1/openapi.json): uploads, analyze / "
                    "animate / render / generate jobs in a persistent queue (one worker per GPU, else the CPU), "
                    "status with progress and ETA, cancel, result download. Listens on loopback unless told "
                    "otherwise; any other address needs a token, which every request must then send as "
                    "'Authorization: Bearer TOKEN'. Queued and interrupted jobs resume after a restart. "
                    "Prints 'listening on URL' once ready (a JSON line with --progress json).",
        epilog="Remote GPU box: `TALKING_HEAD_TOKEN=... talking-head serve --host 0.0.0.0`, then set the add-on's "
               "backend URL to http://BOX:8765 with the same token (or keep loopback and use `ssh -L 8765:localhost:8765 BOX`).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=PORT.argparse_type(), default=8765, help="TCP port (default 8765; 0 picks a free one)")
    p.add_argument("--token", default=None,
                   help="bearer token required on every request (default: $TALKING_HEAD_TOKEN; required for a "
                        "non-loopback --host). Prefer the environment variable: command lines are visible to "
                        "other users of the machine")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"where uploads, jobs and profiles live (default: $TALKING_HEAD_DATA or {default_data_dir()})")
    p.add_argument("--max-upload-mb", type=UPLOAD_MB.argparse_type(), default=2048, help="largest accepted upload in MB (default 2048)")
    p.add_argument("--keep-days", type=KEEP_DAYS.argparse_type(), default=7.0, metavar="N",
                   help="delete finished jobs and uploads no queued or running job needs after N days "
                        "(default 7; checked at start and hourly; 0 keeps everything). Profiles are kept")
    p.add_argument("--device", action="append", default=None, metavar="DEV",
                   help="run a worker on this device (cpu, cuda:0, ...); repeat for several. "
                        "Default: one per visible GPU, else one on the CPU")
    p.add_argument("--access-log", action="store_true", help="log every request (noisy under polling)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    import uvicorn

    from backend.service.app import ServiceConfig, create_app
    from backend.service.security import check_bind

    token = args.token if args.token is not None else (os.environ.get("TALKING_HEAD_TOKEN") or None)
    check_bind(args.host, token)
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    if not args.max_upload_mb > 0:
        raise UserError(f"--max-upload-mb must be positive, got {args.max_upload_mb:g}")
    for dev in args.device or []:
        if dev != "cpu" and not (dev.startswith("cuda:") and dev[5:].isdigit()):
            raise UserError(f"--device {dev!r} is not 'cpu' or 'cuda:N'")
    data_dir = args.data_dir or Path(os.environ.get("TALKING_HEAD_DATA") or default_data_dir())
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the data directory {data_dir}: {exc}") from None

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
                        hint="is another server already running there? pick another --port") from None
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    url = f"http://{host}:{port}"

    config = ServiceConfig(data_dir=data_dir.resolve(), token=token,
                           max_upload_bytes=int(args.max_upload_mb * (1 << 20)), devices=args.device or [],
                           keep_days=args.keep_days)
    app = create_app(config)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if args.progress == "json":
                print(json.dumps({"event": "listening", "url": url, "data_dir": str(config.data_dir),
                                  "devices": app.state.workers and [w.device for w in app.state.workers]}),
                      flush=True)
            else:
                print(f"talking-head serve: listening on {url} (data in {config.data_dir})", flush=True)

    server = Server(uvicorn.Config(app, log_level="warning", access_log=args.access_log,
                                   timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
    return 0
