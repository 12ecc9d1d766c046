"""Each CUDA kernel against its NumPy twin, on whatever device this machine has.

With a GPU, the kernel runs through CuPy on the device and the twin through NumPy on the CPU,
both from the same inputs. Without one, the record says so, and the kernel's own source runs on
the CPU through the host harness (the same __host__ __device__ code compiled by g++), which
shows what the per-run logic costs without Python's per-step overhead; that is not a GPU timing
and the record labels it as such. The kernels with a compiled CPU path (Numba, the default on
the CPU) are timed on it too.

    python benchmarks/kernels.py [--repeats 3] [--out benchmarks/results/kernels.json]

writes benchmarks/results/kernels.json (or --out).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _record import machine, write

from memopt import backend, kernels
from memopt.nets.losses import CrossEntropy
from memopt.optim import SAG, SAGA, SGD, SVRG, run_batched
from memopt.optim.adaptive import AdamW
from memopt.optim.streaming import Kaczmarz, StreamingSGD
from memopt.problems import planted_logistic
from memopt.problems.regression import GaussianRegression, RegressionStream

RESULTS = Path(__file__).parent / "results" / "kernels.json"


def glm_case(make, runs=64, steps=20_000):
    """T steps of a stochastic method on the SAG chapter's larger logistic problem."""
    def prepare(device):
        problem = planted_logistic(10_000, 100, 1e-3, seed=1, feature_scale=0.3, device=device)
        x0 = backend.asarray(np.zeros(100), device)
        return lambda: run_batched(problem, make(problem), x0, iterations=steps, seeds=range(runs),
                                   log_at=[0, steps])
    return prepare


def streaming_case(make, trials=64, samples=5_000, d=100):
    """A chunk of samples of a streaming regression method, errors tracked after each."""
    def prepare(device):
        stream = RegressionStream(GaussianRegression(d), seeds=range(trials))
        rows, labels = stream.draw(samples)
        rows, labels = backend.asarray(rows, device), backend.asarray(labels, device)
        targets = backend.asarray(stream.targets, device)

        def work():
            method = make(d, trials)
            method.x = backend.asarray(method.x, device)
            return method.consume_tracking(rows, labels, targets)
        return work
    return prepare


def adamw_case(parameters=400_000, steps=50):
    """AdamW updates of a vector the size of the grokking transformer's parameters."""
    def prepare(device):
        rng = np.random.default_rng(0)
        x = backend.asarray(rng.standard_normal(parameters), device)
        g = backend.asarray(rng.standard_normal(parameters), device)

        def work():
            method = AdamW(lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
            state = method.init(x)
            for _ in range(steps):
                method.step(x, g, state)
        return work
    return prepare


def xent_case(batch=512, classes=97, repeats=200):
    """The answer-token loss and its gradient for a batch of logits (the grokking batch)."""
    def prepare(device):
        rng = np.random.default_rng(1)
        logits = backend.asarray(rng.standard_normal((batch, classes)), device)
        labels = backend.asarray(rng.integers(0, classes, batch), device)
        return lambda: [CrossEntropy().value_and_gradient(logits, labels) for _ in range(repeats)]
    return prepare


#: The cases whose kernel has a compiled CPU path (memopt.kernels.cpu).
COMPILED = ("glm_steps", "streaming_steps")

CASES = [
    ("glm_steps/sgd_steps", glm_case(lambda p: SGD(0.1 / p.L_max))),
    ("glm_steps/sag_steps", glm_case(lambda p: SAG(1 / p.L_max, normalize_seen=True))),
    ("glm_steps/saga_steps", glm_case(lambda p: SAGA(1 / (3 * p.L_max)))),
    ("glm_steps/svrg_steps", glm_case(lambda p: SVRG(1 / (10 * p.L_max), epoch_length=20_000))),
    ("streaming_steps/kaczmarz_steps", streaming_case(lambda d, t: Kaczmarz(d, t))),
    ("streaming_steps/sgd_steps", streaming_case(lambda d, t: StreamingSGD(d, 1 / (d + 2), t))),
    ("adamw/adamw_step", adamw_case()),
    ("softmax_xent/xent_rows", xent_case()),
]


def timed(work, repeats: int, synchronize) -> float:
    work()  # warm up: compiles the kernel (NVRTC or g++) outside the timing
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    gpu = backend.gpu_available()
    device = "gpu" if gpu else "cpu"
    synchronize = (lambda: __import__("cupy").cuda.Device().synchronize()) if gpu else (lambda: None)
    rows = []
    for name, prepare in CASES:
        with kernels.using("numpy"):
            twin = timed(prepare("cpu"), args.repeats, lambda: None)
        with kernels.using("numpy" if gpu else "host"):  # CuPy arrays go to the GPU whatever the choice
            kernel = timed(prepare(device), args.repeats, synchronize)
        row = {"kernel": name, "numpy_twin_s": twin, "kernel_s": kernel, "speedup": twin / kernel}
        if name.split("/")[0] in COMPILED and kernels.cpu.available():
            with kernels.using("numba"):
                compiled = timed(prepare("cpu"), args.repeats, lambda: None)
            row.update(compiled_cpu_s=compiled, compiled_cpu_speedup=twin / compiled)
        rows.append(row)
    record = {
        "benchmark": "CUDA kernels against their NumPy twins",
        "gpu_present": gpu,
        "kernel_device": "gpu" if gpu else "host harness (CPU, g++): no GPU was present",
        "compiled_cpu": "Numba (memopt.kernels.cpu), on the CPU, where a kernel has that path",
        "machine": machine(**({"gpu": backend.device_info("gpu").get("gpu")} if gpu else {})),
        "rows": rows,
    }
    return write(record, args.out)


if __name__ == "__main__":
    main()
