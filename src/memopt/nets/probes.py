"""Linear probes: what a network's hidden state says about a target, read by a linear map.

A probe (Alain and Bengio 2016) is an affine map h -> <v, h> + c fitted by least squares
from a layer's hidden states to a target, on data the network was not evaluated on, and then
applied to fresh inputs. A small ridge penalty (on v only) keeps the fit well posed when the
hidden units are nearly collinear, as after a layer norm, whose outputs sum to a constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memopt._checks import real


@dataclass(frozen=True)
class LinearProbe:
    """h -> h @ weight + bias for hidden states h of shape (..., width)."""

    weight: np.ndarray
    bias: float

    def predict(self, hidden) -> np.ndarray:
        hidden = np.asarray(hidden, dtype=np.float64)
        if hidden.shape[-1:] != self.weight.shape:
            raise ValueError(f"hidden states must end in width {self.weight.size}, got shape {hidden.shape}")
        return hidden @ self.weight + self.bias


def fit_probe(hidden, targets, ridge: float = 1e-6) -> LinearProbe:
    """The probe minimising mean((h v + c - y)^2) + ridge |v|^2 over rows of ``hidden``
    (..., width) and ``targets`` (...): centred least squares in float64,
    v = (H_c^T H_c / N + ridge I)^-1 H_c^T y_c / N and c = mean(y) - mean(h) v."""
    hidden = np.asarray(hidden, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if hidden.ndim < 2 or hidden.shape[:-1] != targets.shape:
        raise ValueError(f"hidden must have shape targets.shape + (width,), got {hidden.shape} and "
                         f"{targets.shape}")
    ridge = real("ridge", ridge, strict=False)
    h = hidden.reshape(-1, hidden.shape[-1])
    y = targets.ravel()
    if h.shape[0] < 2:
        raise ValueError("a probe needs at least two rows to fit")
    h_mean, y_mean = h.mean(axis=0), y.mean()
    hc = h - h_mean
    gram = hc.T @ hc / h.shape[0] + ridge * np.eye(h.shape[1])
    weight = np.linalg.solve(gram, hc.T @ (y - y_mean) / h.shape[0])
    return LinearProbe(weight, float(y_mean - h_mean @ weight))
