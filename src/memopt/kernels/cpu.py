"""The compiled CPU path: the per-run logic of ``glm_steps.cu`` and ``streaming_steps.cu`` for
Numba, which runs whole trajectories (every step of every run) in compiled code.

Each kernel here takes the arguments of the ``__global__`` kernel of the same name (then the
range of runs ``first .. last - 1`` it computes) and holds the per-run loop of the CUDA
source's ``*_run`` with its ``*_step`` written out inside it, in the same order of arithmetic
and the arrays' own precision; ``dot``, ``sigmoid`` and ``distance`` are common.cuh's and the
kernels' helpers. These kernels are the CPU twin the CUDA kernels are tested against; the NumPy
code of the methods (``step()`` in :mod:`memopt.optim.stochastic`, ``_update`` in
:mod:`memopt.optim.streaming`) stays the reference. :func:`launch` splits the runs over threads
(the kernels release the GIL), and each run is computed by the same code however many threads
there are.

Three choices come from measurements of a SAG step on the chapter's 10^4 x 100 problem: a run
works on views of its own rows with loop indices from ``range`` (LLVM then drops Numba's
negative-index wraparound and vectorises the loops over features: 2.5x faster than flat arrays
with computed offsets); the steps are written out in the loop rather than called (passing a
run's arrays to a function once a step costs reference counting: 1.4x slower, inlined or not);
the next step's row of features is prefetched (its index is known a step ahead: 15-20%).

Numba was chosen over compiling the C++ of the ``.cu`` files as a CPython extension (as
scikit-learn ships ``_sag_fast``) by measurement: ``benchmarks/sag_vs_sklearn.py`` times both
on the same runs in one process, the C++ as the host harness built by g++ -O2 (what an
extension would run), and on one run the Numba kernel took about 0.6 times the C++'s time
(``benchmarks/results/sag.json``). Numba also needs no compiler on the user's machine and no
platform wheel for memopt, and it runs the runs of a batch on several threads. Compiled kernels
are cached on disk (``cache=True``), so only the first use pays the seconds of compilation.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import functools
import os

import numpy as np

try:
    import numba
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic
except ImportError:  # the NumPy twins run instead (memopt.kernels.mode says so once)
    numba = None

#: Fewer element operations than this in a launch run on the calling thread: a thread hand-off
#: costs tens of microseconds.
PARALLEL_WORK = 200_000


def available() -> bool:
    """True when Numba imports, so the compiled CPU path exists."""
    return numba is not None


if numba is not None:
    # nogil: launch() runs disjoint sets of runs on several threads at once.
    jit = functools.partial(njit, nogil=True, cache=True)
    # The per-step functions are inlined into the kernels by Numba: LLVM does not inline across
    # Numba's functions, and a call a step made a SAG step 1.5x slower (measured).
    inline = functools.partial(jit, inline="always")

    # -- prefetching (CPU only: not part of the arithmetic) -----------------------------------
    _BYTE_POINTER = ir.IntType(8).as_pointer()
    # LLVM names the intrinsic by its pointer type: "ptr" (opaque pointers, newer llvmlite) or i8*.
    _PREFETCH = "llvm.prefetch.p0" if str(_BYTE_POINTER) == "ptr" else "llvm.prefetch.p0i8"

    @intrinsic
    def prefetch(typingctx, array, index):
        """Ask the CPU to bring the cache line of array[index] in (llvm.prefetch: read, keep)."""
        def codegen(context, builder, signature, args):
            kind = signature.args[0]
            data = context.make_array(kind)(context, builder, args[0])
            pointer = cgutils.get_item_pointer(context, builder, kind, data, [args[1]], wraparound=False)
            i32 = ir.IntType(32)
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [_BYTE_POINTER, i32, i32, i32]), _PREFETCH)
            builder.call(function, [builder.bitcast(pointer, _BYTE_POINTER), ir.Constant(i32, 0),
                                    ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()
        return types.void(array, index), codegen

    @inline
    def prefetch_row(A, i):
        """Request row i of A a step before it is used: its index is known, and a row read from
        memory rather than cache would stall the next dot product (15-20% of a SAG step on the
        chapter's 8 MB of features, measured)."""
        row = A[i]
        for j in range(0, row.shape[0], max(1, 64 // row.itemsize)):
            prefetch(row, j)

    @inline
    def prefetch_next(A, indices, t, r):
        """Prefetch the row step t + 1 of run r will read (indices of shape (T, R))."""
        if t + 1 < indices.shape[0]:
            prefetch_row(A, indices[t + 1, r])

    # -- common.cuh --------------------------------------------------------------------------
    @inline
    def dot(a, x):
        """<a, x> in four interleaved partial sums, added as common.cuh's dot adds them."""
        s0 = s1 = s2 = s3 = a.dtype.type(0)
        p = a.shape[0]
        q = p - p % 4
        for j in range(0, q, 4):
            s0 += a[j] * x[j]
            s1 += a[j + 1] * x[j + 1]
            s2 += a[j + 2] * x[j + 2]
            s3 += a[j + 3] * x[j + 3]
        for j in range(q, p):
            s0 += a[j] * x[j]
        return (s0 + s1) + (s2 + s3)

    # -- glm_steps.cu ------------------------------------------------------------------------
    @inline
    def sigmoid(t):
        one = type(t)(1)
        if t >= 0:
            return one / (one + np.exp(-t))
        e = np.exp(t)
        return e / (one + e)

    @inline
    def loss_derivative(a, yi, x):
        """s_i = -y_i sigma(-y_i <a_i, x>) for the row a = a_i."""
        return -yi * sigmoid(-dot(a, x) * yi)

    # The kernels: the __global__ wrappers' arguments (the sizes are unused: Numba's arrays carry
    # their shapes), then the range of runs. Each holds the per-run loop of glm_steps.cu's
    # *_run with its *_step written out inside it: passing a run's arrays to a function once a
    # step costs reference counting that made a SAG step 1.4x slower (measured), even inlined.
    @jit
    def glm_sgd_steps(A, y, p, mu, alphas, indices, T, R, B, x, scratch, first, last):
        for r in range(first, last):
            xr, s = x[r], scratch[r]
            for t in range(indices.shape[0]):
                if t + 1 < indices.shape[0]:
                    for b in range(indices.shape[2]):
                        prefetch_row(A, indices[t + 1, r, b])
                # sgd_step
                batch, alpha, size = indices[t, r], alphas[t], A.dtype.type(indices.shape[2])
                for b in range(batch.shape[0]):
                    s[b] = loss_derivative(A[batch[b]], y[batch[b]], xr)
                for j in range(xr.shape[0]):
                    g = A.dtype.type(0)
                    for b in range(batch.shape[0]):
                        g += s[b] * A[batch[b], j]
                    xr[j] -= alpha * (g / size + mu * xr[j])

    @jit
    def glm_sag_steps(A, y, n, p, mu, alpha, indices, T, R, x, table, total, denominators, seen,
                      normalize, first, last):
        one = A.dtype.type(1)
        for r in range(first, last):
            xr, table_r, total_r = x[r], table[r], total[r]
            seen_r = seen[r] if normalize else seen[0]  # a (1, 1) placeholder when unused
            for t in range(indices.shape[0]):
                prefetch_next(A, indices, t, r)
                # sag_step
                i = indices[t, r]
                a = A[i]
                s = loss_derivative(a, y[i], xr)
                if normalize and not seen_r[i]:
                    seen_r[i] = 1
                    denominators[r] += one
                change = s - table_r[i]
                table_r[i] = s
                for j in range(xr.shape[0]):
                    total_r[j] += change * a[j]
                decay, scale = one - alpha * mu, alpha / denominators[r]
                for j in range(xr.shape[0]):
                    xr[j] = xr[j] * decay - scale * total_r[j]

    @jit
    def glm_saga_steps(A, y, n, p, mu, alpha, indices, T, R, x, table, total, first, last):
        count = A.dtype.type(A.shape[0])
        for r in range(first, last):
            xr, table_r, total_r = x[r], table[r], total[r]
            for t in range(indices.shape[0]):
                prefetch_next(A, indices, t, r)
                # saga_step
                i = indices[t, r]
                a = A[i]
                s = loss_derivative(a, y[i], xr)
                change = s - table_r[i]
                table_r[i] = s
                for j in range(xr.shape[0]):
                    c = change * a[j]
                    direction = c + total_r[j] / count + mu * xr[j]
                    total_r[j] += c
                    xr[j] -= alpha * direction

    @jit
    def glm_svrg_steps(A, y, p, mu, alpha, indices, T, R, x, snapshot, snapshot_gradient, first,
                       last):
        for r in range(first, last):
            xr, snap, snap_gradient = x[r], snapshot[r], snapshot_gradient[r]
            for t in range(indices.shape[0]):
                prefetch_next(A, indices, t, r)
                # svrg_step
                i = indices[t, r]
                a = A[i]
                s = loss_derivative(a, y[i], xr)
                s_snapshot = loss_derivative(a, y[i], snap)
                for j in range(xr.shape[0]):
                    direction = (s - s_snapshot) * a[j] + mu * (xr[j] - snap[j]) + snap_gradient[j]
                    xr[j] -= alpha * direction

    # -- streaming_steps.cu ------------------------------------------------------------------
    @inline
    def distance(x, target):
        total = x.dtype.type(0)
        for j in range(x.shape[0]):
            e = x[j] - target[j]
            total += e * e
        return np.sqrt(total)

    @jit
    def streaming_kaczmarz_steps(rows, labels, targets, T, R, d, x, errors, first, last):
        for r in range(first, last):
            xr, target = x[r], targets[r]
            for t in range(rows.shape[1]):
                # kaczmarz_step: the projection onto the sample's hyperplane
                a = rows[r, t]
                norm = dot(a, a)
                if norm > 0:
                    step = (labels[r, t] - dot(a, xr)) / norm
                    for j in range(xr.shape[0]):
                        xr[j] += step * a[j]
                errors[r, t] = distance(xr, target)

    @jit
    def streaming_sgd_steps(rows, labels, targets, T, R, d, step, x, errors, first, last):
        for r in range(first, last):
            xr, target = x[r], targets[r]
            for t in range(rows.shape[1]):
                # sgd_step: SGD on (1/2)(<a, x> - b)^2
                a = rows[r, t]
                scaled = step * (dot(a, xr) - labels[r, t])
                for j in range(xr.shape[0]):
                    xr[j] -= scaled * a[j]
                errors[r, t] = distance(xr, target)

    KERNELS = {
        ("glm_steps", "sgd_steps"): glm_sgd_steps,
        ("glm_steps", "sag_steps"): glm_sag_steps,
        ("glm_steps", "saga_steps"): glm_saga_steps,
        ("glm_steps", "svrg_steps"): glm_svrg_steps,
        ("streaming_steps", "kaczmarz_steps"): streaming_kaczmarz_steps,
        ("streaming_steps", "sgd_steps"): streaming_sgd_steps,
    }
else:
    KERNELS = {}


def threads() -> int:
    """Threads a launch may use: Numba's setting (NUMBA_NUM_THREADS, default: the cores)."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS)) if numba is not None else 1


@functools.lru_cache(maxsize=None)
def _pool(workers: int, pid: int) -> concurrent.futures.ThreadPoolExecutor:
    # One pool per process: a forked child inherits the parent's pool without its threads.
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="memopt-kernels")
    atexit.register(pool.shutdown, wait=False)
    return pool


def launch(module: str, function: str, runs: int, work: int, args) -> None:
    """Run the compiled ``function`` of ``module`` on runs 0 .. runs - 1 with the kernel's
    arguments ``args`` (arrays and NumPy scalars), splitting the runs over threads when
    the launch does at least :data:`PARALLEL_WORK` element operations (``work``)."""
    kernel = KERNELS[module, function]
    workers = min(runs, threads()) if work >= PARALLEL_WORK else 1
    if workers <= 1:
        kernel(*args, 0, runs)
        return
    bounds = np.linspace(0, runs, workers + 1).round().astype(np.int64).tolist()
    futures = [_pool(workers - 1, os.getpid()).submit(kernel, *args, lo, hi)
               for lo, hi in zip(bounds[:-2], bounds[1:-1])]
    kernel(*args, bounds[-2], bounds[-1])  # the last share on this thread
    for future in futures:
        future.result()  # re-raises a worker's error here
