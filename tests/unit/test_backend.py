import subprocess
import sys

import numpy as np
import pytest

from memopt import backend


def test_default_device_is_the_cpu(monkeypatch):
    monkeypatch.delenv("MEMOPT_DEVICE", raising=False)
    assert backend.resolve_device() == "cpu"
    assert backend.xp_for_device() is np


def test_environment_and_argument_choose_the_device(monkeypatch):
    monkeypatch.setenv("MEMOPT_DEVICE", " CPU ")
    assert backend.resolve_device() == "cpu"
    monkeypatch.setenv("MEMOPT_DEVICE", "tpu")
    with pytest.raises(ValueError, match="MEMOPT_DEVICE"):
        backend.resolve_device()
    assert backend.resolve_device("cpu") == "cpu"  # the argument wins


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
def test_without_a_gpu_auto_means_cpu_and_gpu_is_an_error():
    assert backend.resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA device"):
        backend.resolve_device("gpu")


def test_array_helpers():
    assert backend.array_module(np.ones(2), None, 3.0) is np
    assert backend.array_module() is np
    np.testing.assert_array_equal(backend.to_numpy([1, 2]), np.array([1, 2]))
    x = backend.asarray([1, 2], "cpu", dtype=np.float32)
    assert isinstance(x, np.ndarray) and x.dtype == np.float32
    assert backend.device_info("cpu")["device"] == "cpu"
    assert not backend.is_cupy_array(np.ones(1))


def test_the_library_never_imports_cupy_on_the_cpu_path():
    code = (
        "import sys, memopt.backend, memopt.problems, memopt.optim, memopt.experiments.sgd, "
        "memopt.cli, memopt.book\n"
        "memopt.backend.resolve_device('cpu')\n"
        "print('cupy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
def test_gpu_oracle_matches_the_cpu():
    from memopt.problems import planted_logistic

    cpu = planted_logistic(64, 8, seed=0, device="cpu")
    gpu = planted_logistic(64, 8, seed=0, device="gpu")
    x = np.linspace(-1, 1, 8)
    np.testing.assert_allclose(backend.to_numpy(gpu.gradient(backend.asarray(x, "gpu"))), cpu.gradient(x),
                               rtol=1e-12)
