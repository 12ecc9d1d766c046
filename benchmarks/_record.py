"""What every benchmark writes beside its timings: the machine it ran on, and the JSON file."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np


def machine(**extra) -> dict:
    """Cores, load and versions at the time of the run (timings mean little without them)."""
    return {"cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
            "python": platform.python_version(), "numpy": np.__version__, **extra}


def write(record: dict, path: Path) -> dict:
    """Write ``record`` as JSON to ``path`` and print it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return record
