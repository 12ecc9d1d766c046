"""Deterministic first-order methods."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from memopt._checks import integer, real
from memopt.backend import array_module, to_numpy
from memopt.optim.schedules import as_schedule
from memopt.optim.trace import Recorder, Trace, log_iterations


def gradient_descent(
    problem, x0, step, *, iterations: int, log_at=None, record_second_moment: bool = False
) -> Trace:
    """x_{k+1} = x_k - alpha_k grad f(x_k) (lecture 2, eq. GD), as one run (R = 1).

    Every step evaluates all n sample gradients, so after k steps ``samples`` is k n.
    """
    integer("iterations", iterations, minimum=0)
    schedule = as_schedule(step)
    xp = array_module(problem.features)
    x = xp.asarray(x0, dtype=problem.dtype)
    if x.shape != (problem.n_features,):
        raise ValueError(f"x0 must have shape ({problem.n_features},), got {x.shape}")
    x = x[None, :]  # the run axis, so the trace has the same shape as a batched run's
    recorder = Recorder(
        problem, log_iterations(iterations) if log_at is None else log_at, record_second_moment
    )
    for k in range(iterations + 1):
        if recorder.wants(k):
            recorder.record(x, k * problem.n_samples)
        if k < iterations:
            x = x - schedule(k) * problem.gradient(x)
    return recorder.trace(f"GD, {schedule.describe()}", x)


# -- Methods measured in gradient evaluations to a tolerance (chapter "multiscale") -------------
#
# They run on any object with ``gradient(x)`` and ``minimizer`` (x*), such as the problems of
# memopt.problems.multiscale, and stop as soon as their estimate x satisfies
# ||x - x*|| <= tol ||x0 - x*||, or when ``max_evaluations`` gradients have been evaluated.


@dataclass
class Convergence:
    """One deterministic run, measured as the multiscale chapter compares methods.

    ``distances[t]`` is ||x - x*|| / ||x0 - x*|| at the method's estimate once
    ``evaluations[t]`` gradients had been evaluated (a logged subset that always holds the
    first and the last estimate); ``evaluations_to_tol`` is the count at which the estimate
    first met the tolerance, None if it did not within the budget. ``state_floats`` is the
    largest number of floats the method's arrays held at once, counted from the arrays
    themselves; ``step_sizes`` (when recorded) the step size applied after each evaluation.
    """

    label: str
    tol: float
    evaluations: np.ndarray
    distances: np.ndarray
    x: np.ndarray
    evaluations_to_tol: int | None
    state_floats: int
    step_sizes: np.ndarray | None = None

    @property
    def reached(self) -> bool:
        return self.evaluations_to_tol is not None


def _strong_convexity_constants(problem, L, mu) -> tuple[float, float]:
    """(L, mu) given explicitly or read from the problem; checked 0 < mu <= L < inf."""
    L = real("L", problem.L if L is None else L)
    mu = real("mu", problem.mu if mu is None else mu)
    if mu > L:
        raise ValueError(f"need mu <= L, got mu = {mu:g} > L = {L:g}")
    return L, mu


#: A relative distance beyond which a run is declared divergent and stopped (before overflow).
DIVERGED = 1e50


class _Monitor:
    """Counts gradient evaluations, checks and logs the distance to x*, and measures the
    floats held by the method's arrays (distinct arrays, per named slot, peak over the run)."""

    def __init__(self, problem, x0, tol, max_evaluations, record_steps=False):
        if not callable(getattr(problem, "gradient", None)) or getattr(problem, "minimizer", None) is None:
            raise TypeError("problem must provide gradient(x) and minimizer (x*)")
        if not (isinstance(tol, Real) and not isinstance(tol, bool) and 0 < tol < 1):
            raise ValueError(f"tol must be a real number in (0, 1), got {tol!r}")
        integer("max_evaluations", max_evaluations)
        xp = array_module(x0)
        x0 = xp.asarray(x0)
        if x0.dtype.kind not in "fiu":
            raise TypeError(f"x0 must hold real numbers, got dtype {x0.dtype}")
        x0 = x0.astype(xp.float64 if x0.dtype.kind in "iu" else x0.dtype)
        self.x_star = xp.asarray(problem.minimizer)
        if x0.shape != self.x_star.shape:
            raise ValueError(f"x0 must have shape {self.x_star.shape}, got {x0.shape}")
        if not bool(xp.isfinite(x0).all()):
            raise ValueError("x0 contains NaN or infinite entries")
        self.scale = float(xp.linalg.norm(x0 - self.x_star))
        if self.scale == 0:
            raise ValueError("x0 is already the minimizer: the relative distance is undefined")
        self.xp, self.x0, self.problem = xp, x0, problem
        self.tol, self.max_evaluations = float(tol), int(max_evaluations)
        self.count, self.next_log, self.hit = 0, 0, None
        self.logged_evaluations, self.logged_distances = [], []
        self.slots, self.peak = {}, 0
        self.steps = [] if record_steps else None

    def gradient(self, x):
        self.count += 1
        return self.problem.gradient(x)

    def matvec(self, matrix, p):
        """A Hessian-vector product of a quadratic: costs one gradient evaluation."""
        self.count += 1
        return matrix @ p

    def step(self, size: float) -> None:
        if self.steps is not None:
            self.steps.append(size)

    def hold(self, slot, *arrays) -> None:
        distinct = {id(a): a for a in arrays}.values()
        self.slots[slot] = sum(int(a.size) for a in distinct)
        self.peak = max(self.peak, sum(self.slots.values()))

    def release(self, slot) -> None:
        self.slots.pop(slot, None)

    def done(self, x) -> bool:
        """Record the estimate x after the evaluations so far; True when the run must stop:
        the tolerance is met, the budget is spent, or the run diverges (distance > 1e50)."""
        distance = float(self.xp.linalg.norm(x - self.x_star)) / self.scale
        reached = distance <= self.tol
        stop = reached or self.count >= self.max_evaluations or not distance <= DIVERGED
        if self.count >= self.next_log or stop:
            self.logged_evaluations.append(self.count)
            self.logged_distances.append(distance)
            self.next_log = max(self.count + 1, math.ceil(1.02 * self.count))
        if reached:
            self.hit = self.count
        return stop

    def result(self, label: str, x) -> Convergence:
        return Convergence(
            label=label, tol=self.tol,
            evaluations=np.asarray(self.logged_evaluations, dtype=np.int64),
            distances=np.asarray(self.logged_distances, dtype=np.float64),
            x=to_numpy(x), evaluations_to_tol=self.hit, state_floats=self.peak,
            step_sizes=None if self.steps is None else np.asarray(self.steps, dtype=np.float64),
        )


