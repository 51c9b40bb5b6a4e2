"""`talking-head`: the command line. Each subcommand lives in backend/commands/<name>.py and exposes
`register(subparsers)`; this file only discovers them, runs one, and turns errors into exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback

from backend import __version__
from backend.core.errors import UserError
from backend.core.progress import Cancelled, Progress


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="talking-head",
        description="Audio-driven, personalised talking-face tracks and video (Blender add-on backend).",
    )
    parser.add_argument("--version", action="version", version=f"talking-head {__version__}")
    parser.add_argument("--progress", choices=["bar", "json", "quiet"], default="bar",
                        help="how to show progress: tqdm bars (default), JSON lines on stdout, or nothing")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import backend.commands as commands_pkg

    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"backend.commands.{info.name}")
        module.register(sub)
    for subparser in sub.choices.values():  # global options are accepted after the subcommand too
        subparser.add_argument("--progress", choices=["bar", "json", "quiet"], default=argparse.SUPPRESS,
                               help="how to show progress (same as before the subcommand)")
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                               help="show full tracebacks on errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.expanduser("~/.cache/talking-head/numba"))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    progress = Progress(mode=args.progress)
    try:
        if getattr(args, "prefetch", None):
            args.prefetch(args)  # a command's work that can start before torch is imported
        configure_torch_threads()
        result = args.func(args, progress)
        return int(result or 0)
    except UserError as exc:
        progress.close()
        _report(args, f"error: {exc}", exc.exit_code)
        return exc.exit_code
    except Cancelled as exc:
        progress.close()
        _report(args, f"cancelled: {exc}", 130)
        return 130
    except KeyboardInterrupt:
        progress.close()
        _report(args, "interrupted", 130)
        return 130
    except Exception as exc:  # a bug, not a user error: say so and keep the traceback available
        progress.close()
        if args.debug:
            traceback.print_exc()
        _report(args, f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)
        return 1
    finally:
        progress.close()


def configure_torch_threads() -> None:
    """One torch thread unless TALKING_HEAD_TORCH_THREADS says otherwise.

    Measured on 2 CPU cores with other work running: analyze of a 250-frame 512 px clip took 18.8 s with
    one thread and 88 s with two (threads spin waiting for a busy core). GPU work does not depend on it.
    """
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("TALKING_HEAD_TORCH_THREADS", "1"))))


def _report(args: argparse.Namespace, text: str, code: int) -> None:
    if getattr(args, "progress", "bar") == "json":
        import json

        print(json.dumps({"event": "error", "message": text, "exit_code": code}), flush=True)
    print(text, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
