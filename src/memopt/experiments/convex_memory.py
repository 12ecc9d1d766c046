"""Chapter "Memory against queries in convex optimization" (book/memory/convex_memory.md).

Three first-order methods on the unit ball, each measured by the oracle queries it needs to
reach a relative accuracy eps and by the floats it keeps between queries:

* projected subgradient descent (d floats),
* the ellipsoid method (d^2 + d floats),
* analytic-centre cutting planes keeping at most m cuts (m (d + 1) + d + 1 floats),

on the hard function of Marsden, Sharan, Sidford and Valiant (2022) with the paper's constants
(eta = d^5, rho = 1, the factor d^-6) and on the simple function ||x - c||_1 / sqrt(d).

Accuracy is relative to the gap at the starting point x_0 = 0, the centre of the ball:
a point x is eps-accurate when f(x) - f* <= eps (f(0) - f*). Every method here is invariant to
a positive factor on f, so relative accuracy does not depend on the function's units (the hard
function's d^-6 puts its whole range below d^-6; an absolute eps >= d^-6 would be met by x_0).

The quantities the claims need (fitted exponents, the ellipsoid's bound and the shape of its
growth in log(1/eps), monotonicity in m, memory) are computed here from the recorded runs.
Every quantity measured over random instances is returned as a ``claims.Estimate``: the
statistic with an interval for its uncertainty over the instances. The ellipsoid on the hard
function is chaotic in the last bits of its inputs (another CPU's rounding changes every
instance's count), so only such statistics, not single runs, are stable figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
from memopt.optim.cutting_plane import ellipsoid, limited_memory_cutting_plane
from memopt.optim.first_order import projected_subgradient_descent
from memopt.problems.nemirovski import HardFunction, L1Distance

NAME = "convex_memory"
DESCRIPTION = "Queries vs. memory: subgradient descent, the ellipsoid, m-cut methods on the hard function"

PROBLEMS = ("hard", "l1")
PROBLEM_LABELS = {"hard": "hard function (paper's constants)", "l1": "simple: ‖x − c‖₁/√d"}
METHODS = ("subgradient", "ellipsoid", "cuts")
BITS_PER_FLOAT = 64


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    #: The dimension of the accuracy sweep, the cut sweep and the memory frontier.
    dim: int = 16
    #: The dimensions of the dimension sweep (at accuracy ``eps_fixed``).
    dims: tuple[int, ...] = (8, 12, 16, 24, 32)
    #: Relative accuracies 2^-1 .. 2^-12 of the accuracy sweep (halving each time).
    eps: tuple[float, ...] = tuple(2.0**-k for k in range(1, 13))
    #: The accuracy of the dimension sweep, the cut sweep and the frontier.
    eps_fixed: float = 2.0**-6
    #: Independent problems per setting (hard: a new A and v_i; simple: a new centre c).
    runs: int = 16
    #: Problems of the ellipsoid's accuracy sweep on the hard function at d = dim (the shape of
    #: its growth in log(1/eps) is measured over these; at the other d over ``runs``). At
    #: d = 16 single instances' counts jump (the best point can skip several halvings of eps
    #: in one query), so the shape needs many more instances there than at d = 24 or 32.
    ellipsoid_runs: int = 128
    #: Query budgets: subgradient descent, on each function; cutting-plane methods (per d^2).
    sgd_queries: int = 40_000
    sgd_hard_queries: int = 10_000
    sgd_hard_runs: int = 4
    cut_queries_per_d2: int = 40
    #: Query budget of each run of the cut sweep (runs with too few cuts never finish).
    cut_sweep_queries: int = 1000
    #: Kept cuts of the m-cut method in the sweeps, as a multiple of d.
    cuts_per_dim: int = 4
    #: Kept cuts of the cut sweep, as multiples of d.
    cut_multiples: tuple[float, ...] = (0.5, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
    #: Claim (a): the exponent of eps^-2 is fitted over these accuracies.
    sgd_fit: tuple[float, float] = (2.0**-8, 2.0**-3)
    #: Claim (b): the ellipsoid's queries per halving of eps over the first half of this range
    #: (high -> its geometric middle) are compared with those over the second half (middle ->
    #: low), on the hard function at every d of ``shape_dims``.
    shape_range: tuple[float, float] = (2.0**-12, 2.0**-4)
    #: The dimensions at which claim (b)'s shape is checked (the ellipsoid runs to the finest
    #: eps on the hard function at every d of ``dims``).
    shape_dims: tuple[int, ...] = (16, 24, 32)
    seed: int = 0

    def __post_init__(self):
        if self.dim < 4 or min(self.dims) < 4:
            raise ValueError("dimensions must be >= 4 (the hard function has floor(d/2) rows)")
        if self.dim not in self.dims:
            raise ValueError(f"dim {self.dim} must be one of dims {self.dims}")
        eps = np.asarray(self.eps)
        if eps.size < 3 or np.any(eps <= 0) or np.any(eps >= 1) or np.any(np.diff(eps) >= 0):
            raise ValueError("eps must be at least three decreasing accuracies in (0, 1)")
        for name in ("eps_fixed",):
            if not np.any(np.isclose(eps, getattr(self, name))):
                raise ValueError(f"{name} must be one of eps")
        for name in ("sgd_fit", "shape_range"):
            low, high = getattr(self, name)
            if not (low < high and np.isclose(eps, low).any() and np.isclose(eps, high).any()):
                raise ValueError(f"{name} must be (low, high) with both ends in eps")
        if not np.isclose(eps, math.sqrt(self.shape_range[0] * self.shape_range[1])).any():
            raise ValueError("shape_range must have its geometric middle in eps")
        if not set(self.shape_dims) <= set(self.dims):
            raise ValueError(f"shape_dims {self.shape_dims} must be among dims {self.dims}")
        if self.runs < 2 or self.ellipsoid_runs < 2 or self.sgd_hard_runs < 1:
            raise ValueError("need runs >= 2, ellipsoid_runs >= 2 and sgd_hard_runs >= 1")
        if min(self.cut_multiples) <= 0 or self.cuts_per_dim < 1:
            raise ValueError("cut counts must be positive")
        for name in ("sgd_queries", "sgd_hard_queries", "cut_queries_per_d2", "cut_sweep_queries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    def cut_counts(self, dim: int | None = None) -> tuple[int, ...]:
        dim = self.dim if dim is None else dim
        return tuple(sorted({max(1, round(k * dim)) for k in self.cut_multiples}))


SCALES = {
    "book": Config(),
    # Beyond 2^-14 float64 no longer resolves F near its minimiser at d = 64 (eta = d^5 ~ 1e9).
    "paper": Config(dims=(8, 12, 16, 24, 32, 48, 64), runs=64, ellipsoid_runs=256,
                    shape_dims=(16, 24, 32, 48, 64),
                    sgd_queries=500_000, eps=tuple(2.0**-k for k in range(1, 15))),
}


def draw(problem: str, dim: int, index: int, seed: int = 0):
    """The ``index``-th instance of ``problem`` in dimension ``dim``."""
    if problem == "hard":
        return HardFunction.draw(dim, seed=seed + 1000 * dim + index)
    if problem == "l1":
        return L1Distance.draw(dim, seed=seed + 1000 * dim + index)
    raise ValueError(f"problem must be one of {PROBLEMS}, got {problem!r}")


@dataclass
class Sweep:
    """Queries to reach each accuracy of ``eps`` (inf: not within ``budget``), per run."""

    eps: np.ndarray
    queries: np.ndarray  # (runs, len(eps))
    budget: int
    state_floats: int
    output_floats: int
    #: The textbook bound's query count at each eps, per run (NaN where no bound is drawn).
    bound: np.ndarray | None = None

    def at(self, eps: float) -> np.ndarray:
        return self.queries[:, int(np.argmin(np.abs(self.eps - eps)))]

    def mean(self) -> np.ndarray:
        """Mean queries per accuracy; NaN where some run did not reach it."""
        finite = np.isfinite(self.queries).all(axis=0)
        return np.where(finite, np.where(np.isfinite(self.queries), self.queries, 0).mean(axis=0), np.nan)

    def at_budget(self, eps: float) -> np.ndarray:
        """Queries to ``eps`` per run, with unreached runs counted at the budget: their mean is
        a lower bound on the true mean."""
        q = self.at(eps)
        return np.where(np.isfinite(q), q, self.budget)


@dataclass
class Result:
    config: Config
    #: sweeps[problem][method][d]: the accuracy sweep at d = dim, the dimension sweep elsewhere.
    sweeps: dict = field(default_factory=dict)
    #: cut_sweeps[problem][m]: the m-cut method at d = dim.
    cut_sweeps: dict = field(default_factory=dict)
    #: Subgradient descent on the hard function: relative accuracy after its budget, per run,
    #: and the queries its textbook bound needs for eps_fixed.
    sgd_hard_accuracy: np.ndarray | None = None
    sgd_hard_bound: float = math.nan
    #: Subgradient descent on the simple function at d = dim, judged by its best queried point.
    sgd_best: Sweep | None = None

    def sweep(self, problem: str, method: str, dim: int | None = None) -> Sweep:
        return self.sweeps[problem][method][self.config.dim if dim is None else dim]

    # -- claim (a) -----------------------------------------------------------------------------
    def sgd_exponent(self) -> claims.Estimate:
        """The slope of log(queries) against log(1/eps) for subgradient descent's averaged output
        on the simple function, fitted over ``config.sgd_fit`` instance by instance: mean ± 2
        s.e. over the instances (the slope of the mean of log queries)."""
        sweep = self.sweep("l1", "subgradient")
        return claims.mean_with_error(instance_slopes(sweep.eps, sweep.queries, self.config.sgd_fit),
                                      what="instances")

    def sgd_best_iterate_exponent(self) -> claims.Estimate:
        """The same slope for the best queried point instead of the averaged output."""
        return claims.mean_with_error(
            instance_slopes(self.sgd_best.eps, self.sgd_best.queries, self.config.sgd_fit), what="instances")

    # -- claim (b) -----------------------------------------------------------------------------
    def ellipsoid_bound_ratios(self) -> np.ndarray:
        """Per run of the ellipsoid (both functions, every d, every instance): the largest ratio
        of its queries to the textbook bound 2 d (d + 1) ln(osc / eps) over the accuracies it
        reached. At most 1 on every run if the bound holds."""
        ratios = []
        for problem in PROBLEMS:
            for d in self.config.dims:
                sweep = self.sweep(problem, "ellipsoid", d)
                reached = np.isfinite(sweep.queries)
                ratio = np.where(reached, sweep.queries, 0) / sweep.bound
                ratios.extend(ratio.max(axis=1)[reached.any(axis=1)])
        return np.asarray(ratios)

    def ellipsoid_bound_ratio(self) -> claims.Estimate:
        """:meth:`ellipsoid_bound_ratios` as median and range: its upper end is the worst run."""
        return claims.median_with_range(self.ellipsoid_bound_ratios(), what="runs")

    def _shape_columns(self) -> tuple[int, int, int]:
        """Indices in eps of the shape range's high end, geometric middle and low end."""
        low, high = self.config.shape_range
        eps = np.asarray(self.config.eps)
        return tuple(int(np.argmin(np.abs(np.log(eps / e)))) for e in (high, math.sqrt(low * high), low))

    def ellipsoid_halvings(self, dim: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Per instance of the hard function at ``dim``: the ellipsoid's queries per halving of eps
        over the first half of ``config.shape_range`` (early) and over the second half (late),
        and the number of halvings in each half."""
        queries = self.sweep("hard", "ellipsoid", dim).queries
        high, middle, low = self._shape_columns()
        if not np.isfinite(queries[:, low]).all():
            raise ValueError(f"some instance did not reach eps = {self.config.eps[low]:g} within the budget")
        eps = self.config.eps
        halvings = round(math.log2(eps[high] / eps[middle]))
        return ((queries[:, middle] - queries[:, high]) / halvings,
                (queries[:, low] - queries[:, middle]) / halvings, halvings)

    def ellipsoid_shape(self, dim: int | None = None) -> claims.Estimate:
        """Late queries per halving of eps over early ones (1 when queries grow linearly in
        log(1/eps)) at ``dim``, see :func:`memopt.claims.ratio_of_means`."""
        early, late, _ = self.ellipsoid_halvings(dim)
        return claims.ratio_of_means(late, early, what="instances")

    def ellipsoid_increments(self) -> tuple[np.ndarray, np.ndarray]:
        """(eps, mean queries at eps / 2 - mean queries at eps) at d = dim over
        ``config.shape_range``: the statistic of the chapter's first version (see
        :meth:`increment_spread`)."""
        sweep = self.sweep("hard", "ellipsoid")
        keep = within(sweep.eps, self.config.shape_range)
        return sweep.eps[keep][:-1], np.diff(sweep.mean()[keep])

    def increment_spread(self) -> float:
        """max_j |increment_j / mean increment - 1|, the first version's statistic (replaced:
        a maximum over eight differences of means of a chaotic count, with no uncertainty)."""
        increments = self.ellipsoid_increments()[1]
        return float(np.max(np.abs(increments / increments.mean() - 1)))

    def ellipsoid_dim_exponent(self, problem: str = "hard") -> claims.Estimate:
        """The slope of log(queries at eps_fixed) against log d for the ellipsoid. Instances are
        independent across d; the i-th instance of every d forms one sequence, whose slope is
        fitted, and the estimate is the mean ± 2 s.e. over the ``config.runs`` sequences (the
        slope of the mean of log queries)."""
        runs = self.config.runs
        queries = np.array([self.sweep(problem, "ellipsoid", d).queries[:runs, self._fixed]
                            for d in self.config.dims]).T
        dims = np.asarray(self.config.dims, dtype=float)
        slopes = instance_slopes(1 / dims, queries, (1 / dims.max(), 1 / dims.min()))
        return claims.mean_with_error(slopes, what="instances per d")

    # -- claim (c) -----------------------------------------------------------------------------
    def state_floats(self, method: str, dim: int, problem: str = "hard") -> int:
        return self.sweep(problem, method, dim).state_floats

    # -- claim (d) -----------------------------------------------------------------------------
    def cut_queries(self, problem: str = "hard") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(m, mean queries at eps_fixed with unreached runs at the budget, standard error)."""
        sweeps = self.cut_sweeps[problem]
        counts = np.array(sorted(sweeps))
        runs = [sweeps[m].at_budget(self.config.eps_fixed) for m in counts]
        errors = [q.std(ddof=1) / math.sqrt(q.size) for q in runs]
        return counts, np.array([q.mean() for q in runs]), np.asarray(errors)

    def _cut_runs(self, problem: str) -> tuple[np.ndarray, np.ndarray]:
        """(m, queries at eps_fixed per m and instance, unreached at the budget)."""
        sweeps = self.cut_sweeps[problem]
        counts = np.array(sorted(sweeps))
        return counts, np.array([sweeps[m].at_budget(self.config.eps_fixed) for m in counts])

    def cut_pairs(self, problem: str = "hard") -> list[tuple[int, int, claims.Estimate]]:
        """For each m and the next larger m' at which every run reached eps_fixed: (m, m', the
        mean over instances of q(m') / q(m) ± 2 s.e.), the same instances at every m. Where some
        run with m cuts did not finish, it counts at the budget, so the ratio is an upper bound;
        pairs whose larger m' did not finish bound nothing and are left out."""
        counts, queries = self._cut_runs(problem)
        reached = [np.isfinite(self.cut_sweeps[problem][m].at(self.config.eps_fixed)).all() for m in counts]
        return [(int(counts[k]), int(counts[k + 1]),
                 claims.mean_with_error(queries[k + 1] / queries[k], what="instances"))
                for k in range(counts.size - 1) if reached[k + 1]]

    def cut_ratio(self, problem: str = "hard") -> claims.Estimate:
        """Per instance, queries with the fewest cuts over queries with the most (unreached runs at
        the budget, so a lower bound on the true ratio): mean ± 2 s.e. over the instances."""
        _, queries = self._cut_runs(problem)
        return claims.mean_with_error(queries[0] / queries[-1], what="instances")

    # -- frontier ------------------------------------------------------------------------------
    def frontier(self, problem: str) -> list[tuple[str, int, float, bool]]:
        """(method, state bits, mean queries at eps_fixed, reached by every run) at d = dim."""
        eps = self.config.eps_fixed
        sweeps = [(method_label(m, self.config), self.sweep(problem, m)) for m in METHODS]
        sweeps += [(f"m = {m} cuts", sweep) for m, sweep in sorted(self.cut_sweeps[problem].items())]
        return [(label, sweep.state_floats * BITS_PER_FLOAT, float(sweep.at_budget(eps).mean()),
                 bool(np.isfinite(sweep.at(eps)).all())) for label, sweep in sweeps]

    @property
    def _fixed(self) -> int:
        return int(np.argmin(np.abs(np.asarray(self.config.eps) - self.config.eps_fixed)))


