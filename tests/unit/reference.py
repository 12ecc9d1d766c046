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


def model_gradients(model, *data):
    """The gradient of ``model.loss_and_gradient(*data)`` in the model's parameters twice: as
    backpropagated (left in ``model.params.grad``) and by :func:`central_difference`. The
    parameters are restored afterwards."""
    model.loss_and_gradient(*data)
    analytic = np.array(model.params.grad, copy=True)
    theta = np.array(model.params.vector, copy=True)

    def loss_at(values):
        model.params.load(values)
        return model.loss_and_gradient(*data)

    numeric = central_difference(loss_at, theta)
    model.params.load(theta)
    return analytic, numeric
