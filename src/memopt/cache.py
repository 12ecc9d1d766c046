"""Experiment results stored on disk under a hash of their configuration.

An entry is ``MAGIC + sha256(payload) + payload`` where the payload is a pickle of the result.
Reading an entry verifies the digest first: a truncated, overwritten or otherwise corrupt entry
is reported with a warning, deleted and recomputed, never trusted and never a crash. Writes go
to a temporary file renamed into place, so an interrupted run leaves no half-written entry.

The key covers the experiment's name, its configuration and the library version, so a changed
setting or a new release never reads an old result. The cache is for the command line and for
paper-scale runs; the book's notebooks compute their results afresh, so that nbval checks the
code and not a stored answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

from memopt import __version__, perturb

MAGIC = b"MEMOPT-CACHE-1\n"
DIGEST_BYTES = 32
CACHE_VARIABLE = "MEMOPT_CACHE"


class CorruptEntryWarning(UserWarning):
    """A cache entry failed its integrity check and will be recomputed."""


def _plain(config: Any) -> Any:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, dict):
        return {str(k): _plain(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [_plain(v) for v in config]
    if config is None or isinstance(config, (bool, int, float, str)):
        return config
    raise TypeError(
        f"configurations must hold dataclasses, dicts, lists and plain scalars; got {type(config).__name__}"
    )


def config_key(name: str, config: Any) -> str:
    """A stable hex key for (experiment name, configuration, library version)."""
    text = json.dumps(
        {"experiment": name, "config": _plain(config), "version": __version__, "perturb": perturb.mode()},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def default_root() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE, Path.home() / ".cache" / "memopt"))


class ResultCache:
    """Results on disk, one file per (experiment, configuration, part)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path(self, name: str, config: Any, part: str = "result") -> Path:
        if not name.isidentifier() or not part.isidentifier():
            raise ValueError(f"name and part must be identifiers, got {name!r}, {part!r}")
        return self.root / name / f"{config_key(name, config)}.{part}.pkl"

    def load(self, name: str, config: Any, part: str = "result") -> Any | None:
        """The stored value, or None when there is none or it is corrupt (then it is deleted)."""
        path = self.path(name, config, part)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        header = len(MAGIC) + DIGEST_BYTES
        payload = blob[header:]
        intact = (
            blob[: len(MAGIC)] == MAGIC
            and len(blob) > header
            and hashlib.sha256(payload).digest() == blob[len(MAGIC) : header]
        )
        if intact:
            try:
                return pickle.loads(payload)
            except Exception:  # digest matched but the class changed shape: treat as corrupt
                pass
        warnings.warn(
            f"cache entry {path} is corrupt; it will be recomputed", CorruptEntryWarning, stacklevel=2
        )
        path.unlink(missing_ok=True)
        return None

    def save(self, name: str, config: Any, value: Any, part: str = "result") -> Path:
        path = self.path(name, config, part)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(MAGIC + hashlib.sha256(payload).digest() + payload)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def get_or_compute(self, name: str, config: Any, compute: Callable[[], Any]) -> Any:
        """The cached result for ``config``, computing and storing it when absent or corrupt."""
        value = self.load(name, config)
        if value is None:
            value = compute()
            self.save(name, config, value)
        return value