def within(eps, window) -> np.ndarray:
    """Mask of the accuracies in [low, high] (up to rounding)."""
    low, high = window
    return (eps >= low * (1 - 1e-9)) & (eps <= high * (1 + 1e-9))


def instance_slopes(eps, queries, window) -> np.ndarray:
    """Least-squares slope of log(queries) against log(1/eps) over eps in [low, high], one per
    row of ``queries`` (runs x len(eps)); raises if a run did not reach one of those eps."""
    eps, queries = np.asarray(eps, dtype=float), np.asarray(queries, dtype=float)
    keep = within(eps, window)
    if keep.sum() < 2:
        raise ValueError("a slope needs at least two accuracies in the window")
    y = queries[:, keep]
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("some run did not reach every accuracy of the window within its budget")
    x = np.log(1 / eps[keep])
    x = x - x.mean()
    y = np.log(y)
    return (y - y.mean(axis=1, keepdims=True)) @ x / (x @ x)


def method_label(method: str, config: Config) -> str:
    return {"subgradient": "subgradient descent", "ellipsoid": "ellipsoid",
            "cuts": f"cutting planes, m = {config.cuts_per_dim}d"}[method]


def hard_instance_facts(dim: int, index: int = 0, seed: int = 0) -> dict:
    """The numbers that say what accuracy means on one instance of the hard function."""
    f = draw("hard", dim, index, seed)
    best = f.minimize()
    start = float(f.value(np.zeros(dim)))
    return {
        "dim": dim, "rows": f.A.shape[0], "pieces": f.n_pieces, "gamma": f.gamma,
        "eta": f.eta, "scale": f.scale, "lipschitz": f.lipschitz,
        "f_start": start, "f_star": best.value, "gap": start - best.value,
        "gap_over_scale": (start - best.value) / f.scale,
        "minimiser_norm": float(np.linalg.norm(best.x)),
        "barrier_at_minimiser": float(np.abs(f.A @ best.x).max()),
        "informative_threshold": (1 + f.rho) / f.eta,
    }


