"""A network's parameters: named arrays that are views into one flat vector.

Layers declare their parameters (name, shape, initialiser) while the network is assembled;
:meth:`Parameters.allocate` then draws every initial value on the host from one seeded
generator, in declaration order, and places them in a single flat vector on the device.
Gradients live in a second flat vector with the same layout. The optimiser therefore updates
the whole network with a handful of vector operations (no loop over tensors), and a
checkpoint is two vectors and the optimiser's state.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from memopt.backend import array_module, to_numpy
from memopt.perturb import inputs as perturbed

Initialiser = Callable[[np.random.Generator, tuple], np.ndarray]


def normal(std: float) -> Initialiser:
    """Entries i.i.d. N(0, std^2)."""
    return lambda rng, shape: rng.normal(0.0, std, size=shape)


def uniform(bound: float) -> Initialiser:
    """Entries i.i.d. uniform on [-bound, bound] (PyTorch's default for a linear layer is
    bound = 1/sqrt(fan_in))."""
    return lambda rng, shape: rng.uniform(-bound, bound, size=shape)


def constant(value: float) -> Initialiser:
    return lambda rng, shape: np.full(shape, value, dtype=np.float64)


def xavier_uniform(fan_in: int, fan_out: int, gain: float = 1.0) -> Initialiser:
    """Glorot & Bengio (2010): uniform on +-gain sqrt(6 / (fan_in + fan_out)), a variance of
    gain^2 2 / (fan_in + fan_out) that keeps the activations' and the gradients' variance
    through a linear (or tanh, near 0) layer on average between the two directions."""
    return uniform(gain * math.sqrt(6.0 / (fan_in + fan_out)))


def he_normal(fan_in: int, gain: float = 1.0) -> Initialiser:
    """He et al. (2015): N(0, gain^2 2 / fan_in), which keeps the second moment of the
    activations constant through ReLU layers (a ReLU halves it; the factor 2 restores it)."""
    return normal(gain * math.sqrt(2.0 / fan_in))


class Parameters:
    """Named parameter arrays sharing one flat vector, and their gradients sharing another."""

    def __init__(self):
        self._specs: dict[str, tuple[tuple[int, ...], Initialiser]] = {}
        self.vector = None
        self.grad = None
        self._views: dict[str, object] = {}
        self._grad_views: dict[str, object] = {}

    def declare(self, name: str, shape: tuple[int, ...], init: Initialiser) -> str:
        if self.vector is not None:
            raise RuntimeError("parameters are already allocated; declare every one first")
        if name in self._specs:
            raise ValueError(f"parameter {name!r} is declared twice")
        shape = tuple(int(s) for s in shape)
        if any(s < 1 for s in shape):
            raise ValueError(f"parameter {name!r} needs positive dimensions, got {shape}")
        self._specs[name] = (shape, init)
        return name

    def allocate(self, seed: int, dtype=np.float32, xp=np) -> "Parameters":
        """Draw the initial values (host RNG ``default_rng(seed)``, declaration order) and
        place them in one flat vector of ``dtype`` on the device of ``xp``."""
        rng = np.random.default_rng(seed)
        host = perturbed(np.concatenate([np.asarray(init(rng, shape), dtype=np.float64).ravel()
                               for shape, init in self._specs.values()]), precision=dtype)
        self.vector = xp.asarray(host.astype(dtype))
        self.grad = xp.zeros_like(self.vector)
        start = 0
        for name, (shape, _) in self._specs.items():
            stop = start + math.prod(shape)
            self._views[name] = self.vector[start:stop].reshape(shape)
            self._grad_views[name] = self.grad[start:stop].reshape(shape)
            start = stop
        return self

    def __getitem__(self, name: str):
        return self._views[name]

    def gradient(self, name: str):
        """The gradient's view for ``name`` (layers write into it in their backward pass)."""
        return self._grad_views[name]

    def names(self) -> list[str]:
        return list(self._specs)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._specs[name][0]

    @property
    def size(self) -> int:
        return sum(math.prod(shape) for shape, _ in self._specs.values())

    @property
    def dtype(self):
        return self.vector.dtype

    def norm(self) -> float:
        """The Euclidean norm of all parameters together, accumulated in float64."""
        v = self.vector.astype(np.float64) if self.vector.dtype != np.float64 else self.vector
        return float(to_numpy((v * v).sum()) ** 0.5)

    def load(self, values) -> None:
        """Overwrite every parameter from a flat vector (e.g. a checkpoint), in place so that
        the views stay valid."""
        values = np.asarray(to_numpy(values))
        if values.shape != (self.size,):
            raise ValueError(f"expected a flat vector of {self.size} values, got shape {values.shape}")
        self.vector[...] = array_module(self.vector).asarray(values, dtype=self.vector.dtype)
