"""Array backend: NumPy by default, CuPy on a GPU.

The device is chosen by ``MEMOPT_DEVICE`` (``cpu``, ``gpu`` or ``auto``; unset means ``cpu``)
or by an explicit ``device=`` argument. CuPy is imported only when a GPU is asked for, never at
module import time, so the CPU path works on machines without CUDA.

Library functions do not take a device argument for their arithmetic: they find the array
module from the arrays they are given (:func:`array_module`), so data placed on the GPU once
stays there.
"""

from __future__ import annotations

import contextlib
import os
from types import ModuleType
from typing import Any

import numpy as np

DEVICES = ("cpu", "gpu", "auto")
DEVICE_VARIABLE = "MEMOPT_DEVICE"


def _import_cupy() -> ModuleType | None:
    try:
        import cupy  # noqa: PLC0415 - deliberately lazy
    except Exception:  # ImportError, or a CUDA library that fails to load
        return None
    return cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    cupy = _import_cupy()
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, or a driver without devices
        return False


def resolve_device(device: str | None = None) -> str:
    """Return ``"cpu"`` or ``"gpu"`` for a requested device (argument, else environment).

    ``"auto"`` means the GPU when one is usable and the CPU otherwise. Asking for ``"gpu"`` on
    a machine without one is an error rather than a silent fall-back, so a GPU timing is
    never a CPU timing in disguise.
    """
    requested = device if device is not None else os.environ.get(DEVICE_VARIABLE, "cpu")
    requested = requested.strip().lower()
    if requested not in DEVICES:
        raise ValueError(
            f"device must be one of {DEVICES} (argument or ${DEVICE_VARIABLE}), got {requested!r}"
        )
    if requested == "cpu":
        return "cpu"
    if gpu_available():
        return "gpu"
    if requested == "auto":
        return "cpu"
    raise RuntimeError(
        "device 'gpu' was requested but no CUDA device is usable here: install the 'gpu' extra "
        "(pip install 'memopt[gpu]') on a machine with an NVIDIA GPU, or use device 'cpu'/'auto'"
    )


def xp_for_device(device: str | None = None) -> ModuleType:
    """The array module (numpy or cupy) for a device request."""
    return np if resolve_device(device) == "cpu" else _import_cupy()


def is_cupy_array(x: Any) -> bool:
    # Checked by the type's module so that CuPy need not be imported to answer "no".
    return type(x).__module__.split(".")[0] == "cupy"


def array_module(*arrays: Any) -> ModuleType:
    """The module (numpy or cupy) that owns the given arrays; NumPy for plain Python values.

    Mixing NumPy and CuPy arrays is an error: it would copy silently between host and device.
    """
    on_gpu = [is_cupy_array(a) for a in arrays if a is not None]
    if any(on_gpu):
        if not all(on_gpu):
            raise TypeError("arrays mix NumPy (host) and CuPy (device); move them to one device")
        return _import_cupy()
    return np


def asarray(x: Any, device: str | None = None, dtype: Any = None):
    """Place ``x`` on the requested device as an array of ``dtype``."""
    xp = xp_for_device(device)
    return xp.asarray(x, dtype=dtype)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy (or view) of a NumPy or CuPy array, or of a Python scalar or list."""
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def device_info(device: str | None = None) -> dict[str, str]:
    """A short description of the device in use, for notebooks and benchmark records."""
    resolved = resolve_device(device)
    info = {"device": resolved, "numpy": np.__version__}
    if resolved == "gpu":
        cupy = _import_cupy()
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        info["cupy"] = cupy.__version__
        info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return info


def single_blas_thread():
    """A context in which NumPy's BLAS uses one thread.

    Experiments made of many small matrix products (batched QR, 20 x 20 solves) run much faster
    this way: OpenBLAS's extra threads cost more to wake than the products take, and on a busy
    machine they spin. threadpoolctl comes with scikit-learn; without it this does nothing.
    """
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:  # pragma: no cover - scikit-learn brings it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