def plain_gradient_descent(problem, x0, *, step=None, tol: float = 1e-6,
                           max_evaluations: int = 10**6, record_steps: bool = False) -> Convergence:
    """x_{k+1} = x_k - h grad f(x_k), h = 1/L unless ``step`` is given (Nesterov 2004, 2.1.5).

    For an L-smooth, mu-strongly convex f and h = 1/L, f(x_k) - f* <= (1 - mu/L)^k (f(x_0) - f*):
    about kappa ln(1/eps) evaluations, kappa = L/mu. The estimate after k evaluations is x_k.
    """
    run = _Monitor(problem, x0, tol, max_evaluations, record_steps)
    h = 1.0 / _strong_convexity_constants(problem, None, None)[0] if step is None else real("step", step)
    x = run.x0
    while not run.done(x):
        g = run.gradient(x)
        run.hold("state", x, g)
        x = x - h * g
        run.step(h)
    return run.result("GD", x)


def nesterov_accelerated(problem, x0, *, L=None, mu=None, tol: float = 1e-6,
                         max_evaluations: int = 10**6, record_steps: bool = False) -> Convergence:
    """Nesterov's accelerated method for strongly convex f, constant momentum
    (Nesterov 2004, scheme 2.2.19): y_k = x_k + beta (x_k - x_{k-1}),
    x_{k+1} = y_k - grad f(y_k) / L, beta = (sqrt(L) - sqrt(mu)) / (sqrt(L) + sqrt(mu)).

    Theorem 2.2.3 there: f(x_k) - f* <= (1 - sqrt(mu/L))^k (f(x_0) - f* + mu/2 ||x_0 - x*||^2),
    about sqrt(kappa) ln(1/eps) evaluations. ``L`` and ``mu`` default to the problem's.
    """
    run = _Monitor(problem, x0, tol, max_evaluations, record_steps)
    L, mu = _strong_convexity_constants(problem, L, mu)
    beta = (math.sqrt(L) - math.sqrt(mu)) / (math.sqrt(L) + math.sqrt(mu))
    x = x_prev = run.x0
    while not run.done(x):
        y = x + beta * (x - x_prev)
        g = run.gradient(y)
        run.hold("state", x, x_prev, y, g)
        x_prev, x = x, y - g / L
        run.step(1.0 / L)
    return run.result("Nesterov", x)