# -- textbook bounds ---------------------------------------------------------------------------
def subgradient_bound_queries(eps_abs, lipschitz: float, distance: float) -> np.ndarray:
    """Queries after which the textbook bound on the averaged point, (D^2 + G^2 sum eta_j^2) /
    (2 sum eta_j) with eta_j = D / (G sqrt(j + 1)), is <= eps_abs. Uses sum_{j<k} 1/(j+1) <=
    1 + ln k and sum_{j<k} 1/sqrt(j+1) >= 2 sqrt(k+1) - 2, so the count is an upper bound."""
    eps_abs = np.atleast_1d(np.asarray(eps_abs, dtype=float))
    scale = lipschitz * distance

    def bound(log_k):
        k = np.exp(log_k)
        return scale * (2 + log_k) / (2 * (2 * np.sqrt(k + 1) - 2))

    low, high = np.zeros_like(eps_abs), np.full_like(eps_abs, 200.0)  # k up to e^200
    for _ in range(200):
        middle = 0.5 * (low + high)
        above = bound(middle) > eps_abs
        low, high = np.where(above, middle, low), np.where(above, high, middle)
    return np.ceil(np.exp(high))


def ellipsoid_bound_queries(eps_abs, dim: int, oscillation: float) -> np.ndarray:
    """2 d (d + 1) ln(osc / eps_abs): after that many cuts the best centre is eps_abs-accurate,
    osc >= sup_ball f - f* (each cut shrinks the volume by exp(-1/(2(d+1))) at least; a
    shrunken copy of the ball around x* must then have lost a point to a cut; Bubeck 2015,
    thm 2.4). Queries are at most the cuts, so this bounds the queries too."""
    eps_abs = np.asarray(eps_abs, dtype=float)
    return 2 * dim * (dim + 1) * np.log(np.maximum(oscillation / eps_abs, 1.0))


