"""The machine a benchmark ran on, for the results files (shared by the bench scripts)."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import boto3
    import moto

    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "boto3": boto3.__version__,
        "moto": moto.__version__,
        "os": platform.platform(),
    }