def chebyshev_iteration(problem, x0, *, L=None, mu=None, tol: float = 1e-6,
                        max_evaluations: int = 10**6, record_steps: bool = False) -> Convergence:
    """The Chebyshev semi-iterative method for a spectrum in [mu, L] (Golub and Varga 1961;
    Saad 2003, algorithm 12.1), with the residual b - A x replaced by -grad f(x).

    With theta = (L + mu)/2, delta = (L - mu)/2 and rho_0 = delta/theta:
    x_1 = x_0 - grad f(x_0)/theta, rho_k = delta / (2 theta - delta rho_{k-1}),
    x_{k+1} = x_k + rho_k rho_{k-1} (x_k - x_{k-1}) - 2/(2 theta - delta rho_{k-1}) grad f(x_k).
    On a quadratic the error is e_k = T_k((theta - A)/delta) e_0 / T_k(theta/delta), T_k the
    Chebyshev polynomial, so ||e_k|| <= ||e_0|| / T_k((kappa+1)/(kappa-1)): the smallest
    worst case over [mu, L] of any method of k evaluations. Off quadratics it has no guarantee.
    """
    run = _Monitor(problem, x0, tol, max_evaluations, record_steps)
    L, mu = _strong_convexity_constants(problem, L, mu)
    theta, delta = (L + mu) / 2, (L - mu) / 2
    x = x_prev = run.x0
    rho_prev = None
    while not run.done(x):
        g = run.gradient(x)
        run.hold("state", x, x_prev, g)
        if rho_prev is None:  # the first step: a plain gradient step of size 1/theta
            x_prev, x, rho_prev = x, x - g / theta, delta / theta
            run.step(1.0 / theta)
            continue
        rho = delta / (2 * theta - delta * rho_prev)
        h = 2.0 / (2 * theta - delta * rho_prev)
        x_prev, x = x, x + (rho * rho_prev) * (x - x_prev) - h * g
        rho_prev = rho
        run.step(h)
    return run.result("Chebyshev", x)


def conjugate_gradients(problem, x0, *, tol: float = 1e-6, max_evaluations: int = 10**6) -> Convergence:
    """Conjugate gradients (Hestenes and Stiefel 1952) on a quadratic with Hessian
    ``problem.matrix``: the reference for quadratics only.

    x_k minimises the A-norm of the error over x_0 + span{r_0, A r_0, ..., A^(k-1) r_0}, so in
    exact arithmetic it is exact after at most d steps (after as many steps as A has distinct
    eigenvalues). Evaluations: one gradient at x_0, then one product A p per step.
    """
    matrix = getattr(problem, "matrix", None)
    if matrix is None:
        raise TypeError("conjugate gradients needs a quadratic: a problem with a .matrix (its Hessian)")
    run = _Monitor(problem, x0, tol, max_evaluations)
    x = run.x0
    r = -run.gradient(x)
    p, rr = r, float(r @ r)
    while not run.done(x):
        ap = run.matvec(matrix, p)
        run.hold("state", x, r, p, ap)
        curvature = float(p @ ap)
        if rr == 0 or curvature <= 0:
            break  # exact solution reached (or the matrix is not positive definite along p)
        alpha = rr / curvature
        x = x + alpha * p
        r = r - alpha * ap
        rr_next = float(r @ r)
        p, rr = r + (rr_next / rr) * p, rr_next
    return run.result("CG", x)


def _scales(scales) -> tuple[tuple[float, float], ...]:
    try:
        pairs = tuple((float(top), float(bottom)) for top, bottom in scales)
    except (TypeError, ValueError):
        raise TypeError("scales must be a sequence of (L_i, mu_i) pairs of real numbers") from None
    if len(pairs) < 2:
        raise ValueError(
            f"Big-Step-Little-Step needs at least two scales (with one it is Nesterov's method), got {len(pairs)}"
        )
    for i, (top, bottom) in enumerate(pairs):
        if not (math.isfinite(top) and math.isfinite(bottom) and 0 < bottom <= top):
            raise ValueError(f"scale {i}: need 0 < mu_i <= L_i < inf, got (L, mu) = ({top:g}, {bottom:g})")
    for i in range(len(pairs) - 1):
        if pairs[i][1] < pairs[i + 1][0]:
            raise ValueError(
                f"scales must be ordered and separated, L_1 >= mu_1 >= L_2 >= ...: scale {i} has "
                f"mu = {pairs[i][1]:g} < L = {pairs[i + 1][0]:g} of scale {i + 1}"
            )
    return pairs