# -- runs --------------------------------------------------------------------------------------
def _cut_budget(config: Config, dim: int) -> int:
    return config.cut_queries_per_d2 * dim * dim


def _run_cutting(problem, method, dim, config, runs, finest, max_cuts=None, budget=None) -> Sweep:
    """Runs of a cutting-plane method on ``runs`` instances, each stopped at accuracy ``finest``
    (or at its budget); queries to every accuracy of ``config.eps`` (inf below ``finest``)."""
    budget = _cut_budget(config, dim) if budget is None else budget
    eps = np.asarray(config.eps)
    queries, bounds, state, output = [], [], 0, 0
    for index in range(runs):
        f = draw(problem, dim, index, config.seed)
        f_star = f.minimize().value
        f_start = float(f.value(np.zeros(dim)))
        gap = f_start - f_star
        target = f_star + finest * gap
        if method == "ellipsoid":
            run = ellipsoid(f.oracle, dim, queries=budget, target=target)
            bounds.append(ellipsoid_bound_queries(eps * gap, dim, 2 * f.lipschitz))
        else:
            run = limited_memory_cutting_plane(f.oracle, dim, max_cuts, queries=budget, target=target)
        counts = run.queries_to_accuracy(f_star, f_start, eps)[0]
        queries.append(np.where(eps >= finest * (1 - 1e-9), counts, np.inf))
        state, output = max(state, run.state_floats), run.output_floats  # the peak over runs
    return Sweep(eps, np.asarray(queries), budget, state, output,
                 np.asarray(bounds) if bounds else None)


