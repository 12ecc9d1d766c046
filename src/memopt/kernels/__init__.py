"""The book's hot loops as kernels: CUDA sources, their compiled CPU twins, and one typed wrapper
per kernel that checks its arguments and sends the call where it runs.

Each kernel file ``<module>.cu`` in this folder holds per-run logic as ``__host__ __device__``
functions and thin ``__global__`` wrappers (one thread a run); ``<module>_host.cpp`` compiles the
same functions for the CPU with the kernels' exact arguments; ``common.cuh`` holds what they
share. :mod:`memopt.kernels.cpu` writes the per-run logic of the stochastic and streaming
kernels once more for Numba. The NumPy twin of every kernel is the ordinary code of the method
it accelerates, and it stays the reference.

:func:`mode` says where a call goes:

* ``"cupy"`` when the arrays live on a GPU: the kernel is compiled by CuPy's NVRTC on first use
  (from :func:`cuda_source`, which inlines ``common.cuh``, so CuPy's cache, keyed by the source
  text, sees an edited header) and cached;
* ``"numba"``, the compiled CPU path, for the kernels that have one (``compiled=True``: the
  stochastic engine and the streaming methods) — the default on the CPU;
* ``"host"`` when ``MEMOPT_KERNELS=host`` is set: the host harness through ctypes, which is how
  the CUDA source's own logic and the argument marshalling are tested without a GPU;
* ``None``: the NumPy twin, with ``MEMOPT_KERNELS=numpy``, for the kernels without a compiled
  CPU path, and (with a one-line notice) when Numba is not installed.

The wrappers (:func:`sgd_steps`, :func:`sag_steps`, ...) take every size from the arrays and
check dtype, order, shape, device and index ranges, raising a ``ValueError`` or ``TypeError``
that names the argument instead of launching: a size that disagrees with an array is an
out-of-bounds access in compiled code.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from memopt.backend import array_module, is_cupy_array
from memopt.kernels import cpu

KERNEL_DIR = Path(__file__).parent
HOST_VARIABLE = "MEMOPT_KERNELS"
#: Values of MEMOPT_KERNELS: unset or "numba" (the compiled CPU path where one exists),
#: "numpy" (the NumPy twins), "host" (the g++ host harness of the CUDA sources).
CHOICES = ("", "numba", "numpy", "host")
THREADS_PER_BLOCK = 128

#: The __global__ kernels of every module (each is instantiated for float and double).
KERNELS = {
    "glm_steps": ("sgd_steps", "sag_steps", "saga_steps", "svrg_steps"),
    "streaming_steps": ("kaczmarz_steps", "sgd_steps"),
    "adamw": ("adamw_step",),
    "softmax_xent": ("xent_rows",),
}

_INT32_MAX = 2**31 - 1


# -- where a call runs ---------------------------------------------------------------------------
def mode(*arrays, compiled: bool = False) -> str | None:
    """Where kernels run for these arrays: "cupy", "numba", "host" or None (NumPy twin).

    ``compiled=True`` for the kernels that have a compiled CPU path (:mod:`memopt.kernels.cpu`).
    """
    if any(is_cupy_array(a) for a in arrays):
        return "cupy"
    choice = os.environ.get(HOST_VARIABLE, "").strip().lower()
    if choice not in CHOICES:
        raise ValueError(f"{HOST_VARIABLE} must be one of {', '.join(repr(c) for c in CHOICES)}, got {choice!r}")
    if choice == "host":
        return "host"
    if choice == "numpy" or not compiled:
        return None
    if cpu.available():
        return "numba"
    _fallback_notice()
    return None


@functools.lru_cache(maxsize=None)
def _fallback_notice() -> None:
    # Once per process: the results are the same, only slower.
    print("memopt: numba is not installed, so the stochastic and streaming methods run their "
          "NumPy twins (same results, slower): pip install numba", file=sys.stderr)


# -- sources and their compilation ---------------------------------------------------------------
def source(module: str) -> str:
    """The CUDA source of a kernel module, as written."""
    if module not in KERNELS:
        raise KeyError(f"unknown kernel module {module!r}; known: {', '.join(KERNELS)}")
    return (KERNEL_DIR / f"{module}.cu").read_text()


_LOCAL_INCLUDE = re.compile(r'^#include "([A-Za-z0-9_]+\.cuh)"[ \t]*$', re.MULTILINE)


def cuda_source(module: str) -> str:
    """The source CuPy compiles: :func:`source` with each ``#include "<name>.cuh"`` of this
    folder replaced by the header's text. CuPy keys its kernel cache by the source text and
    options, not by the files an include reaches, so an edited header must be in the text."""
    def inline(match):
        header = (KERNEL_DIR / match.group(1)).read_text()
        return header.replace("#pragma once\n", "")  # one copy per source: the guard is moot
    return _LOCAL_INCLUDE.sub(inline, source(module))


@functools.lru_cache(maxsize=None)
def cupy_module(module: str):
    """The CuPy RawModule of ``module``, compiled by NVRTC for float and double on first use."""
    import cupy  # noqa: PLC0415 - only on the GPU path

    names = [f"{fn}<{real}>" for fn in KERNELS[module] for real in ("float", "double")]
    return cupy.RawModule(code=cuda_source(module), options=("--std=c++17",), name_expressions=names)


def host_library_path(module: str) -> Path:
    """Compile (once per source version) the host harness of ``module`` into a shared library.
    A failed compilation raises RuntimeError with the compiler's own message."""
    harness = KERNEL_DIR / f"{module}_host.cpp"
    shared = b"".join(p.read_bytes() for p in sorted(KERNEL_DIR.glob("*.cuh")))
    digest = hashlib.sha256(source(module).encode() + harness.read_bytes() + shared).hexdigest()[:16]
    root = Path(os.environ.get("MEMOPT_CACHE", Path.home() / ".cache" / "memopt")) / "kernels"
    target = root / f"{module}-{digest}.so"
    if target.exists():
        return target
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        raise RuntimeError("the host harness needs a C++ compiler (g++ or $CXX) on PATH")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        built = Path(scratch) / target.name
        done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-std=c++14", "-I", str(KERNEL_DIR),
                               str(harness), "-o", str(built)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"compiling the host harness {harness.name} with {compiler} failed "
                               f"(exit status {done.returncode}):\n{(done.stderr or done.stdout).strip()}")
        os.replace(built, target)  # atomic: concurrent builders agree on one file
    return target