@dataclass(frozen=True)
class BSLSSchedule:
    """The steps of Big-Step-Little-Step for the scales (L_1, mu_1), ..., (L_m, mu_m).

    Level i (i = 1..m) takes Nesterov steps of size 1/L_i with momentum
    (sqrt(L_i) - sqrt(mu_i)) / (sqrt(L_i) + sqrt(mu_i)); before each of its gradient
    evaluations it calls level i-1 on the query point (its "little steps"), takes its step
    from the point that call returns, and after its last step calls level i-1 once more; its
    momentum starts from the first repaired point. Level i < m makes ``little_steps[i-1]``
    steps per call; level m (the outermost, smallest scale) runs until the tolerance is met.
    """

    scales: tuple[tuple[float, float], ...]
    little_steps: tuple[int, ...]

    @property
    def levels(self) -> int:
        return len(self.scales)

    @property
    def step_sizes(self) -> tuple[float, ...]:
        return tuple(1.0 / top for top, _ in self.scales)

    @property
    def momenta(self) -> tuple[float, ...]:
        return tuple((math.sqrt(top) - math.sqrt(bottom)) / (math.sqrt(top) + math.sqrt(bottom))
                     for top, bottom in self.scales)

    def call_evaluations(self, level: int) -> int:
        """Gradient evaluations of one call of level ``level`` < m (1-based):
        E_1 = T_1, E_i = (T_i + 1) E_{i-1} + T_i."""
        if not 1 <= level < self.levels:
            raise ValueError(f"level must lie in [1, {self.levels - 1}], got {level}")
        total = self.little_steps[0]
        for t in self.little_steps[1:level]:
            total = (t + 1) * total + t
        return total

    def evaluations_at(self, outer_steps: int) -> int:
        """Evaluations spent when the estimate after ``outer_steps`` big steps is available:
        each big step needs one gradient plus one call of level m-1 before it, and the
        estimate is the point that call returns."""
        repair = self.call_evaluations(self.levels - 1)
        return outer_steps * (repair + 1) + repair


def nesterov_distance_steps(kappa: float, factor: float) -> int:
    """The k after which Nesterov's theorem guarantees ||x_k - x*|| <= ||x_0 - x*|| / factor.

    From f(x_k) - f* <= (1 - 1/sqrt(kappa))^k (f(x_0) - f* + mu/2 ||x_0 - x*||^2) and
    mu/2 ||x - x*||^2 <= f(x) - f* <= L/2 ||x - x*||^2:
    ||x_k - x*|| <= sqrt(kappa + 1) (1 - 1/sqrt(kappa))^(k/2) ||x_0 - x*||.
    """
    kappa, factor = real("kappa", kappa), real("factor", factor)
    if kappa < 1:
        raise ValueError(f"kappa must be >= 1, got {kappa}")
    needed = math.log(math.sqrt(kappa + 1) * factor)
    if needed <= 0:
        return 0
    contraction = 1 / math.sqrt(kappa)
    if contraction >= 1:  # kappa is 1 to float precision
        return 1  # one step of size 1/L solves a problem with a single curvature
    return math.ceil(2 * needed / -math.log1p(-contraction))


def default_little_steps(scales) -> tuple[int, ...]:
    """T_i = the steps after which Nesterov's theorem at scale i (condition kappa_i) divides
    the distance by 2 e L_i / L_{i+1} (:func:`nesterov_distance_steps`), i = 1..m-1.

    Why: a big step of size 1/L_{i+1}, with the momentum extrapolation (a factor <= 2), can
    multiply the error of scale i by up to 2 L_i / L_{i+1}; T_i steps undo that blow-up and
    shrink the error of scale i by a further factor e at every big step.
    """
    pairs = _scales(scales)
    return tuple(
        max(1, nesterov_distance_steps(top / bottom, 2 * math.e * top / next_top))
        for (top, bottom), (next_top, _) in zip(pairs[:-1], pairs[1:])
    )