def _run_subgradient(dim, config, finest, budget) -> tuple[Sweep, Sweep]:
    """Batched runs on the simple function: (averaged output, best queried point)."""
    eps = np.asarray(config.eps)
    f = L1Distance.draw(dim, runs=config.runs, seed=config.seed + 1000 * dim)
    x0 = np.zeros((config.runs, dim))
    run = projected_subgradient_descent(f.oracle, x0, lipschitz=f.lipschitz, queries=budget,
                                        distance=1.0, value=f.value)
    f_start = f.value(x0)
    bound = subgradient_bound_queries(np.outer(f_start, eps), f.lipschitz, 1.0)
    shallow = eps >= finest * (1 - 1e-9)
    counts = np.where(shallow, run.queries_to_accuracy(0.0, f_start, eps), np.inf)
    average = Sweep(eps, counts, budget, run.state_floats, run.output_floats, bound)
    best_values = np.minimum.accumulate(run.values, axis=1)
    reached = (best_values / f_start[:, None])[:, :, None] <= eps[None, None, :]
    counts = np.where(reached.any(axis=1) & shallow, np.argmax(reached, axis=1) + 1.0, np.inf)
    return average, Sweep(eps, counts, budget, run.state_floats, 1)


def _run_subgradient_hard(config: Config) -> tuple[np.ndarray, float, Sweep]:
    """Subgradient descent on the hard function at d = dim for its (small) budget."""
    dim, eps = config.dim, np.asarray(config.eps)
    accuracy, bounds, counts, state, output = [], [], [], 0, 0
    for index in range(config.sgd_hard_runs):
        f = draw("hard", dim, index, config.seed)
        f_star = f.minimize().value
        f_start = float(f.value(np.zeros(dim)))
        run = projected_subgradient_descent(f.oracle, np.zeros(dim), lipschitz=f.lipschitz,
                                            queries=config.sgd_hard_queries, distance=1.0, value=f.value)
        gap = f_start - f_star
        accuracy.append(float((run.output_values[0].min() - f_star) / gap))
        counts.append(run.queries_to_accuracy(f_star, f_start, eps)[0])
        bounds.append(subgradient_bound_queries(config.eps_fixed * gap, f.lipschitz, 1.0)[0])
        state, output = run.state_floats, run.output_floats
    sweep = Sweep(eps, np.asarray(counts), config.sgd_hard_queries, state, output)
    return np.asarray(accuracy), float(np.mean(bounds)), sweep