@functools.lru_cache(maxsize=None)
def _host_library(module: str) -> ctypes.CDLL:
    return ctypes.CDLL(str(host_library_path(module)))


# -- launching -----------------------------------------------------------------------------------
class _Scalar(NamedTuple):
    """A scalar argument of a kernel: ``kind`` is "int32", "int64" or "real" (the arrays' dtype)."""

    kind: str
    value: float


#: The one marshalling table: a scalar's kind -> (NumPy type, for CuPy and Numba; ctypes type,
#: for the host harness). Reals are keyed by the arrays' dtype.
_SCALAR_TYPES = {
    "int32": (np.int32, ctypes.c_int32),
    "int64": (np.int64, ctypes.c_int64),
    np.dtype(np.float32): (np.float32, ctypes.c_float),
    np.dtype(np.float64): (np.float64, ctypes.c_double),
}


def _marshal(value, real: np.dtype, where: str):
    if isinstance(value, _Scalar):
        numpy_type, c_type = _SCALAR_TYPES[real if value.kind == "real" else value.kind]
        return c_type(value.value) if where == "host" else numpy_type(value.value)
    if where == "host":
        return ctypes.c_void_p(value.ctypes.data)
    return value


def _launch(module: str, function: str, where: str, real: np.dtype, threads: int, work: int, args) -> None:
    """Run ``function`` of ``module`` on ``threads`` threads (one a run, element or row) with
    the checked ``args`` (arrays and scalars, in the kernel's order), where ``where`` says.
    ``work`` (element operations) decides whether the compiled CPU path uses several threads."""
    if threads == 0:
        return  # nothing to do, and a launch of 0 blocks is an invalid configuration
    values = [_marshal(a, real, where) for a in args]
    c_name = _SCALAR_TYPES[real][1].__name__[2:]  # c_float -> float
    if where == "cupy":
        kernel = cupy_module(module).get_function(f"{function}<{c_name}>")
        blocks = (threads + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        kernel((blocks,), (THREADS_PER_BLOCK,), tuple(values))
    elif where == "numba":
        cpu.launch(module, function, threads, work, values)
    elif where == "host":
        native = getattr(_host_library(module), f"{function}_{c_name}")
        native.restype = None
        native(*values)
    else:
        raise RuntimeError(
            "kernels run on CuPy arrays, through Numba on the CPU, or on the host with MEMOPT_KERNELS=host"
        )


# -- argument checks -----------------------------------------------------------------------------
def _int32(name: str, value: int) -> _Scalar:
    if value > _INT32_MAX:
        raise ValueError(f"{name} = {value} exceeds the kernels' 32-bit sizes ({_INT32_MAX})")
    return _Scalar("int32", int(value))


def _real(name: str, value, *, positive: bool = False, signed: bool = False) -> _Scalar:
    """A real scalar: finite, and > 0 (``positive``), of any sign (``signed``) or else >= 0."""
    value = float(value)
    if not np.isfinite(value) or (value < 0 and not signed) or (positive and value <= 0):
        bound = "> 0" if positive else "" if signed else ">= 0"
        raise ValueError(f"{name} must be finite{' and ' + bound if bound else ''}, got {value}")
    return _Scalar("real", value)


def _array(name: str, array, shape: tuple, real: np.dtype | None = None, *, writable: bool = False):
    """``array`` if it is a C-contiguous real array of ``shape`` and dtype ``real`` (float32 or
    float64 when ``real`` is None)."""
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(array).__name__}")
    wanted = (np.dtype(np.float32), np.dtype(np.float64)) if real is None else (np.dtype(real),)
    if np.dtype(dtype) not in wanted:
        raise TypeError(f"{name} must have dtype {' or '.join(map(str, wanted))}, got {dtype}")
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(array.shape)}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (numpy.ascontiguousarray), got another layout")
    if writable and not getattr(array.flags, "writeable", True):
        raise ValueError(f"{name} must be writable (the kernel updates it in place)")
    return array