def bsls_schedule(scales, little_steps=None) -> BSLSSchedule:
    """The :class:`BSLSSchedule` for ``scales`` (ordered, separated (L_i, mu_i) pairs), with
    :func:`default_little_steps` unless ``little_steps`` (m-1 positive integers) is given."""
    pairs = _scales(scales)
    if little_steps is None:
        little_steps = default_little_steps(pairs)
    little_steps = tuple(little_steps)
    if len(little_steps) != len(pairs) - 1 or any(
        isinstance(t, bool) or not isinstance(t, Integral) or t < 1 for t in little_steps
    ):
        raise ValueError(
            f"little_steps must be {len(pairs) - 1} positive integers (one per inner level), got {little_steps!r}"
        )
    return BSLSSchedule(pairs, tuple(int(t) for t in little_steps))


def big_step_little_step(problem, x0, *, scales=None, little_steps=None, tol: float = 1e-6,
                         max_evaluations: int = 10**6, record_steps: bool = False) -> Convergence:
    """Big-Step-Little-Step (Kelner, Marsden, Sharan, Sidford, Valiant, Yuan, COLT 2022) for
    f = sum_i f_i(U_i^T x) with known scales (L_i, mu_i) and unknown subspaces.

    The recursion of :class:`BSLSSchedule`: the outermost level runs Nesterov's method at the
    smallest scale (big steps 1/L_m); the gradient it uses is taken at a point where the
    larger scales have been re-minimised by the level below (little steps 1/L_{m-1}, and so
    on down to 1/L_1). A big step multiplies the error along the larger scales by up to
    L_1/L_m; the little steps repair it while barely moving the smaller scales. Each level
    keeps three vectors, so the method holds O(d m) floats. The estimate checked against the
    tolerance is the repaired point before each big step.
    """
    run = _Monitor(problem, x0, tol, max_evaluations, record_steps)
    schedule = bsls_schedule(problem.scales if scales is None else scales, little_steps)
    sizes, momenta, counts = schedule.step_sizes, schedule.momenta, schedule.little_steps

    def repaired(level: int, y):
        """Level ``level`` (0-based, < m-1) started at y: counts[level] Nesterov steps at its
        scale, the levels below re-run before each gradient and once at the end."""
        x = x_prev = y
        for t in range(counts[level]):
            z = x if t == 0 else x + momenta[level] * (x - x_prev)
            run.hold(level, x, x_prev, z)
            if level:
                z = repaired(level - 1, z)
                if t == 0:
                    x = x_prev = z  # the momentum starts from the repaired point
            g = run.gradient(z)
            run.hold(level, x, x_prev, z, g)
            x_prev, x = x, z - sizes[level] * g
            run.step(sizes[level])
        run.release(level)
        return repaired(level - 1, x) if level else x

    top = schedule.levels - 1
    x = x_prev = run.x0
    t = 0
    while True:
        z = x if t == 0 else x + momenta[top] * (x - x_prev)
        run.hold(top, x, x_prev, z)
        z = repaired(top - 1, z)
        if t == 0:
            x = x_prev = z  # the momentum starts from the repaired point
        if run.done(z):
            break
        g = run.gradient(z)
        run.hold(top, x, x_prev, z, g)
        x_prev, x = x, z - sizes[top] * g
        run.step(sizes[top])
        t += 1
    return run.result("BSLS", z)


# -- methods with a first-order oracle on a ball, and what they must remember -----------------
# The memory chapter compares methods by the number of oracle queries they make and by the
# floats they keep between queries. An oracle is a callable x -> (f(x), one subgradient at x)
# that evaluates one point (d,) or a batch of R points (R, d).