def run(config: Config = Config(), progress: bool = False) -> Result:
    """All of the chapter's runs for ``config``."""
    result = Result(config)
    tasks = [(p, m, d) for p in PROBLEMS for m in METHODS for d in config.dims]
    tasks += [(p, "cut sweep", m) for p in PROBLEMS for m in config.cut_counts()]
    for problem, method, d in tqdm(tasks, desc="convex memory runs", disable=not progress):
        if method == "cut sweep":
            result.cut_sweeps.setdefault(problem, {})[d] = _run_cutting(
                problem, "cuts", config.dim, config, config.runs, config.eps_fixed, max_cuts=d,
                budget=config.cut_sweep_queries)
            continue
        sweeps = result.sweeps.setdefault(problem, {}).setdefault(method, {})
        finest = min(config.eps) if d == config.dim else config.eps_fixed
        if method == "subgradient" and problem == "hard":
            if d == config.dim:  # far too slow to reach anything: one dimension shows it
                result.sgd_hard_accuracy, result.sgd_hard_bound, sweeps[d] = _run_subgradient_hard(config)
        elif method == "subgradient":
            budget = config.sgd_queries if d == config.dim else config.sgd_queries // 8
            sweeps[d], best = _run_subgradient(d, config, finest, budget)
            if d == config.dim:
                result.sgd_best = best
        elif method == "ellipsoid":
            runs = config.ellipsoid_runs if (problem == "hard" and d == config.dim) else config.runs
            if problem == "hard":  # the shape in log(1/eps) is measured at every d
                finest = min(config.eps)
            sweeps[d] = _run_cutting(problem, method, d, config, runs, finest)
        else:
            sweeps[d] = _run_cutting(problem, method, d, config, config.runs, finest,
                                     max_cuts=config.cuts_per_dim * d)
    return result


# -- figures -----------------------------------------------------------------------------------
COLOURS = {"subgradient": "C0", "ellipsoid": "C3", "cuts": "C2"}
QUERY_LABEL = "oracle queries to reach ε (mean, 10–90% band)"


def _finite_columns(sweep: Sweep):
    return np.isfinite(sweep.queries).all(axis=0)


def plot_accuracy(result: Result):
    """Queries against 1/eps at d = dim for the three methods on both functions, with the
    textbook upper bounds dashed."""
    config = result.config
    fig, axes = plotting.figure(ncols=2)
    for ax, problem in zip(axes, PROBLEMS):
        for method in METHODS:
            sweep = result.sweep(problem, method)
            keep = _finite_columns(sweep)
            colour = COLOURS[method]
            if keep.any():
                plotting.mean_band(ax, 1 / sweep.eps[keep], sweep.queries[:, keep],
                                   label=method_label(method, config), color=colour)
            else:
                ax.plot(1 / sweep.eps, np.full(sweep.eps.size, sweep.budget), ls=":", color=colour,
                        label=f"{method_label(method, config)}: no ε reached in {sweep.budget:,} queries")
            if sweep.bound is not None:
                plotting.theory(ax, 1 / sweep.eps, sweep.bound.mean(axis=0), label=None, color=colour)
        ax.plot([], [], ls="--", color="gray", label="textbook upper bound (same colour)")
        if problem == "hard":  # between the ellipsoid's curve and the cut method's
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.17), fontsize=8)
        else:
            ax.legend(loc="upper left", fontsize=8)
        plotting.axes_labels(ax, xlabel="1/ε (relative accuracy; ε = (f − f*)/(f(0) − f*))",
                             ylabel=QUERY_LABEL, title=f"{PROBLEM_LABELS[problem]}, d = {config.dim}",
                             logx=True, logy=True)
    return fig


def plot_shape(result: Result, band: tuple[float, float] | None = None):
    """The ellipsoid on the hard function at every d: mean queries over d(d + 1) against
    log2(1/eps) (straight parallel lines: d^2 log(1/eps)), and the late-over-early ratio of
    queries per halving with its interval, ``band`` shaded (the accepted range)."""
    config = result.config
    fig, (left, right) = plotting.figure(ncols=2)
    colours = plotting.palette(len(config.dims))
    high, middle, low = result._shape_columns()
    for colour, d in zip(colours, config.dims):
        sweep = result.sweep("hard", "ellipsoid", d)
        keep = _finite_columns(sweep)
        plotting.mean_band(left, np.log2(1 / sweep.eps[keep]), sweep.queries[:, keep] / (d * (d + 1)),
                           label=f"d = {d} ({sweep.queries.shape[0]} instances)", color=colour)
    for column in (high, middle, low):
        left.axvline(np.log2(1 / config.eps[column]), color="gray", ls=":", lw=1)
    left.legend(loc="upper left", fontsize=8)
    plotting.axes_labels(left, xlabel="log2(1/ε) (relative accuracy)", ylabel="queries / (d(d+1)) (mean, 10–90% band)",
                         title="ellipsoid, hard function: queries to reach ε")
    if band is not None:
        right.axhspan(*band, color="gray", alpha=0.15, lw=0, label=f"accepted: [{band[0]:.3g}, {band[1]:.3g}]")
    right.axhline(1.0, color="black", lw=0.8, ls="--", label="linear in log(1/ε)")
    for colour, d in zip(colours, config.dims):
        try:
            estimate = result.ellipsoid_shape(d)
        except ValueError:  # an unfinished run, or no early queries at all (tiny scales)
            continue
        checked = d in config.shape_dims
        right.errorbar([d], [estimate.value], yerr=[[estimate.value - estimate.low], [estimate.high - estimate.value]],
                       fmt="o", color=colour, mfc=colour if checked else "none", capsize=3)
    right.plot([], [], "o", color="gray", label="checked (ratio of means ± 2 s.e.)")
    right.plot([], [], "o", color="gray", mfc="none", label="not checked (too few instances)")
    right.legend(loc="upper right", fontsize=8)
    right.set_xscale("log")
    right.set_xticks(config.dims, [str(d) for d in config.dims])
    right.minorticks_off()
    eps = [int(round(np.log2(config.eps[c]))) for c in (high, middle, low)]
    plotting.axes_labels(right, xlabel="dimension d", ylabel="late / early queries per halving of ε",
                         title=f"late (2^{eps[1]} → 2^{eps[2]}) over early (2^{eps[0]} → 2^{eps[1]})")
    return fig


