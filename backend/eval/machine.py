"""Machine facts recorded with every eval report and benchmark, so figures can be compared honestly."""

from __future__ import annotations

import contextlib
import os
import platform

from backend import __version__
from backend.core.errors import UserError


def check_device(device: str) -> str:
    if device not in ("cpu", "cuda"):
        raise UserError(f"--device must be cpu or cuda, got {device!r}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but torch sees no CUDA device", hint="use --device cpu")
    return device


def machine_info(device: str) -> dict:
    import torch

    info: dict = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                  "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": device,
                  "software_version": __version__}
    with contextlib.suppress(OSError, ValueError):
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * page / 2**30, 1)
    with contextlib.suppress(OSError):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
