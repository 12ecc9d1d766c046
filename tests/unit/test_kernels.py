"""Kernels, checked without a GPU: every .cu compiles to PTX with nvcc; the same source's
__host__ __device__ functions, compiled for the CPU (the host harness), and the compiled CPU
twin (Numba) agree with the NumPy twins; the typed wrappers refuse bad arguments before
anything runs; the dispatch sends each call where MEMOPT_KERNELS and the arrays say. GPU tests
(marked gpu, skipped where no device exists) compare every CUDA kernel with the Numba twin,
with launches of one block and of several; `make gpu-check` runs them on a GPU machine."""

import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memopt import backend, kernels
from memopt.kernels import cpu
from memopt.nets.losses import CrossEntropy
from memopt.optim import SAG, SAGA, SGD, SVRG, DecreasingStep, run_batched
from memopt.optim.adaptive import AdamW
from memopt.optim.stream_runs import run_methods
from memopt.optim.streaming import Kaczmarz, StreamingSGD
from memopt.problems import LogisticGLM, planted_logistic
from memopt.problems.regression import GaussianRegression, RegressionStream

CUDA_SOURCES = sorted(kernels.KERNEL_DIR.glob("*.cu"))
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}
needs_numba = pytest.mark.skipif(not cpu.available(), reason="numba is not installed")