def plot_dimension(result: Result):
    """Queries to reach eps_fixed against d, both functions, with reference slopes."""
    config = result.config
    dims = np.asarray(config.dims, dtype=float)
    fig, axes = plotting.figure(ncols=2)
    for ax, problem in zip(axes, PROBLEMS):
        for method in METHODS:
            if any(d not in result.sweeps[problem][method] for d in config.dims):
                continue
            runs = [result.sweep(problem, method, d).at(config.eps_fixed) for d in config.dims]
            if not all(np.isfinite(r).all() for r in runs):
                continue
            colour = COLOURS[method]
            means = np.array([r.mean() for r in runs])
            low, high = np.array([np.quantile(r, plotting.BAND) for r in runs]).T
            ax.plot(dims, means, color=colour, lw=1.6, marker="o", ms=4, label=method_label(method, config))
            ax.fill_between(dims, low, high, color=colour, alpha=0.2, lw=0)
            middle = means[list(config.dims).index(config.dim)]
            if method == "ellipsoid":
                bound = [result.sweep(problem, method, d).bound.mean(axis=0)[result._fixed] for d in config.dims]
                plotting.theory(ax, dims, bound, label="ellipsoid: textbook bound 2d(d+1) ln(osc/ε)", color=colour)
                ax.plot(dims, middle * (dims / config.dim) ** 2, ls=":", color=colour, label="∝ d² (reference slope)")
            elif method == "cuts":
                ax.plot(dims, middle * dims / config.dim, ls=":", color=colour, label="∝ d (reference slope)")
            else:
                plotting.theory(ax, dims, [result.sweep(problem, method, d).bound.mean(axis=0)[result._fixed]
                                           for d in config.dims],
                                label="subgradient: textbook bound (no d in it)", color=colour)
        if problem == "hard":
            ax.plot([], [], ls="none", label="(subgradient descent: no ε reached, see text)")
        plotting.axes_labels(ax, xlabel="dimension d", ylabel=f"queries to reach ε = 2^{int(np.log2(config.eps_fixed))}",
                             title=PROBLEM_LABELS[problem], logx=True, logy=True)
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * 300)  # room for the legend above the curves
        ax.legend(loc="upper left", fontsize=7)
        ax.set_xticks(dims, [str(int(d)) for d in dims])
        ax.minorticks_off()
    return fig


def plot_cuts(result: Result):
    """Queries to reach eps_fixed against the number m of kept cuts, at d = dim."""
    config = result.config
    fig, axes = plotting.figure(ncols=2)
    for ax, problem in zip(axes, PROBLEMS):
        counts, lower, errors = result.cut_queries(problem)
        sweeps = result.cut_sweeps[problem]
        done = np.array([np.isfinite(sweeps[m].at(config.eps_fixed)).all() for m in counts])
        ax.errorbar(counts[done], lower[done], yerr=2 * errors[done], fmt="o-", color=COLOURS["cuts"],
                    label="analytic-centre cutting planes (mean ± 2 s.e.)")
        if (~done).any():
            ax.plot(counts[~done], lower[~done], "^", color="gray", ms=9,
                    label=f"not reached by some run within {config.cut_sweep_queries:,} queries")
        ax.axvline(config.dim, color="black", ls=":", lw=1, label=f"m = d = {config.dim}")
        ellipsoid_mean = result.sweep(problem, "ellipsoid").at(config.eps_fixed).mean()
        ax.axhline(ellipsoid_mean, color=COLOURS["ellipsoid"], ls="--", lw=1.2,
                   label=f"ellipsoid ({config.dim ** 2 + config.dim} floats)")
        ax.legend(loc="center right", fontsize=8)
        plotting.axes_labels(ax, xlabel="kept cuts m (state: m(d+1) + d + 1 floats)",
                             ylabel=f"queries to reach ε = 2^{int(np.log2(config.eps_fixed))}",
                             title=f"{PROBLEM_LABELS[problem]}, d = {config.dim}", logy=True)
    return fig


