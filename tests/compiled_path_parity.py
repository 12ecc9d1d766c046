"""The SAG and SGD chapters' experiments at book scale, once on the compiled CPU path (Numba,
the default) and once on the NumPy twin: every number of the two results must agree to 1e-12
(relative, or 1e-15 absolute for numbers near 0), and every count (logged iterations, sample
gradients, passes) exactly. This is how a change of the compiled path is checked against the
stored notebooks without re-executing them.

    python tests/compiled_path_parity.py [sag sgd]

prints one line per experiment (the largest difference and where) and exits 1 on a mismatch.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from memopt import experiments, kernels

RTOL, ATOL = 1e-12, 1e-15
#: Leaves that do not come from our methods: the SAG chapter's scikit-learn reference with
#: solver="sag" is fitted without a random_state, so it differs from one call to the next.
NOT_OURS = ("result.sklearn['lecture']['sag']", "result.sklearn['large']['sag']")


def leaves(value, path="result"):
    """(path, leaf) for every number, array or string reachable from ``value``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from leaves(getattr(value, field.name), f"{path}.{field.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]")
    elif hasattr(value, "features") and hasattr(value, "labels"):  # a problem: its data
        yield from leaves({"features": value.features, "labels": value.labels, "mu": value.mu}, path)
    else:
        yield path, value


def compare(a, b) -> tuple[float, str, list[str]]:
    """The largest relative difference between the numbers of ``a`` and ``b``, where it is,
    and every leaf that disagrees beyond the tolerance (or in shape, type or count)."""
    worst, where, failures = 0.0, "", []
    left, right = list(leaves(a)), list(leaves(b))
    if [p for p, _ in left] != [p for p, _ in right]:
        return np.inf, "structure", ["the two results have different fields"]
    for (path, x), (_, y) in zip(left, right):
        if path.startswith(NOT_OURS):
            continue
        if isinstance(x, (str, type(None), bool)) or callable(x):
            if x != y and not callable(x):
                failures.append(f"{path}: {x!r} != {y!r}")
            continue
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape:
            failures.append(f"{path}: shapes {x.shape} != {y.shape}")
            continue
        if x.dtype.kind in "iub":
            if not np.array_equal(x, y):
                failures.append(f"{path}: integers differ")
            continue
        if x.dtype.kind not in "fc":
            continue
        same = (x == y) | (np.isnan(x) & np.isnan(y))  # inf == inf: passes never reached
        with np.errstate(invalid="ignore"):
            difference = np.where(same, 0.0, np.abs(x - y))
        scale = np.maximum(np.abs(x), np.abs(y))
        relative = float(np.max(np.where(same, 0.0, difference / np.where(scale > 0, scale, 1.0)), initial=0.0))
        if relative > worst:
            worst, where = relative, path
        if not np.all(same | (difference <= np.maximum(RTOL * scale, ATOL))):
            failures.append(f"{path}: relative difference {relative:.2e}")
    return worst, where, failures


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or ["sag", "sgd"]
    ok = True
    for name in names:
        module = experiments.get(name)
        config = module.SCALES["book"]
        results, seconds = {}, {}
        for choice in ("numba", "numpy"):
            start = time.perf_counter()
            with kernels.using(choice):
                results[choice] = module.run(config)
            seconds[choice] = time.perf_counter() - start
        worst, where, failures = compare(results["numba"], results["numpy"])
        summaries = compare(module.summary(results["numba"]), module.summary(results["numpy"]))
        failures += summaries[2]
        status = "identical to 1e-12" if not failures else "DIFFERENT"
        print(f"{name}: {status}; largest relative difference {worst:.2e} at {where}; summary "
              f"{summaries[0]:.2e}; compiled {seconds['numba']:.1f} s, NumPy twin {seconds['numpy']:.1f} s")
        for failure in failures[:20]:
            print(f"    {failure}")
        ok &= not failures
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