# -- sources ---------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", CUDA_SOURCES, ids=lambda p: p.name)
def test_cuda_source_compiles_to_ptx(source, arch, tmp_path):
    """What CuPy compiles (common.cuh inlined, no include path) compiles for every kernel."""
    inlined = tmp_path / source.name
    inlined.write_text(kernels.cuda_source(source.stem))
    out = tmp_path / f"{source.stem}.ptx"
    done = subprocess.run(["nvcc", "-ptx", f"-arch={arch}", "-std=c++17", "-DMEMOPT_INSTANTIATE",
                           str(inlined), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_text().count(".entry") == 2 * len(kernels.KERNELS[source.stem])  # float, double


def test_every_kernel_module_has_a_host_harness():
    assert {s.stem for s in CUDA_SOURCES} == set(kernels.KERNELS)
    for source in CUDA_SOURCES:
        assert (source.parent / f"{source.stem}_host.cpp").exists()


@pytest.mark.parametrize("module", kernels.KERNELS)
def test_the_source_cupy_compiles_holds_the_header(module):
    """Bug: CuPy's cache is keyed by the source text, which named common.cuh only by an
    #include, so an edited header could leave a stale binary. The header is now inlined."""
    text = kernels.cuda_source(module)
    assert '#include "common.cuh"' not in text
    assert "inline real dot(" in text and "#pragma once" not in text


def test_an_edited_header_changes_the_source_cupy_compiles(tmp_path, monkeypatch):
    for path in kernels.KERNEL_DIR.glob("*.c*"):
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(kernels, "KERNEL_DIR", tmp_path)
    before = kernels.cuda_source("glm_steps")
    header = tmp_path / "common.cuh"
    header.write_text(header.read_text().replace("return (s0 + s1) + (s2 + s3);", "return (s0 + s2) + (s1 + s3);"))
    assert kernels.cuda_source("glm_steps") != before


def test_a_failed_host_harness_compile_shows_the_compiler_message(tmp_path, monkeypatch):
    """Bug: the compiler's stderr was captured and lost (a bare CalledProcessError)."""
    compiler = tmp_path / "broken-cxx"
    compiler.write_text("#!/bin/sh\necho 'glm_steps.cu:12: error: something specific' >&2\nexit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    monkeypatch.setenv("MEMOPT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(RuntimeError, match="(?s)glm_steps_host.cpp.*exit status 1.*something specific"):
        kernels.host_library_path("glm_steps")


# -- dispatch --------------------------------------------------------------------------------------
def test_dispatch(monkeypatch):
    x = np.zeros((2, 3))
    monkeypatch.delenv(kernels.HOST_VARIABLE, raising=False)
    assert kernels.mode(x) is None  # kernels without a compiled CPU path: the NumPy twin
    assert kernels.mode(x, compiled=True) == ("numba" if cpu.available() else None)
    monkeypatch.setenv(kernels.HOST_VARIABLE, "numpy")
    assert kernels.mode(x, compiled=True) is None
    monkeypatch.setenv(kernels.HOST_VARIABLE, "host")
    assert kernels.mode(x) == kernels.mode(x, compiled=True) == "host"
    monkeypatch.setenv(kernels.HOST_VARIABLE, "gpu")
    with pytest.raises(ValueError, match="MEMOPT_KERNELS must be one of"):
        kernels.mode(x)


def test_using_sets_and_restores_the_choice(monkeypatch):
    monkeypatch.setenv(kernels.HOST_VARIABLE, "host")
    with kernels.using("numpy"):
        assert kernels.mode(np.zeros(1), compiled=True) is None
    assert kernels.mode(np.zeros(1)) == "host"
    with pytest.raises(ValueError, match="choice must be one of"):
        with kernels.using("cuda"):
            pass


def test_without_numba_the_twin_runs_with_one_notice(monkeypatch, capsys):
    monkeypatch.delenv(kernels.HOST_VARIABLE, raising=False)
    monkeypatch.setattr(cpu, "available", lambda: False)
    kernels._fallback_notice.cache_clear()
    assert kernels.mode(np.zeros(1), compiled=True) is None
    assert kernels.mode(np.zeros(1), compiled=True) is None
    notice = capsys.readouterr().err
    assert notice.count("numba is not installed") == 1 and notice.count("\n") == 1
    kernels._fallback_notice.cache_clear()


# -- the per-run logic against the NumPy twin ------------------------------------------------------
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


def run_with(choice, problem, name, x0, **kwargs):
    with kernels.using(choice):
        return run_batched(problem, METHODS[name](problem), x0, **kwargs)


def assert_same_runs(got, twin, tolerance):
    np.testing.assert_allclose(got.final_x, twin.final_x, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(got.values, twin.values, rtol=tolerance)
    np.testing.assert_array_equal(got.samples, twin.samples)  # same gradient counts


@pytest.mark.parametrize("choice", ["host", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, runs, batch", GRID)
def test_kernels_match_the_numpy_twin(name, runs, batch, dtype, choice):
    problem = planted_logistic(30, 5, mu=0.2, seed=3, dtype=dtype)
    x0 = np.linspace(-1, 1, 5)
    kwargs = dict(iterations=250, seeds=range(runs), batch_size=batch, log_at=[0, 17, 100, 250])
    twin = run_with("numpy", problem, name, x0, **kwargs)
    assert_same_runs(run_with(choice, problem, name, x0, **kwargs), twin, TOLERANCE[dtype])


@needs_numba
@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(METHODS)), st.integers(1, 12), st.integers(1, 4), st.integers(1, 3),
       st.integers(1, 3), st.sampled_from([0.0, 1e-3, 1.0]), st.integers(0, 60), st.integers(0, 99))
def test_numba_matches_the_twin_at_the_edges(name, n, p, runs, batch, mu, iterations, seed):
    """One sample, one feature, one run, no steps, mu = 0: the compiled path follows the twin."""
    if name not in ("sgd", "sgd-decreasing"):
        batch = 1
    if name == "sgd-decreasing" and mu == 0:
        mu = 1e-3  # the schedule needs strong convexity
    problem = planted_logistic(n, p, mu=mu, seed=seed)
    kwargs = dict(iterations=iterations, seeds=range(runs), batch_size=batch)
    x0 = np.linspace(-1, 1, p)
    assert_same_runs(run_with("numba", problem, name, x0, **kwargs),
                     run_with("numpy", problem, name, x0, **kwargs), 1e-12)


@needs_numba
def test_the_compiled_path_splits_runs_over_threads_without_changing_them(monkeypatch):
    problem = planted_logistic(200, 8, mu=0.1, seed=5)
    kwargs = dict(iterations=3000, seeds=range(6), log_at=[0, 3000])
    monkeypatch.setattr(cpu, "PARALLEL_WORK", 0)  # always split
    monkeypatch.setattr(cpu, "threads", lambda: 4)
    split = run_with("numba", problem, "sag-seen", np.zeros(8), **kwargs)
    monkeypatch.setattr(cpu, "threads", lambda: 1)
    whole = run_with("numba", problem, "sag-seen", np.zeros(8), **kwargs)
    np.testing.assert_array_equal(split.final_x, whole.final_x)


@pytest.mark.parametrize("choice", ["host", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("layout", ["fortran", "sliced"])
def test_features_of_any_layout_reach_the_kernels(layout, choice):
    """Bug: LogisticGLM kept Fortran-ordered or sliced features, which the kernels rejected."""
    base = planted_logistic(40, 12, mu=0.1, seed=4)
    features = np.asfortranarray(base.features) if layout == "fortran" else base.features[:, ::2]
    problem = LogisticGLM(features, base.labels, base.mu)
    kwargs = dict(iterations=300, seeds=range(3), log_at=[0, 300])
    x0 = np.zeros(problem.n_features)
    assert_same_runs(run_with(choice, problem, "saga", x0, **kwargs),
                     run_with("numpy", problem, "saga", x0, **kwargs), 1e-12)


STREAMING = {
    "kaczmarz": lambda d, trials, x0=None: Kaczmarz(d, trials, x0=x0),
    "sgd": lambda d, trials, x0=None: StreamingSGD(d, 1 / (d + 2), trials, x0=x0),
}


@pytest.mark.parametrize("choice", ["host", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("name", STREAMING)
def test_streaming_kernels_match_the_numpy_twin(name, choice):
    stream = RegressionStream(GaussianRegression(12, kappa=5.0), seeds=[2, 3, 4, 5])
    rows, labels = stream.draw(300)

    def consume():
        method = STREAMING[name](12, 4)
        checked = method.validate(rows, labels, chunk=True)
        return method, method.consume_tracking(*checked, stream.targets)

    with kernels.using("numpy"):
        twin, twin_errors = consume()
    with kernels.using(choice):
        got, errors = consume()
    np.testing.assert_allclose(errors, twin_errors, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.estimate(), twin.estimate(), rtol=1e-12, atol=1e-15)
    assert got.samples_seen == twin.samples_seen == 300


@pytest.mark.parametrize("choice", ["host", pytest.param("numba", marks=needs_numba)])
def test_run_methods_gives_the_same_counts_through_the_kernels(choice):
    def counts():
        stream = RegressionStream(GaussianRegression(10), seeds=[5, 6, 7])
        runs = run_methods({k: make(10, 3) for k, make in STREAMING.items()}, stream,
                           accuracy=1e-6, max_samples=4000, chunk=256)
        return {k: run.samples_to_accuracy for k, run in runs.items()}

    with kernels.using("numpy"):
        twin = counts()
    with kernels.using(choice):
        got = counts()
    assert got.keys() == twin.keys()
    for name, harness in got.items():
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


# -- the typed wrappers refuse bad arguments -------------------------------------------------------
def saga_arguments(R=2, n=6, p=3, T=4):
    rng = np.random.default_rng(0)
    features, labels = rng.standard_normal((n, p)), np.where(rng.random(n) < 0.5, -1.0, 1.0)
    state = {"x": np.zeros((R, p)), "table": np.zeros((R, n)), "total": np.zeros((R, p))}
    return features, labels, 0.1, 0.05, rng.integers(0, n, (T, R)), state


def replace(arguments, position=None, value=None, **state):
    arguments = list(arguments)
    if position is not None:
        arguments[position] = value
    arguments[5] = {**arguments[5], **state}
    return arguments


BAD_SAGA = [
    ("x of another run count", dict(x=np.zeros((3, 3))), ValueError, r"state\['x'\] must have shape \(2, 3\)"),
    ("table of another sample count", dict(table=np.zeros((2, 5))), ValueError, r"state\['table'\] must have shape \(2, 6\)"),
    ("float32 total", dict(total=np.zeros((2, 3), np.float32)), TypeError, r"state\['total'\] must have dtype float64"),
    ("transposed x", dict(x=np.zeros((3, 2)).T), ValueError, r"state\['x'\] must be C-contiguous"),
    ("read-only table", dict(table=np.broadcast_to(np.zeros(6), (2, 6))), ValueError, r"(contiguous|writable)"),
]


@pytest.mark.parametrize("choice", ["host", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("what, state, error, match", BAD_SAGA, ids=[b[0] for b in BAD_SAGA])
def test_wrappers_reject_bad_state(what, state, error, match, choice, monkeypatch):
    """Bug: launch() trusted sizes given beside the arrays (an out-of-bounds access when they
    disagreed). The wrappers take sizes from the arrays and check every array first."""
    def no_launch(*args):
        raise AssertionError("launched")
    monkeypatch.setattr(kernels, "_launch", no_launch)
    with kernels.using(choice), pytest.raises(error, match=match):
        kernels.saga_steps(*replace(saga_arguments(), **state))


@pytest.mark.parametrize("position, value, error, match", [
    (0, np.zeros((6, 3), np.float32), TypeError, "labels must have dtype float32"),
    (0, np.zeros((3, 6)).T, ValueError, "features must be C-contiguous"),
    (0, np.zeros((0, 3)), ValueError, "features must be a non-empty 2-D array"),
    (1, np.ones(5), ValueError, r"labels must have shape \(6,\)"),
    (2, -1.0, ValueError, "mu must be finite and >= 0"),
    (3, 0.0, ValueError, "alpha must be finite and > 0"),
    (4, np.zeros((4, 2), np.int32), TypeError, "indices must be an int64 array"),
    (4, np.full((4, 2), 6), ValueError, r"indices must lie in \[0, 6\)"),
    (4, np.full((4, 2), -1), ValueError, r"indices must lie in \[0, 6\)"),
    (4, np.zeros((4, 2, 1), np.int64), ValueError, "indices must have 2 dimensions"),
])
def test_wrappers_reject_bad_arguments(position, value, error, match, monkeypatch):
    monkeypatch.setattr(kernels, "_launch", lambda *args: pytest.fail("launched"))
    with kernels.using("host"), pytest.raises(error, match=match):
        kernels.saga_steps(*replace(saga_arguments(), position, value))


def test_wrappers_name_a_missing_state_entry_and_refuse_mixed_dtypes():
    arguments = saga_arguments()
    with kernels.using("host"), pytest.raises(ValueError, match="state must hold 'table'"):
        kernels.saga_steps(*arguments[:5], {"x": arguments[5]["x"], "total": arguments[5]["total"]})
    with kernels.using("numpy"), pytest.raises(RuntimeError, match="call the NumPy twin"):
        kernels.saga_steps(*arguments)


def test_every_wrapper_runs_on_valid_arguments():
    """One call of each wrapper through the host harness, sizes taken from the arrays."""
    rng = np.random.default_rng(2)
    features, labels, mu, alpha, indices, state = saga_arguments()
    with kernels.using("host"):
        kernels.saga_steps(features, labels, mu, alpha, indices, state)
        kernels.sgd_steps(features, labels, mu, np.full(4, alpha), rng.integers(0, 6, (4, 2, 3)),
                          {"x": np.zeros((2, 3))})
        kernels.sag_steps(features, labels, mu, alpha, indices,
                          {**state, "denominators": np.full(2, 6.0), "seen": np.zeros((2, 6), bool)})
        kernels.svrg_steps(features, labels, mu, alpha, indices, {"x": np.zeros((2, 3)),
                           "snapshot": np.zeros((2, 3)), "snapshot_gradient": np.ones((2, 3))})
        rows, targets = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 3))
        errors = kernels.kaczmarz_steps(rows, rows @ np.ones(3), targets, {"x": np.zeros((2, 3))})
        assert errors.shape == (2, 5)
        x, g = np.zeros(10), np.ones(10)
        kernels.adamw_step(x, g, np.zeros(10), np.zeros(10), decay=1.0, beta1=0.9, beta2=0.99,
                           inv_sqrt_c2=10.0, eps=1e-8, step_scale=0.1)
        assert np.all(x < 0)


def test_cross_entropy_refuses_labels_out_of_range():
    """Bug: the kernel wrote g[y] for any label y, outside the row (memory corruption on a GPU)."""
    logits = np.zeros((4, 5))
    for bad in (5, -1):
        labels = np.array([0, 1, bad, 2])
        with kernels.using("host"), pytest.raises(ValueError, match=r"labels must lie in \[0, 5\)"):
            CrossEntropy().value_and_gradient(logits, labels)


def test_the_cross_entropy_kernel_never_writes_outside_a_row_for_a_bad_label():
    """The kernel's own guard, below the wrapper's check: NaN for the row, its neighbours intact."""
    logits = np.zeros((3, 4))
    labels = np.array([1, 7, 2], dtype=np.int64)
    losses, gradient = np.zeros(3), np.full((3, 4), 5.0)
    kernels._launch("softmax_xent", "xent_rows", "host", np.dtype(np.float64), 3, 12,
                    [logits, labels, kernels._Scalar("int32", 4), kernels._Scalar("int64", 3), losses, gradient])
    assert np.isnan(losses[1]) and np.isnan(gradient[1]).all()
    np.testing.assert_allclose(losses[[0, 2]], np.log(4))
    np.testing.assert_allclose(gradient[[0, 2]].sum(axis=1), 0.0, atol=1e-15)


def test_an_empty_batch_launches_nothing(monkeypatch):
    """Bug: an empty batch launched 0 blocks, an invalid configuration on a GPU."""
    monkeypatch.setattr(kernels, "_host_library", lambda module: pytest.fail("launched"))
    with kernels.using("host"):
        losses, gradient = kernels.xent_rows(np.zeros((0, 5)), np.zeros(0, np.int64))
        assert losses.shape == (0,) and gradient.shape == (0, 5)
        errors = kernels.kaczmarz_steps(np.zeros((0, 4, 3)), np.zeros((0, 4)), np.zeros((0, 3)),
                                        {"x": np.zeros((0, 3))})
        assert errors.shape == (0, 4)
    with pytest.raises(ValueError, match="at least one row"):
        CrossEntropy().value_and_gradient(np.zeros((0, 5)), np.zeros(0, np.int64))


# -- on a GPU (make gpu-check) ---------------------------------------------------------------------
@pytest.mark.parametrize("module", kernels.KERNELS)
@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
def test_nvrtc_compiles_every_kernel_for_float_and_double(module):
    compiled = kernels.cupy_module(module)
    for function in kernels.KERNELS[module]:
        for real in ("float", "double"):
            assert compiled.get_function(f"{function}<{real}>") is not None


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
@pytest.mark.parametrize("runs", [16, 300])  # one block of 128 threads, and three
@pytest.mark.parametrize("name", METHODS)
def test_gpu_kernels_match_the_compiled_cpu_twin(name, runs):
    import cupy

    cpu_problem = planted_logistic(64, 8, mu=0.1, seed=0)
    gpu_problem = planted_logistic(64, 8, mu=0.1, seed=0, device="gpu")
    kwargs = dict(iterations=2000, seeds=range(runs), log_at=[0, 2000])
    expected = run_with("numba" if cpu.available() else "numpy", cpu_problem, name, np.ones(8), **kwargs)
    got = run_batched(gpu_problem, METHODS[name](gpu_problem), cupy.ones(8), **kwargs)
    np.testing.assert_allclose(got.final_x, expected.final_x, rtol=1e-9, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
@pytest.mark.parametrize("trials", [8, 300])
@pytest.mark.parametrize("name", STREAMING)
def test_gpu_streaming_kernels_match_the_cpu(name, trials):
    stream = RegressionStream(GaussianRegression(16), seeds=range(trials))
    rows, labels = stream.draw(400)
    cpu_method = STREAMING[name](16, trials)
    expected = cpu_method.consume_tracking(*cpu_method.validate(rows, labels, chunk=True), stream.targets)
    gpu_method = STREAMING[name](16, trials, x0=backend.asarray(np.zeros(16), "gpu"))
    got = gpu_method.consume_tracking(backend.asarray(rows, "gpu"), backend.asarray(labels, "gpu"),
                                      backend.asarray(stream.targets, "gpu"))
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-10, atol=1e-13)


def test_a_stream_is_delivered_on_the_device_asked_for():
    stream = RegressionStream(GaussianRegression(4), [0, 1], device="cpu")
    rows, labels = stream.draw(3)
    assert isinstance(rows, np.ndarray) and rows.shape == (2, 3, 4) and labels.shape == (2, 3)
    if not backend.gpu_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            RegressionStream(GaussianRegression(4), [0], device="gpu")


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
def test_streaming_methods_run_on_a_gpu_stream():
    """Bug: Kaczmarz and StreamingSGD failed on a CuPy x0 (np.asarray), and the stream only
    returned NumPy arrays, so the streaming kernels could not be reached on a GPU."""
    import cupy

    def counts(device, x0):
        stream = RegressionStream(GaussianRegression(10), seeds=[5, 6, 7], device=device)
        runs = run_methods({k: make(10, 3, x0) for k, make in STREAMING.items()}, stream,
                           accuracy=1e-6, max_samples=4000, chunk=256)
        return {k: run.samples_to_accuracy for k, run in runs.items()}

    on_gpu = counts("gpu", cupy.zeros(10))
    assert isinstance(RegressionStream(GaussianRegression(4), [0], device="gpu").draw(3)[0], cupy.ndarray)
    for name, expected in counts("cpu", None).items():
        np.testing.assert_array_equal(on_gpu[name], expected)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
@pytest.mark.parametrize("batch", [64, 300])
def test_gpu_adamw_and_cross_entropy_match_the_cpu(batch):
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal(1000), rng.standard_normal(1000)
    method = AdamW(lr=1e-2, weight_decay=1.0)
    state, x_cpu = method.init(x), x.copy()
    method.step(x_cpu, g, state)
    x_gpu = backend.asarray(x, "gpu")
    gpu_state = method.init(x_gpu)
    method.step(x_gpu, backend.asarray(g, "gpu"), gpu_state)
    np.testing.assert_allclose(backend.to_numpy(x_gpu), x_cpu, rtol=1e-12, atol=1e-15)
    logits, labels = rng.standard_normal((batch, 97)) * 10, rng.integers(0, 97, batch)
    loss, grad = CrossEntropy().value_and_gradient(logits, labels)
    gpu_loss, gpu_grad = CrossEntropy().value_and_gradient(backend.asarray(logits, "gpu"),
                                                           backend.asarray(labels, "gpu"))
    assert gpu_loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(backend.to_numpy(gpu_grad), grad, rtol=1e-10, atol=1e-15)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
def test_gpu_wrappers_refuse_bad_labels_and_launch_nothing_for_an_empty_batch():
    import cupy

    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\)"):
        kernels.xent_rows(cupy.zeros((2, 5)), cupy.asarray([0, 5], dtype=cupy.int64))
    losses, gradient = kernels.xent_rows(cupy.zeros((0, 5)), cupy.zeros(0, dtype=cupy.int64))
    cupy.cuda.Device().synchronize()  # an invalid launch configuration would raise here
    assert losses.shape == (0,) and gradient.shape == (0, 5)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device")
def test_gpu_runs_a_whole_chapter_like_the_cpu(monkeypatch):
    """The SGD chapter's experiment at a small scale, on the GPU and on the CPU."""
    from memopt.experiments import sgd

    config = sgd.Config(runs=8, iterations=2000, constant_steps=(0.2, 0.05), batch_sizes=(1, 4))
    cpu_summary = sgd.summary(sgd.run(config))
    monkeypatch.setenv("MEMOPT_DEVICE", "gpu")
    gpu_summary = sgd.summary(sgd.run(config))
    for key in ("f_star", "initial_gap"):
        assert gpu_summary[key] == pytest.approx(cpu_summary[key], rel=1e-10)
    for alpha, row in cpu_summary["constant_step_floors"].items():
        assert gpu_summary["constant_step_floors"][alpha]["floor"] == pytest.approx(row["floor"], rel=1e-8)