def _state(state, key: str, shape: tuple, real: np.dtype):
    if key not in state:
        raise ValueError(f"state must hold {key!r} (it holds {', '.join(map(repr, state)) or 'nothing'})")
    return _array(f"state[{key!r}]", state[key], shape, real, writable=True)


def _indices(name: str, indices, ndim: int, bound: int, *, labels: bool = False):
    """int64 C-contiguous ``indices`` of ``ndim`` dimensions, every entry in [0, bound)."""
    dtype = getattr(indices, "dtype", None)
    if dtype is None or np.dtype(dtype) != np.int64:
        raise TypeError(f"{name} must be an int64 array, got {dtype if dtype is not None else type(indices).__name__}")
    if indices.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(indices.shape)}")
    if not indices.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (numpy.ascontiguousarray), got another layout")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= bound):
        what = f"class labels for {bound} classes" if labels else f"sample indices of {bound} samples"
        raise ValueError(f"{name} must lie in [0, {bound}) ({what})")
    return indices


def _glm_data(features, labels):
    """The features (n, p) and labels (n,) of a logistic problem, checked; their dtype."""
    if getattr(features, "ndim", None) != 2 or 0 in features.shape:
        raise ValueError(f"features must be a non-empty 2-D array, got shape {getattr(features, 'shape', None)}")
    A = _array("features", features, features.shape)
    y = _array("labels", labels, (A.shape[0],), A.dtype)
    return A, y, np.dtype(A.dtype)


def _where(arrays, compiled: bool) -> str:
    array_module(*arrays)  # mixing host and device arrays is a TypeError
    where = mode(*arrays, compiled=compiled)
    if where is None:
        raise RuntimeError(
            f"no kernel runs these arrays here (MEMOPT_KERNELS={os.environ.get(HOST_VARIABLE, '')!r}"
            f"{'' if cpu.available() else ', numba missing'}): call the NumPy twin instead"
        )
    return where


# -- the typed wrappers: glm_steps.cu ------------------------------------------------------------
def sgd_steps(features, labels, mu, alphas, indices, state) -> None:
    """T steps of mini-batch SGD on L2-regularised logistic regression for R runs in one launch:
    step t of run r takes the B samples ``indices[t, r]`` (int64, shape (T, R, B)) with step
    ``alphas[t]`` (shape (T,)); updates ``state["x"]`` (R, p) in place."""
    A, y, real = _glm_data(features, labels)
    n, p = A.shape
    indices = _indices("indices", indices, 3, n)
    T, R, B = indices.shape
    x = _state(state, "x", (R, p), real)
    alphas = _array("alphas", alphas, (T,), real)
    where = _where((A, y, indices, x, alphas), compiled=True)
    scratch = array_module(x).empty((R, B), dtype=real)
    _launch("glm_steps", "sgd_steps", where, real, R, T * R * B * p,
            [A, y, _int32("p", p), _real("mu", mu), alphas, indices, _int32("T", T), _int32("R", R),
             _int32("B", B), x, scratch])


