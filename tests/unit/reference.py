"""Independent references the unit tests share."""

import numpy as np


def central_difference(fun, x, h=1e-6):
    """The gradient of ``fun`` at ``x`` by central differences, one coordinate at a time."""
    grad = np.zeros_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        grad[j] = (fun(x + e) - fun(x - e)) / (2 * h)
    return grad
