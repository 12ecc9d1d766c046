"""Last-bit perturbation of an experiment's inputs: another CPU's rounding, on any CPU.

A stored output must reproduce on a reader's machine, whose BLAS and SIMD kernels round
differently from the authors'. Changing the kernels is not always safe (on some processors
``OPENBLAS_CORETYPE`` is set because other kernels crash or compute wrong results there), so
the book exposes the same fragility another way: with ``MEMOPT_PERTURB=ulp`` every input an
experiment draws (features, bases, starting points, initial weights) is multiplied element
by element by 1 + s 2^-52, with signs s = ±1 drawn from a generator seeded by the array's own
bytes. The change is of the size of one rounding error, so a result that survives it survives
another machine's rounding too; one that changes (a count to a tolerance on an
ill-conditioned problem, a float32 training path) is reported as a statistic or compared with
a stated tolerance. ``make test`` runs nbval a second time under the switch.

Unset (or empty), the switch changes nothing: :func:`inputs` returns its argument itself.
"""

from __future__ import annotations

import os
import zlib

import numpy as np

VARIABLE = "MEMOPT_PERTURB"
MODES = ("ulp",)


def mode() -> str | None:
    """The perturbation selected by ``MEMOPT_PERTURB`` (None when unset or empty)."""
    value = os.environ.get(VARIABLE, "").strip().lower()
    if not value:
        return None
    if value not in MODES:
        raise ValueError(f"{VARIABLE} must be unset or one of {', '.join(MODES)}, got {value!r}")
    return value


def inputs(array, precision=np.float64):
    """``array`` as the experiment should use it: itself, or under ``MEMOPT_PERTURB=ulp`` a
    float64 copy with every element multiplied by 1 ± eps, eps the machine epsilon of
    ``precision``, the type the experiment will compute in (signs seeded by the bytes of the
    array, so the same input is always perturbed the same way). Integer arrays are returned
    unchanged: they hold labels, indices and exact ±1 entries, not measurements."""
    if mode() is None:
        return array
    array = np.asarray(array)
    if array.dtype.kind != "f":
        return array
    host = np.ascontiguousarray(array, dtype=np.float64)
    rng = np.random.default_rng(zlib.crc32(host.tobytes()))
    signs = rng.integers(0, 2, size=host.shape) * 2.0 - 1.0
    return host * (1.0 + signs * float(np.finfo(precision).eps))