def sag_steps(features, labels, mu, alpha, indices, state) -> None:
    """T steps of SAG with the GLM table for R runs: step t of run r takes sample
    ``indices[t, r]`` (int64, shape (T, R)). ``state`` holds ``x`` (R, p), ``table`` (R, n),
    ``total`` (R, p) and ``denominators`` (R,), and ``seen`` (R, n, bool) when the sum is
    divided by the samples seen so far; all are updated in place."""
    A, y, real = _glm_data(features, labels)
    n, p = A.shape
    indices = _indices("indices", indices, 2, n)
    T, R = indices.shape
    x, table = _state(state, "x", (R, p), real), _state(state, "table", (R, n), real)
    total, denominators = _state(state, "total", (R, p), real), _state(state, "denominators", (R,), real)
    xp = array_module(x)
    normalize = state.get("seen") is not None
    if normalize:
        seen = state["seen"]
        if getattr(seen, "dtype", None) not in (np.dtype(bool), np.dtype(np.uint8)):
            raise TypeError(f"state['seen'] must be a bool or uint8 array, got {getattr(seen, 'dtype', type(seen))}")
        seen = _array("state['seen']", seen.view(np.uint8), (R, n), np.uint8, writable=True)
    else:
        seen = xp.zeros((1, 1), dtype=np.uint8)  # never read
    where = _where((A, y, indices, x, table, total, denominators, seen), compiled=True)
    _launch("glm_steps", "sag_steps", where, real, R, T * R * p,
            [A, y, _int32("n", n), _int32("p", p), _real("mu", mu), _real("alpha", alpha, positive=True),
             indices, _int32("T", T), _int32("R", R), x, table, total, denominators, seen,
             _Scalar("int32", int(normalize))])


def saga_steps(features, labels, mu, alpha, indices, state) -> None:
    """T steps of SAGA with the GLM table for R runs (``indices`` int64 (T, R)); ``state``
    holds ``x`` (R, p), ``table`` (R, n) and ``total`` (R, p), updated in place."""
    A, y, real = _glm_data(features, labels)
    n, p = A.shape
    indices = _indices("indices", indices, 2, n)
    T, R = indices.shape
    x, table = _state(state, "x", (R, p), real), _state(state, "table", (R, n), real)
    total = _state(state, "total", (R, p), real)
    where = _where((A, y, indices, x, table, total), compiled=True)
    _launch("glm_steps", "saga_steps", where, real, R, T * R * p,
            [A, y, _int32("n", n), _int32("p", p), _real("mu", mu), _real("alpha", alpha, positive=True),
             indices, _int32("T", T), _int32("R", R), x, table, total])


def svrg_steps(features, labels, mu, alpha, indices, state) -> None:
    """T inner steps of SVRG for R runs (``indices`` int64 (T, R)) around the snapshots in
    ``state``: ``x`` (R, p), updated in place; ``snapshot`` and ``snapshot_gradient`` (R, p)."""
    A, y, real = _glm_data(features, labels)
    n, p = A.shape
    indices = _indices("indices", indices, 2, n)
    T, R = indices.shape
    x = _state(state, "x", (R, p), real)
    snapshot = _array("state['snapshot']", state.get("snapshot"), (R, p), real)
    gradient = _array("state['snapshot_gradient']", state.get("snapshot_gradient"), (R, p), real)
    where = _where((A, y, indices, x, snapshot, gradient), compiled=True)
    _launch("glm_steps", "svrg_steps", where, real, R, 2 * T * R * p,
            [A, y, _int32("p", p), _real("mu", mu), _real("alpha", alpha, positive=True), indices,
             _int32("T", T), _int32("R", R), x, snapshot, gradient])


