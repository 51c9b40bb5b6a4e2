"""`talking-head`: the command line. Each subcommand lives in backend/commands/<name>.py and exposes
`register(subparsers)`; this file only discovers them, runs one, and turns errors into exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback
import warnings

from backend import __version__
from backend.core.errors import Note, UserError
from backend.core.oserrors import user_error_from_os
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
    _route_notes(progress)
    if not args.debug:
        # After a real error (a full disk), objects being collected may fail to flush again (ZipFile.__del__):
        # the first error is what the user needs; the echoes are tracebacks only --debug shows.
        sys.unraisablehook = lambda _unraisable: None
    try:
        check_output_dir(args)
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
    except Exception as exc:  # the environment (a full disk) or a bug: say which, keep the traceback available
        progress.close()
        env = environment_error(exc, args)
        if env is not None:
            if args.debug:
                traceback.print_exc()
            _report(args, f"error: {env}", env.exit_code)
            return env.exit_code
        if args.debug:
            traceback.print_exc()
        _report(args, f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)
        return 1
    finally:
        progress.close()


def check_output_dir(args: argparse.Namespace) -> None:
    """Every command's -o: its folder must be writable before any work starts (not after an hour of it)."""
    output = getattr(args, "output", None)
    if output is not None:
        from backend.core.diskspace import writable_dir

        writable_dir(os.path.dirname(os.path.abspath(output)), "output")


def _route_notes(progress: Progress) -> None:
    """Show the stages' `Note` warnings as progress messages; other warnings keep Python's handling."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001 - stdlib's
        if issubclass(category, Note):
            progress.message(f"note: {message}")
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.simplefilter("always", Note)


def environment_error(exc: BaseException, args: argparse.Namespace) -> UserError | None:
    """A UserError when `exc` (or what caused it) is an OS error the user can fix, or when a library hid a
    full disk behind its own exception (torch.save raises RuntimeError): the output's disk is then full."""
    output = getattr(args, "output", None)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            error = user_error_from_os(seen, output)
            if error is not None:
                return error
        seen = seen.__cause__ or seen.__context__
    from backend.core.diskspace import MB, require_free_space

    for place in (output, getattr(args, "profile", None), getattr(args, "data_dir", None)):
        if place is not None:
            try:
                require_free_space(os.path.dirname(os.path.abspath(place)), MB, "output")
            except UserError as full:
                return full
    return None


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