def theorem_shapes(dim: int, points: int = 50) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The lower bounds' trade-off curves with every constant and log factor set to 1:
    d^(1.25 - delta) bits <-> d^(1 + 4 delta / 3) queries, delta in [0, 1/4] (Marsden et al.);
    d^(2 - delta) bits <-> d^(1 + delta / 3) queries, delta in [0, 1] (Blanchard et al.)."""
    small, large = np.linspace(0, 0.25, points), np.linspace(0, 1, points)
    return {
        "marsden2022": (dim ** (1.25 - small), dim ** (1 + 4 * small / 3)),
        "blanchard2023": (dim ** (2 - large), dim ** (1 + large / 3)),
    }


def plot_frontier(result: Result):
    """Memory (bits of state) against queries at d = dim and eps_fixed, with the theorems'
    trade-off shapes (constants and logarithms omitted) for reference."""
    config = result.config
    fig, axes = plotting.figure(ncols=2, panel=(5.6, 4.4))
    shapes = theorem_shapes(config.dim)
    for ax, problem in zip(axes, PROBLEMS):
        for name, marker in (("subgradient", "s"), ("ellipsoid", "D")):
            sweep = result.sweep(problem, name)
            q = sweep.at(config.eps_fixed)
            bits = sweep.state_floats * BITS_PER_FLOAT
            if np.isfinite(q).all():
                ax.plot(bits, q.mean(), marker, color=COLOURS[name], ms=8, label=method_label(name, config))
            else:
                ax.plot(bits, sweep.budget, "^", color=COLOURS[name], ms=9,
                        label=f"{method_label(name, config)}: not reached in {sweep.budget:,}")
                if name == "subgradient" and problem == "hard":
                    ax.annotate(f"its bound: {result.sgd_hard_bound:.0e} queries", xy=(bits, sweep.budget),
                                xytext=(bits / 8, sweep.budget * 6), fontsize=8, color=COLOURS[name],
                                arrowprops={"arrowstyle": "->", "color": COLOURS[name]})
        counts, lower, _ = result.cut_queries(problem)
        sweeps = result.cut_sweeps[problem]
        bits = np.array([sweeps[m].state_floats * BITS_PER_FLOAT for m in counts])
        done = np.array([np.isfinite(sweeps[m].at(config.eps_fixed)).all() for m in counts])
        ax.plot(bits[done], lower[done], "o-", color=COLOURS["cuts"], label="cutting planes, m cuts")
        if (~done).any():
            ax.plot(bits[~done], lower[~done], "^", color=COLOURS["cuts"], mfc="none", ms=9,
                    label=f"m cuts: not reached in {config.cut_sweep_queries:,}")
        styles = {"marsden2022": ("k", "Marsden et al.: d^(1.25−δ) bits ↔ d^(1+4δ/3) queries"),
                  "blanchard2023": ("gray", "Blanchard et al.: d^(2−δ) bits ↔ d^(1+δ/3) queries")}
        for key, (memory, queries) in shapes.items():
            colour, label = styles[key]
            plotting.theory(ax, memory, queries, label=f"{label} (shape only)", color=colour)
        plotting.axes_labels(ax, xlabel="memory: bits of state between queries (64-bit floats)",
                             ylabel=f"queries to reach ε = 2^{int(np.log2(config.eps_fixed))}",
                             title=f"{PROBLEM_LABELS[problem]}, d = {config.dim}", logx=True, logy=True)
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * 300)  # room for the legend above the points
        ax.legend(loc="upper left", fontsize=7)
    return fig


def figures(result: Result) -> dict:
    return {
        "accuracy": plot_accuracy(result),
        "shape": plot_shape(result),
        "dimension": plot_dimension(result),
        "cuts": plot_cuts(result),
        "frontier": plot_frontier(result),
    }


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run convex_memory``)."""
    config = result.config

    def numbers(values):
        return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]

    def estimate(e: claims.Estimate) -> dict:
        return {"value": e.value, "low": e.low, "high": e.high, "method": e.method}

    increments = result.ellipsoid_increments()
    return {
        "dim": config.dim,
        "eps_fixed": config.eps_fixed,
        "subgradient_exponent_average": estimate(result.sgd_exponent()),
        "subgradient_exponent_best_iterate": estimate(result.sgd_best_iterate_exponent()),
        "ellipsoid_bound_ratio": estimate(result.ellipsoid_bound_ratio()),
        "ellipsoid_late_over_early_queries_per_halving": {
            str(d): estimate(result.ellipsoid_shape(d)) for d in config.shape_dims},
        "ellipsoid_increments_first_version": {"eps": numbers(increments[0]), "queries": numbers(increments[1]),
                                               "spread": result.increment_spread()},
        "ellipsoid_dim_exponent": {p: estimate(result.ellipsoid_dim_exponent(p)) for p in PROBLEMS},
        "state_floats": {m: {str(d): result.state_floats(m, d, "l1") for d in config.dims} for m in METHODS},
        "cut_sweep": {p: {"m": numbers(result.cut_queries(p)[0]), "queries": numbers(result.cut_queries(p)[1]),
                          "pairs": [{"m": m, "next_m": n, "queries_ratio": estimate(e)}
                                    for m, n, e in result.cut_pairs(p)],
                          "ratio": estimate(result.cut_ratio(p))}
                      for p in PROBLEMS},
        "subgradient_on_hard": {"relative_accuracy_after_budget": numbers(result.sgd_hard_accuracy),
                                "budget": config.sgd_hard_queries, "bound_queries": result.sgd_hard_bound},
        "frontier": {p: [{"method": m, "bits": b, "queries": q, "reached": r}
                         for m, b, q, r in result.frontier(p)] for p in PROBLEMS},
    }