# -- streaming_steps.cu --------------------------------------------------------------------------
def _stream(rows, labels, targets, state):
    if getattr(rows, "ndim", None) != 3:
        raise ValueError(f"rows must have shape (R, T, d), got {getattr(rows, 'shape', None)}")
    R, T, d = rows.shape
    rows = _array("rows", rows, rows.shape)
    real = np.dtype(rows.dtype)
    labels = _array("labels", labels, (R, T), real)
    targets = _array("targets", targets, (R, d), real)
    x = _state(state, "x", (R, d), real)
    errors = array_module(x).empty((R, T), dtype=real)
    where = _where((rows, labels, targets, x), compiled=True)
    return where, real, (R, T, d), [rows, labels, targets, _int32("T", T), _int32("R", R), _int32("d", d)], x, errors


def kaczmarz_steps(rows, labels, targets, state):
    """T samples of randomized Kaczmarz for R trials: ``rows`` (R, T, d), ``labels`` (R, T),
    the hidden ``targets`` (R, d); updates ``state["x"]`` (R, d) in place and returns
    ||x - target|| after every sample, shape (R, T)."""
    where, real, (R, T, d), args, x, errors = _stream(rows, labels, targets, state)
    _launch("streaming_steps", "kaczmarz_steps", where, real, R, 3 * R * T * d, [*args, x, errors])
    return errors


def streaming_sgd_steps(rows, labels, targets, step, state):
    """T samples of SGD on (1/2)(<a, x> - b)^2 with a constant ``step`` for R trials; arguments
    and result as :func:`kaczmarz_steps`."""
    where, real, (R, T, d), args, x, errors = _stream(rows, labels, targets, state)
    _launch("streaming_steps", "sgd_steps", where, real, R, 3 * R * T * d,
            [*args, _real("step", step, positive=True), x, errors])
    return errors


# -- adamw.cu and softmax_xent.cu (GPU, or the host harness; their CPU path is NumPy) -------------
def adamw_step(x, g, m, v, *, decay, beta1, beta2, inv_sqrt_c2, eps, step_scale) -> None:
    """One fused AdamW update of every element of ``x`` (in place) and its moments ``m``, ``v``
    from the gradient ``g``; all four of one shape and dtype."""
    x = _array("x", x, getattr(x, "shape", ()), writable=True)
    real = np.dtype(x.dtype)
    g = _array("g", g, x.shape, real)
    m, v = _array("m", m, x.shape, real, writable=True), _array("v", v, x.shape, real, writable=True)
    where = _where((x, g, m, v), compiled=False)
    scalars = [_real(name, value, signed=True)
               for name, value in (("decay", decay), ("beta1", beta1), ("beta2", beta2),
                                   ("inv_sqrt_c2", inv_sqrt_c2), ("eps", eps), ("step_scale", step_scale))]
    _launch("adamw", "adamw_step", where, real, x.size, x.size,
            [_Scalar("int64", x.size), x, g, m, v, *scalars])


def xent_rows(logits, labels):
    """Softmax cross-entropy of each row of ``logits`` (B, C) against ``labels`` (int64, (B,),
    each in [0, C)) and its gradient divided by B: returns (losses (B,), gradient (B, C))."""
    if getattr(logits, "ndim", None) != 2 or logits.shape[1] == 0:
        raise ValueError(f"logits must have shape (B, C) with C >= 1, got {getattr(logits, 'shape', None)}")
    logits = _array("logits", logits, logits.shape)
    B, C = logits.shape
    labels = _indices("labels", labels, 1, C, labels=True)
    if labels.shape != (B,):
        raise ValueError(f"labels must have shape ({B},) to match logits, got {tuple(labels.shape)}")
    real = np.dtype(logits.dtype)
    xp = array_module(logits)
    losses, gradient = xp.empty(B, dtype=real), xp.empty_like(logits)
    where = _where((logits, labels), compiled=False)
    _launch("softmax_xent", "xent_rows", where, real, B, B * C,
            [logits, labels, _int32("C", C), _Scalar("int64", B), losses, gradient])
    return losses, gradient


@contextlib.contextmanager
def using(choice: str):
    """A context in which kernels run where ``choice`` says (a value of MEMOPT_KERNELS:
    "numba", "numpy" or "host"); the previous setting is restored afterwards."""
    if choice not in CHOICES:
        raise ValueError(f"choice must be one of {', '.join(repr(c) for c in CHOICES)}, got {choice!r}")
    before = os.environ.get(HOST_VARIABLE)
    os.environ[HOST_VARIABLE] = choice
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(HOST_VARIABLE, None)
        else:
            os.environ[HOST_VARIABLE] = before