@dataclass
class QueryRun:
    """R runs of one method, each on its own problem, recorded query by query.

    ``values[r, k]`` is f at the (k+1)-th queried point of run r; ``output_values[r, k]`` is f
    at the point the method would return after k+1 queries (its best point, or its average).
    ``state_floats`` is the peak number of floats in the method's iteration state, measured as
    the total size of the arrays it keeps between queries (per run); ``output_floats`` counts the
    floats its output needs on top of that. Runs that stop early (target met, or an ellipsoid
    thinner than float64 resolves) repeat their last output, so every row has T entries.
    """

    label: str
    values: np.ndarray
    output_values: np.ndarray
    state_floats: int
    output_floats: int
    final_x: np.ndarray

    @property
    def runs(self) -> int:
        return self.values.shape[0]

    @property
    def queries(self) -> int:
        return self.values.shape[1]

    def state_bits(self, bits_per_float: int = 64) -> int:
        """The iteration state in bits, at ``bits_per_float`` bits a number (float64: 64)."""
        return self.state_floats * bits_per_float

    def queries_to_accuracy(self, f_star, f_start, eps) -> np.ndarray:
        """For each run and each relative accuracy in ``eps``, the number of queries after which
        the output first satisfies (f - f*) <= eps (f_start - f*); inf if it never did.

        ``f_star`` and ``f_start`` are scalars or one value per run; accuracy is relative to
        the gap at the starting point, so it does not depend on the function's units.
        """
        eps = np.atleast_1d(np.asarray(eps, dtype=float))
        if eps.ndim != 1 or not np.all(eps > 0):
            raise ValueError(f"eps must be positive relative accuracies, got {eps}")
        f_star = np.broadcast_to(np.asarray(f_star, dtype=float), (self.runs,))[:, None]
        gap = np.broadcast_to(np.asarray(f_start, dtype=float), (self.runs,))[:, None] - f_star
        if np.any(gap <= 0):
            raise ValueError("f_start must exceed f_star in every run")
        relative = np.minimum.accumulate((self.output_values - f_star) / gap, axis=1)
        reached = relative[:, :, None] <= eps[None, None, :]
        first = np.argmax(reached, axis=1).astype(float) + 1
        return np.where(reached.any(axis=1), first, np.inf)


def project_to_ball(x, radius: float):
    """The Euclidean projection onto the ball of the given radius centred at 0 (row-wise)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm / radius, 1.0)


def _budget(queries) -> int:
    return integer("queries", queries)


def _radius(radius) -> float:
    if isinstance(radius, bool) or not isinstance(radius, Real) or not 0 < radius < float("inf"):
        raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
    return float(radius)


def projected_subgradient_descent(
    oracle, x0, *, lipschitz: float, queries: int, radius: float = 1.0,
    distance: float | None = None, value=None,
) -> QueryRun:
    """x_{k+1} = P(x_k - eta_k g_k), eta_k = D / (G sqrt(k + 1)), on the ball ||x|| <= radius.

    G is ``lipschitz`` (a bound on the subgradients' norm) and D is ``distance`` (a bound on
    ||x_0 - x*||; by default radius + ||x_0||). The output is the step-weighted average
    xbar_k = sum_j eta_j x_j / sum_j eta_j of the queried points, the point the textbook bound
    f(xbar_k) - f* <= (D^2 + G^2 sum_j eta_j^2) / (2 sum_j eta_j) = O(G D log k / sqrt k) is
    about (Nesterov 2004, sec. 3.2.3; Bubeck 2015, thm 3.2); ``value`` (a callable f, not an
    oracle query) evaluates it. ``x0`` of shape (R, d) runs R problems at once.

    The iteration state is x (d floats); the output adds the average and its weight (d + 1).
    """
    queries = _budget(queries)
    radius = _radius(radius)
    if isinstance(lipschitz, bool) or not isinstance(lipschitz, Real) or not 0 < lipschitz < float("inf"):
        raise ValueError(f"lipschitz must be a finite number > 0, got {lipschitz!r}")
    if value is None or not callable(value):
        raise TypeError("value must be a callable returning f at the averaged point")
    x = np.array(x0, dtype=float, ndmin=2)
    if x.ndim != 2 or x.shape[1] == 0 or not np.isfinite(x).all():
        raise ValueError(f"x0 must be a finite array of shape (d,) or (R, d), got shape {np.shape(x0)}")
    x = project_to_ball(x, radius)
    if distance is None:
        distance = radius + float(np.linalg.norm(x, axis=1).max())
    elif isinstance(distance, bool) or not isinstance(distance, Real) or not 0 < distance < float("inf"):
        raise ValueError(f"distance must be a finite number > 0, got {distance!r}")
    runs, dim = x.shape
    values, outputs = np.empty((runs, queries)), np.empty((runs, queries))
    average, weight = np.zeros_like(x), 0.0
    state = {"x": x}
    for k in range(queries):
        f, g = oracle(x)
        values[:, k] = f
        step = distance / (lipschitz * np.sqrt(k + 1.0))
        weight += step
        average += (step / weight) * (x - average)
        outputs[:, k] = value(average)
        x = project_to_ball(x - step * np.asarray(g, dtype=float).reshape(runs, dim), radius)
        state["x"] = x
    state_floats = sum(a.size for a in state.values()) // runs
    return QueryRun("subgradient descent, η_k = D/(G√(k+1))", values, outputs,
                    state_floats=state_floats, output_floats=dim + 1, final_x=average)
