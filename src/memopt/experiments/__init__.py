"""One module per chapter. Each defines ``NAME``, ``DESCRIPTION``, a frozen ``Config``
dataclass, ``SCALES`` (``"book"``: what the notebook runs; ``"paper"``: the larger runs for a
workstation or GPU), ``run(config, progress=False) -> Result``, ``figures(result)`` and
``summary(result)``. The command line (``memopt run``) drives them through this registry."""

from __future__ import annotations

import importlib
from types import ModuleType

#: Experiment name -> module path, in the order of the book.
EXPERIMENTS = {
    "ovg": "memopt.experiments.ovg",
    "convex_memory": "memopt.experiments.convex_memory",
    "regression_memory": "memopt.experiments.regression_memory",
    "multiscale": "memopt.experiments.multiscale",
    "icl_newton": "memopt.experiments.icl_newton",
    "icl_trained": "memopt.experiments.icl_trained",
    "icl_architectures": "memopt.experiments.icl_architectures",
    "sgd": "memopt.experiments.sgd",
    "sag": "memopt.experiments.sag",
    "grokking": "memopt.experiments.grokking",
    "double_descent": "memopt.experiments.double_descent",
    "adaptive": "memopt.experiments.adaptive",
    "optimizers": "memopt.experiments.optimizers",
    "checkpointing": "memopt.experiments.checkpointing",
    "landscape": "memopt.experiments.landscape",
    "initialisation": "memopt.experiments.initialisation",
    "sharpness": "memopt.experiments.sharpness",
}


def get(name: str) -> ModuleType:
    """The experiment module called ``name``."""
    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])
