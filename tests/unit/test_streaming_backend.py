"""The streaming methods follow the array module of their data (no GPU needed): a stand-in for
CuPy whose arrays are NumPy arrays of a type from a module named ``cupy...`` is what
:func:`memopt.backend.array_module` then returns, so any array the methods create with NumPy
instead of the data's module shows up as a plain ``numpy.ndarray`` in their state. The results
must equal the NumPy run exactly (same arithmetic)."""

import types

import numpy as np
import pytest

from memopt import backend, kernels
from memopt.optim.stream_runs import run_methods
from memopt.optim.streaming import ExactLeastSquares, Kaczmarz, StreamingSGD, WindowProjection
from memopt.problems.regression import GaussianRegression, RegressionStream


class DeviceArray(np.ndarray):
    """An array that :func:`memopt.backend.is_cupy_array` takes for a CuPy array."""

    def get(self):  # cupy.ndarray.get: the host copy
        return self.view(np.ndarray).copy()


DeviceArray.__module__ = "cupy._stand_in"


def _on_device(value):
    if isinstance(value, np.ndarray) and not isinstance(value, DeviceArray):
        return value.view(DeviceArray)
    if isinstance(value, tuple):
        return tuple(_on_device(v) for v in value)
    return value


def _wrap(namespace, name):
    """A module whose functions are NumPy's, returning device arrays."""
    module = types.ModuleType(name)

    def __getattr__(attr):
        value = getattr(namespace, attr)
        if callable(value) and not isinstance(value, type):
            return lambda *args, **kwargs: _on_device(value(*args, **kwargs))
        return value

    module.__getattr__ = __getattr__
    return module


FAKE_CUPY = _wrap(np, "cupy")
FAKE_CUPY.linalg = _wrap(np.linalg, "cupy.linalg")


@pytest.fixture
def fake_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", lambda: FAKE_CUPY)
    # No kernel runs on the stand-in: the NumPy twin is what a CuPy run must agree with.
    monkeypatch.setattr(kernels, "mode", lambda *arrays, compiled=False: None)
    return FAKE_CUPY


METHODS = {
    "exact": lambda d, trials, x0: ExactLeastSquares(d, trials),
    "kaczmarz": lambda d, trials, x0: Kaczmarz(d, trials, x0=x0),
    "sgd": lambda d, trials, x0: StreamingSGD(d, 1 / (d + 2), trials, x0=x0),
    "window": lambda d, trials, x0: WindowProjection(d, 3, trials, x0=x0),
}


def _all_on_device(method):
    return all(backend.is_cupy_array(a) for a in method.state().values())


@pytest.mark.parametrize("given_x0", [True, False])
@pytest.mark.parametrize("name", METHODS)
def test_methods_keep_their_state_on_the_data_device(fake_cupy, name, given_x0):
    d, trials = 6, 3
    rows, labels = RegressionStream(GaussianRegression(d, kappa=4.0), seeds=[1, 2, 3]).draw(40)
    reference = METHODS[name](d, trials, None)
    with kernels.using("numpy"):
        reference.consume(rows, labels)
    x0 = fake_cupy.zeros(d) if given_x0 else None
    method = METHODS[name](d, trials, x0)
    if given_x0 and name != "exact":
        assert backend.array_module(method.x) is fake_cupy
    method.consume(_on_device(rows), _on_device(labels))
    assert method.xp is fake_cupy and _all_on_device(method)
    for attribute in method._arrays:
        assert backend.is_cupy_array(getattr(method, attribute)), attribute
    estimate = method.estimate()
    assert backend.is_cupy_array(estimate)
    np.testing.assert_array_equal(np.asarray(estimate), reference.estimate())


def test_run_methods_on_a_device_stream_matches_the_host(fake_cupy):
    d = 8
    rows, labels = RegressionStream(GaussianRegression(d), seeds=[4, 5]).draw(600)

    class Replay:
        """The same draws, on the host or on the stand-in device."""

        def __init__(self, device):
            self.trials, self.dimension, self.used = 2, d, 0
            self.targets = RegressionStream(GaussianRegression(d), seeds=[4, 5]).targets
            self.device = device
            if device:
                self.targets = _on_device(self.targets)

        def draw(self, count):
            r, b = rows[:, self.used:self.used + count], labels[:, self.used:self.used + count]
            self.used += count
            return (_on_device(r), _on_device(b)) if self.device else (r, b)

    def counts(device):
        methods = {name: make(d, 2, None) for name, make in METHODS.items()}
        runs = run_methods(methods, Replay(device), accuracy=1e-6, max_samples=600, chunk=100)
        if device:
            assert all(_all_on_device(m) for m in methods.values())
        return {name: run.samples_to_accuracy for name, run in runs.items()}

    host, device = counts(False), counts(True)
    for name in METHODS:
        np.testing.assert_array_equal(device[name], host[name])


def test_a_second_device_after_the_first_sample_is_an_error(fake_cupy):
    method = Kaczmarz(3, 1)
    method.update(np.ones((1, 3)), np.ones(1))
    with pytest.raises(TypeError, match="keep one stream on one device"):
        method.update(_on_device(np.ones((1, 3))), _on_device(np.ones(1)))


def test_validate_is_public_and_returns_float64():
    method = WindowProjection(4, 2, trials=2)
    rows, labels = method.validate(np.ones((2, 5, 4), dtype=np.float32), np.zeros((2, 5), dtype=int))
    assert rows.dtype == labels.dtype == np.float64 and rows.shape == (2, 5, 4)
    one, label = method.validate(np.ones((2, 4)), np.zeros(2), chunk=False)
    assert one.shape == (2, 4) and label.shape == (2,)
    with pytest.raises(ValueError, match=r"rows must have shape \(trials, d\)"):
        method.validate(np.ones((2, 5, 4)), np.zeros((2, 5)), chunk=False)
    with pytest.raises(TypeError, match="real numbers"):
        method.validate(np.ones((2, 1, 4), dtype=complex), np.zeros((2, 1)))
