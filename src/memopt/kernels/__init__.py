"""CUDA kernels for the book's hot loops, and the dispatch that decides when they run.

Each kernel file ``<module>.cu`` in this folder holds per-run logic as ``__host__ __device__``
functions and thin ``__global__`` wrappers (one thread a run); ``<module>_host.cpp`` compiles the
same functions for the CPU with the kernels' exact arguments; ``common.cuh`` holds what they
share. The NumPy twin of every kernel is
the ordinary code of the method it accelerates, and it is what runs on the CPU.

:func:`mode` says where a call goes: ``"cupy"`` when the arrays live on a GPU (the kernel is
compiled by CuPy's NVRTC on first use and cached), ``"host"`` when ``MEMOPT_KERNELS=host`` is
set (the host harness through ctypes: this is how the dispatch and the argument marshalling are
tested on machines without a GPU), and ``None`` otherwise (use the NumPy twin).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from memopt.backend import is_cupy_array

KERNEL_DIR = Path(__file__).parent
HOST_VARIABLE = "MEMOPT_KERNELS"
THREADS_PER_BLOCK = 128

#: Argument kinds of every kernel: A read-only real array, W writable real array, L int64 array,
#: U uint8/bool array, i int32, n int64, r real scalar (float or double, as the arrays).
SIGNATURES = {
    "glm_steps": {
        "sgd_steps": "AAirALiiiWW",
        "sag_steps": "AAiirrLiiWWWWUi",
        "saga_steps": "AAiirrLiiWWW",
        "svrg_steps": "AAirrLiiWAA",
    },
    "streaming_steps": {
        "kaczmarz_steps": "AAAiiiWW",
        "sgd_steps": "AAAiiirWW",
    },
    "adamw": {"adamw_step": "nWAWWrrrrrr"},
    "softmax_xent": {"xent_rows": "ALinWW"},
}

_C_TYPES = {np.dtype(np.float32): ("float", ctypes.c_float), np.dtype(np.float64): ("double", ctypes.c_double)}


def mode(*arrays) -> str | None:
    """Where kernels run for these arrays: "cupy", "host" or None (NumPy twin)."""
    if any(is_cupy_array(a) for a in arrays):
        return "cupy"
    if os.environ.get(HOST_VARIABLE, "").strip().lower() == "host":
        return "host"
    return None


def source(module: str) -> str:
    """The CUDA source of a kernel module."""
    if module not in SIGNATURES:
        raise KeyError(f"unknown kernel module {module!r}; known: {', '.join(SIGNATURES)}")
    return (KERNEL_DIR / f"{module}.cu").read_text()


@functools.lru_cache(maxsize=None)
def _cupy_module(module: str):
    import cupy  # noqa: PLC0415 - only on the GPU path

    names = [f"{fn}<{real}>" for fn in SIGNATURES[module] for real in ("float", "double")]
    return cupy.RawModule(code=source(module), options=("--std=c++14", f"-I{KERNEL_DIR}"),
                          name_expressions=names)


def host_library_path(module: str) -> Path:
    """Compile (once per source version) the host harness of ``module`` into a shared library."""
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
        subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-std=c++14", "-I", str(KERNEL_DIR),
                        str(harness), "-o", str(built)], check=True, capture_output=True, text=True)
        os.replace(built, target)  # atomic: concurrent builders agree on one file
    return target


@functools.lru_cache(maxsize=None)
def _host_library(module: str) -> ctypes.CDLL:
    return ctypes.CDLL(str(host_library_path(module)))


def _real_dtype(args, kinds) -> np.dtype:
    dtypes = {np.dtype(a.dtype) for a, k in zip(args, kinds) if k in "AW"}
    if len(dtypes) != 1 or next(iter(dtypes)) not in _C_TYPES:
        raise TypeError(f"kernel arrays must share one dtype, float32 or float64; got {dtypes}")
    return next(iter(dtypes))


def _checked(array, kind: str, real: np.dtype):
    expected = {"A": real, "W": real, "L": np.dtype(np.int64)}.get(kind)
    if kind == "U" and np.dtype(array.dtype).itemsize != 1:
        raise TypeError("flag arrays must be bool or uint8")
    if expected is not None and np.dtype(array.dtype) != expected:
        raise TypeError(f"kernel argument of kind {kind} must be {expected}, got {array.dtype}")
    if not array.flags.c_contiguous:
        raise ValueError("kernel arrays must be C-contiguous")
    return array


def launch(module: str, function: str, threads: int, *args) -> None:
    """Run ``function`` of ``module`` on ``threads`` threads (one a run, element or row) with
    ``args``, on the GPU when the arrays are CuPy arrays and through the host harness otherwise."""
    kinds = SIGNATURES[module][function]
    if len(args) != len(kinds):
        raise TypeError(f"{function} takes {len(kinds)} arguments, got {len(args)}")
    real = _real_dtype(args, kinds)
    c_name, c_real = _C_TYPES[real]
    arrays = [_checked(a, k, real) if k in "AWLU" else a for a, k in zip(args, kinds)]
    where = mode(*[a for a, k in zip(arrays, kinds) if k in "AWLU"])
    if where == "cupy":
        scalars = {"i": np.int32, "n": np.int64, "r": real.type}
        values = tuple(scalars[k](a) if k in scalars else a for a, k in zip(arrays, kinds))
        kernel = _cupy_module(module).get_function(f"{function}<{c_name}>")
        blocks = (threads + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        kernel((blocks,), (THREADS_PER_BLOCK,), values)
        return
    if where != "host":
        raise RuntimeError("kernels run on CuPy arrays, or on the host with MEMOPT_KERNELS=host")
    native = getattr(_host_library(module), f"{function}_{c_name}")
    native.restype = None
    scalars = {"i": ctypes.c_int, "n": ctypes.c_longlong, "r": c_real}
    native.argtypes = [scalars.get(k, ctypes.c_void_p) for k in kinds]
    native(*[a.ctypes.data if k in "AWLU" else a for a, k in zip(arrays, kinds)])
