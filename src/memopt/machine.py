"""Where a stored result or timing was made: processor, cores, load, BLAS kernels, versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np


def processor() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), else what platform says."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def blas() -> list[dict]:
    """The BLAS libraries NumPy loaded, with the kernels and threads they use (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415
    except ImportError:
        return []
    return [{key: info.get(key) for key in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpool_info() if info.get("user_api") == "blas"]


def description(**extra) -> dict:
    """Cores, load and versions now (timings mean little without them), plus ``extra``."""
    return {"processor": processor(), "cpu_count": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2), "python": platform.python_version(),
            "numpy": np.__version__, "blas": blas(), **extra}
