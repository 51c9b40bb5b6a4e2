"""Entry point of a service job step's child process: `python -m backend.commands._child NICENESS <cli args...>`
(here, beside the CLI it runs, so the service never imports the commands: it only names this module).

Before running the CLI it (1) asks Linux to SIGKILL it when the worker thread that started it dies, so a
killed server leaves no orphan still writing into a job folder, and (2) lowers its CPU priority so the
server answering status calls keeps the CPU on small machines. Both are done here, in the child itself,
rather than in a preexec_fn, which is unsafe in a multi-threaded server.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    expected = os.environ.get("TALKING_HEAD_SERVER_PID")
    if expected and os.getppid() != int(expected):  # the server died between fork and prctl
        os._exit(137)


def main(argv: list[str]) -> int:
    _die_with_parent()
    niceness, cli_args = int(argv[0]), argv[1:]
    if niceness:
        with contextlib.suppress(OSError):
            os.nice(niceness)
    from backend.commands import main as cli_main

    return cli_main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
