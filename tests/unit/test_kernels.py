"""CUDA kernels, checked without a GPU: every .cu compiles to PTX with nvcc; the same source's
__host__ __device__ functions, compiled for the CPU, agree with the NumPy twins; the dispatch
sends CuPy arrays to the kernels, everything else to the twins. GPU parity tests are skipped
where no device exists."""

import shutil
import subprocess

import numpy as np
import pytest

from memopt import backend, kernels
from memopt.nets.losses import CrossEntropy
from memopt.optim import SAG, SAGA, SGD, SVRG, DecreasingStep, run_batched
from memopt.optim.adaptive import AdamW
from memopt.optim.streaming import Kaczmarz, StreamingSGD, run_methods
from memopt.problems import planted_logistic
from memopt.problems.regression import GaussianRegression, RegressionStream

CUDA_SOURCES = sorted(kernels.KERNEL_DIR.glob("*.cu"))
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", CUDA_SOURCES, ids=lambda p: p.name)
def test_cuda_source_compiles_to_ptx(source, arch, tmp_path):
    out = tmp_path / f"{source.stem}.ptx"
    done = subprocess.run(["nvcc", "-ptx", f"-arch={arch}", "-DMEMOPT_INSTANTIATE", f"-I{kernels.KERNEL_DIR}",
                           str(source), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    entries = out.read_text().count(".entry")
    module = source.stem
    assert entries == 2 * len(kernels.SIGNATURES[module])  # float and double of every kernel


def test_every_kernel_module_has_a_host_harness_and_signatures():
    for source in CUDA_SOURCES:
        assert (source.parent / f"{source.stem}_host.cpp").exists()
        assert source.stem in kernels.SIGNATURES


METHODS = {
    "sgd": lambda p: SGD(0.5 / p.L_max),
    "sgd-decreasing": lambda p: SGD(DecreasingStep(p.mu, cap=1 / p.L_max)),
    "sag": lambda p: SAG(1 / p.L_max),
    "sag-seen": lambda p: SAG(1 / p.L_max, normalize_seen=True),
    "sag-lipschitz": lambda p: SAG(0.5 / p.L_max, sampling="lipschitz"),
    "saga": lambda p: SAGA(1 / (3 * p.L_max)),
    "svrg": lambda p: SVRG(1 / (10 * p.L_max), epoch_length=37),
}


# Table methods and SVRG's kernel take one sample a step; SGD also takes mini-batches.
GRID = [(name, runs, 1) for name in METHODS for runs in (1, 5)] + [("sgd", 3, 4), ("sgd-decreasing", 3, 4)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, runs, batch", GRID)
def test_host_harness_matches_the_numpy_twin(name, runs, batch, dtype, monkeypatch):
    problem = planted_logistic(30, 5, mu=0.2, seed=3, dtype=dtype)
    x0 = np.linspace(-1, 1, 5)
    kwargs = dict(iterations=250, seeds=range(runs), batch_size=batch, log_at=[0, 17, 100, 250])
    twin = run_batched(problem, METHODS[name](problem), x0, **kwargs)
    monkeypatch.setenv(kernels.HOST_VARIABLE, "host")
    method = METHODS[name](problem)
    harness = run_batched(problem, method, x0, **kwargs)
    np.testing.assert_allclose(harness.final_x, twin.final_x, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    np.testing.assert_allclose(harness.values, twin.values, rtol=TOLERANCE[dtype])
    np.testing.assert_array_equal(harness.samples, twin.samples)  # same gradient counts


def test_dispatch(monkeypatch):
    x = np.zeros((2, 3))
    monkeypatch.delenv(kernels.HOST_VARIABLE, raising=False)
    assert kernels.mode(x) is None
    monkeypatch.setenv(kernels.HOST_VARIABLE, "host")
    assert kernels.mode(x) == "host"


def test_launch_rejects_bad_arguments(monkeypatch):
    monkeypatch.setenv(kernels.HOST_VARIABLE, "host")
    a, y = np.ones((4, 2)), np.ones(4)
    idx, x = np.zeros((3, 1), dtype=np.int64), np.zeros((1, 2))
    table, total = np.zeros((1, 4)), np.zeros((1, 2))
    good = [a, y, 4, 2, 0.1, 0.1, idx, 3, 1, x, table, total]
    kernels.launch("glm_steps", "saga_steps", 1, *good)  # runs
    with pytest.raises(TypeError, match="takes 12 arguments"):
        kernels.launch("glm_steps", "saga_steps", 1, *good[:-1])
    with pytest.raises(TypeError, match="share one dtype"):
        kernels.launch("glm_steps", "saga_steps", 1, *good[:-1], total.astype(np.float32))
    with pytest.raises(TypeError, match="int64"):
        kernels.launch("glm_steps", "saga_steps", 1, *good[:6], idx.astype(np.int32), *good[7:])
    with pytest.raises(ValueError, match="contiguous"):
        kernels.launch("glm_steps", "saga_steps", 1, np.ones((2, 4)).T, *good[1:])
    with pytest.raises(KeyError, match="unknown kernel module"):
        kernels.source("nope")
    monkeypatch.delenv(kernels.HOST_VARIABLE)
    with pytest.raises(RuntimeError, match="MEMOPT_KERNELS=host"):
        kernels.launch("glm_steps", "saga_steps", 1, *good)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", METHODS)
def test_gpu_kernels_match_the_cpu(name):
    import cupy

    cpu = planted_logistic(64, 8, mu=0.1, seed=0)
    gpu = planted_logistic(64, 8, mu=0.1, seed=0, device="gpu")
    kwargs = dict(iterations=2000, seeds=range(16))
    expected = run_batched(cpu, METHODS[name](cpu), np.ones(8), **kwargs)
    got = run_batched(gpu, METHODS[name](gpu), cupy.ones(8), **kwargs)
    np.testing.assert_allclose(got.final_x, expected.final_x, rtol=1e-9, atol=1e-12)


STREAMING = {
    "kaczmarz": lambda d, trials: Kaczmarz(d, trials),
    "sgd": lambda d, trials: StreamingSGD(d, 1 / (d + 2), trials),
}


@pytest.mark.parametrize("name", STREAMING)
def test_streaming_host_harness_matches_the_numpy_twin(name, monkeypatch):
    stream = RegressionStream(GaussianRegression(12, kappa=5.0), seeds=[2, 3, 4, 5])
    rows, labels = stream.draw(300)

    def consume():
        method = STREAMING[name](12, 4)
        checked = method._check(rows, labels, chunk=True)
        return method, method.consume_tracking(*checked, stream.targets)

    twin, twin_errors = consume()
    monkeypatch.setenv(kernels.HOST_VARIABLE, "host")
    harness, harness_errors = consume()
    np.testing.assert_allclose(harness_errors, twin_errors, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(harness.estimate(), twin.estimate(), rtol=1e-12, atol=1e-15)
    assert harness.samples_seen == twin.samples_seen == 300


def test_run_methods_gives_the_same_counts_through_the_kernels(monkeypatch):
    def counts():
        stream = RegressionStream(GaussianRegression(10), seeds=[5, 6, 7])
        runs = run_methods({k: make(10, 3) for k, make in STREAMING.items()}, stream,
                           accuracy=1e-6, max_samples=4000, chunk=256)
        return {k: run.samples_to_accuracy for k, run in runs.items()}

    twin = counts()
    monkeypatch.setenv(kernels.HOST_VARIABLE, "host")
    assert counts().keys() == twin.keys()
    for name, harness in counts().items():
        np.testing.assert_array_equal(harness, twin[name])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adamw_host_harness_matches_the_numpy_twin(dtype, monkeypatch):
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((7, 13)).astype(dtype)
    gradients = rng.standard_normal((6, 7, 13)).astype(dtype)

    def run():
        method = AdamW(lr=1e-2, betas=(0.9, 0.98), weight_decay=1.0, warmup=3)
        x = x0.copy()
        state = method.init(x)
        for g in gradients:
            method.step(x, g, state)
        return x, state

    twin, twin_state = run()
    monkeypatch.setenv(kernels.HOST_VARIABLE, "host")
    harness, harness_state = run()
    np.testing.assert_allclose(harness, twin, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    for name in ("m", "v"):
        np.testing.assert_allclose(harness_state[name], twin_state[name], rtol=TOLERANCE[dtype],
                                   atol=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_host_harness_matches_the_numpy_twin(dtype, monkeypatch):
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((33, 97)) * 20).astype(dtype)  # large logits: the max shift matters
    labels = rng.integers(0, 97, 33)
    loss, gradient = CrossEntropy().value_and_gradient(logits, labels)
    monkeypatch.setenv(kernels.HOST_VARIABLE, "host")
    harness_loss, harness_gradient = CrossEntropy().value_and_gradient(logits, labels)
    assert harness_loss == pytest.approx(loss, rel=TOLERANCE[dtype])
    np.testing.assert_allclose(harness_gradient, gradient, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", STREAMING)
def test_gpu_streaming_kernels_match_the_cpu(name):
    stream = RegressionStream(GaussianRegression(16), seeds=range(8))
    rows, labels = stream.draw(400)
    cpu = STREAMING[name](16, 8)
    expected = cpu.consume_tracking(*cpu._check(rows, labels, chunk=True), stream.targets)
    gpu = STREAMING[name](16, 8)
    gpu.x = backend.asarray(gpu.x, "gpu")
    got = gpu.consume_tracking(backend.asarray(rows, "gpu"), backend.asarray(labels, "gpu"),
                               backend.asarray(stream.targets, "gpu"))
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-10, atol=1e-13)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
def test_gpu_adamw_and_cross_entropy_match_the_cpu():
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal(1000), rng.standard_normal(1000)
    method = AdamW(lr=1e-2, weight_decay=1.0)
    state, x_cpu = method.init(x), x.copy()
    method.step(x_cpu, g, state)
    x_gpu = backend.asarray(x, "gpu")
    gpu_state = method.init(x_gpu)
    method.step(x_gpu, backend.asarray(g, "gpu"), gpu_state)
    np.testing.assert_allclose(backend.to_numpy(x_gpu), x_cpu, rtol=1e-12, atol=1e-15)
    logits, labels = rng.standard_normal((64, 97)) * 10, rng.integers(0, 97, 64)
    loss, grad = CrossEntropy().value_and_gradient(logits, labels)
    gpu_loss, gpu_grad = CrossEntropy().value_and_gradient(backend.asarray(logits, "gpu"),
                                                           backend.asarray(labels, "gpu"))
    assert gpu_loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(backend.to_numpy(gpu_grad), grad, rtol=1e-10, atol=1e-15)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
def test_gpu_runs_a_whole_chapter_like_the_cpu(monkeypatch):
    """The SGD chapter's experiment at a small scale, on the GPU and on the CPU."""
    from memopt.experiments import sgd

    config = sgd.Config(runs=8, iterations=2000, constant_steps=(0.2, 0.05), batch_sizes=(1, 4))
    cpu = sgd.summary(sgd.run(config))
    monkeypatch.setenv("MEMOPT_DEVICE", "gpu")
    gpu = sgd.summary(sgd.run(config))
    for key in ("f_star", "initial_gap"):
        assert gpu[key] == pytest.approx(cpu[key], rel=1e-10)
    for alpha, row in cpu["constant_step_floors"].items():
        assert gpu["constant_step_floors"][alpha]["floor"] == pytest.approx(row["floor"], rel=1e-8)
