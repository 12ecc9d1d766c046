"""What every benchmark writes beside its timings: the machine it ran on, and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from memopt.machine import description as machine  # noqa: F401  (the benchmarks import it from here)


def write(record: dict, path: Path) -> dict:
    """Write ``record`` as JSON to ``path`` and print it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return record
