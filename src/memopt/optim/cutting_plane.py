r"""Cutting-plane methods on the ball, with the memory each one keeps.

A cutting-plane method keeps a region known to contain a minimiser and shrinks it with every
answer of the oracle: a subgradient g at the centre c says that every point with
f(x) <= f(c) satisfies g^T (x - c) <= 0. Only oracle calls count as queries.

* :func:`ellipsoid` (Shor; Yudin and Nemirovski; Khachiyan) keeps an ellipsoid
  {c + L u : ||u|| <= 1}: d^2 + d floats. Each central cut multiplies its volume by
  (d / (d + 1)) (d^2 / (d^2 - 1))^((d - 1) / 2) <= exp(-1 / (2 (d + 1))), so it needs
  O(d^2 log(1/eps)) queries (Bubeck 2015, sec. 2.2). The factor is stored, not P = L L^T:
  its condition number is the square root of P's, which keeps the very flat ellipsoids that
  a barrier of slope d^5 produces within float64.
* :func:`limited_memory_cutting_plane` keeps at most m cuts and queries the analytic centre of
  the polytope they cut from the ball (the analytic-centre cutting-plane method; Goffin and
  Vial 2002), dropping the cut of smallest leverage when it must make room, as Vaidya's method
  does. It keeps m (d + 1) + d + 1 floats. The Chebyshev centre (the largest inscribed ball,
  an LP) is the other classical choice, but it is not unique in a thin polytope, and the
  barrier of the hard function makes the polytope a slab of width ~1/eta: an LP solver then
  returns an extreme point of the set of such centres, with no information along the slab.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy.linalg import solve_triangular

from memopt._checks import integer
from memopt.optim.first_order import QueryRun, _budget, _radius

#: The ellipsoid cuts a centre outside the ball with the ball's separating hyperplane, which
#: costs no query; a run making this many cuts per query allowed has stalled and stops.
CUTS_PER_QUERY = 10

#: An ellipsoid thinner than this (relative to the ball) is below what float64 resolves on
#: points of norm <= 1, and its factor would soon underflow into subnormal numbers.
THINNEST = 1e-20


def _dimension(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, Integral) or dim < 2:
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    return int(dim)


def ellipsoid_volume_factor(dim: int) -> float:
    """vol(E_{k+1}) / vol(E_k) for a central cut in dimension d (textbook formula, d >= 2)."""
    d = float(_dimension(dim))
    return d / (d + 1) * (d * d / (d * d - 1)) ** ((d - 1) / 2)


def _target(target):
    if target is None:
        return -np.inf
    target = float(target)
    if np.isnan(target):
        raise ValueError("target must be a number or None")
    return target


class _Queries:
    """The oracle's answers as a run records them: every value, the best so far and where."""

    def __init__(self, oracle, dim):
        self.oracle, self.dim = oracle, dim
        self.values, self.best_values = [], []
        self.best, self.best_x = np.inf, np.zeros(dim)

    def __len__(self):
        return len(self.values)

    def ask(self, x):
        f, g = self.oracle(x)
        f = float(np.asarray(f).reshape(()))
        g = np.asarray(g, dtype=float).reshape(-1)
        if g.shape != (self.dim,) or not np.isfinite(g).all() or not np.isfinite(f):
            raise ValueError(f"the oracle must return a finite value and a subgradient of shape ({self.dim},)")
        self.values.append(f)
        if f < self.best:
            self.best, self.best_x = f, x.copy()
        self.best_values.append(self.best)
        return f, g


def _run(label, record: _Queries, queries, state_floats, output_floats):
    """A one-run QueryRun padded to ``queries`` entries (a run that stopped keeps its output)."""
    values = np.asarray(record.values, dtype=float)
    best = np.asarray(record.best_values, dtype=float)
    if values.size < queries and values.size:
        values = np.concatenate([values, np.full(queries - values.size, values[-1])])
        best = np.concatenate([best, np.full(queries - best.size, best[-1])])
    return QueryRun(label, values[None, :], best[None, :], state_floats=state_floats,
                    output_floats=output_floats, final_x=record.best_x[None, :])


def ellipsoid(oracle, dim: int, *, queries: int, radius: float = 1.0, target: float | None = None,
              record_volume: bool = False):
    """The central-cut ellipsoid method on the ball ||x|| <= radius, from E_0 = the ball.

    A centre outside the ball is cut by the ball's separating hyperplane c^T x <= ||c||,
    without a query.

    E_k = {c + L u : ||u|| <= 1}. For a cut g^T (x - c) <= 0, with w = L^T g and u = w / ||w||:
    c <- c - L u / (d + 1) and L <- sqrt(d^2 / (d^2 - 1)) L (I - (1 - sqrt((d-1)/(d+1))) u u^T),
    which is the textbook update P <- d^2/(d^2-1) (P - 2/(d+1) b b^T), b = P g / sqrt(g^T P g),
    for P = L L^T. Stops after ``queries`` oracle calls, once the best value is <= ``target``,
    when the ellipsoid is thinner than :data:`THINNEST` along a cut, or after
    :data:`CUTS_PER_QUERY` cuts per query allowed. The output is the best
    queried centre. With ``record_volume`` it also returns log(vol E_k / vol E_0) after every
    cut, from the determinant of L (for tests of the volume factor).
    """
    dim, queries, radius, target = _dimension(dim), _budget(queries), _radius(radius), _target(target)
    centre, factor = np.zeros(dim), radius * np.eye(dim)
    stretch = np.sqrt(dim * dim / (dim * dim - 1.0))
    shrink = 1.0 - np.sqrt((dim - 1.0) / (dim + 1.0))
    record, volumes = _Queries(oracle, dim), []
    for _ in range(CUTS_PER_QUERY * queries):
        if len(record) >= queries or record.best <= target:
            break
        norm = np.linalg.norm(centre)
        if norm > radius:
            g = centre / norm  # the ball's separating hyperplane: no query
        else:
            _, g = record.ask(centre)
            if not g.any():
                break  # 0 is a subgradient: the centre is a minimiser
        w = factor.T @ g
        width = np.linalg.norm(w)  # half-width of E_k along g, times ||g||
        if width <= THINNEST * radius * np.linalg.norm(g):
            break
        u = w / width
        moved = factor @ u
        centre = centre - moved / (dim + 1)
        factor = stretch * (factor - shrink * np.outer(moved, u))
        if record_volume:
            volumes.append(np.linalg.slogdet(factor)[1] - dim * np.log(radius))
    state_floats = centre.size + factor.size
    run = _run("ellipsoid", record, queries, state_floats, dim + 1)
    return (run, np.asarray(volumes)) if record_volume else run


def analytic_centre(normals, offsets, radius: float, start, *, tol: float = 1e-6,
                    max_steps: int = 100):
    """The minimiser of phi(x) = -sum_i log(b_i - a_i^T x) - log(radius^2 - ||x||^2), the
    analytic centre of the polytope {normals x <= offsets} inside the ball, by Newton's method
    with a backtracking line search from a strictly feasible ``start``.

    phi's Hessian is H = B^T B and its gradient B^T r for B = [diag(1/s) A; sqrt(2/q) I;
    (2/q) x^T], r = [1, ..., 1; 0; 1], s the slacks and q = radius^2 - ||x||^2; so the Newton
    step is the least-squares solution of B step = r, computed by QR. B's condition number is
    the square root of H's, which matters here: the hard function's barrier makes slacks of
    order d^-5.5, and H itself is singular in float64 from d = 32 on. Steps are halved until
    the point stays strictly feasible and phi decreases by a quarter of the predicted amount
    (Boyd and Vandenberghe 2004, sec. 9.5). Stops when the Newton decrement lambda is below
    ``tol`` (then phi(x) - min phi is about lambda^2 / 2), or below 1e-3 and no longer halving,
    which is rounding, not progress. Returns (x, R) with R upper triangular, H = R^T R at x, or
    (None, None) if the iteration breaks down.
    """
    x = np.array(start, dtype=float)
    dim = x.size

    def barrier(point):
        slack = offsets - normals @ point
        room = radius * radius - point @ point
        if np.any(slack <= 0) or room <= 0:
            return np.inf, slack, room
        return -np.log(slack).sum() - np.log(room), slack, room

    value, slack, room = barrier(x)
    if not np.isfinite(value):
        return None, None
    rhs = np.concatenate([np.ones(slack.size), np.zeros(dim), np.ones(1)])
    previous = np.inf
    for _ in range(max_steps):
        system = np.vstack([normals / slack[:, None], np.sqrt(2 / room) * np.eye(dim), (2 / room) * x[None, :]])
        q, triangle = np.linalg.qr(system)
        projected = q.T @ rhs
        if not np.all(np.isfinite(triangle)) or np.min(np.abs(np.diag(triangle))) == 0:
            return None, None
        decrement_sq = float(projected @ projected)  # lambda^2 = ||B step||^2
        if decrement_sq < tol * tol or (decrement_sq < 1e-6 and decrement_sq > 0.25 * previous):
            return x, triangle
        previous = decrement_sq
        step = solve_triangular(triangle, projected)
        t = 1.0
        while True:
            trial, trial_slack, trial_room = barrier(x - t * step)
            if trial <= value - 0.25 * t * decrement_sq:
                break
            t *= 0.5
            if t < 1e-12:
                return x, triangle  # no further decrease is representable
        x, value, slack, room = x - t * step, trial, trial_slack, trial_room
    return x, triangle


def limited_memory_cutting_plane(oracle, dim: int, max_cuts: int, *, queries: int,
                                 radius: float = 1.0, target: float | None = None):
    """Analytic-centre cutting planes keeping at most ``max_cuts`` cuts (see the module).

    The query point is the analytic centre c of the kept cuts inside the ball (the ball enters
    through its log barrier, so c never leaves it and the ball costs no cuts). The answer
    (f, g) adds the cut g^T (x - c) <= min(f_best - f, 0), deepened by the best value seen, but
    never beyond half the Dikin radius along g, so that the next centre can start from a
    strictly feasible point inside the Dikin ellipsoid (a weaker cut is still valid). When
    ``max_cuts`` cuts are kept, the cut of smallest leverage a_i^T H^-1 a_i / s_i^2 at c is
    dropped first (the rule of Vaidya's method). The state is the kept cuts (m normals and
    offsets), the centre and f_best: m (d + 1) + d + 1 floats at most; the output is the best
    queried centre. Stops after ``queries`` oracle calls, once the best value is <= ``target``,
    if Newton's method breaks down (a polytope too thin for float64), or when a centre and best
    value recur within 2m + 2 queries: with too few cuts the method can drop and re-add the
    same cuts forever, and being deterministic it never leaves such a cycle. (The recent
    centres kept for that test are bookkeeping of the run, not state the method needs.)
    """
    dim, queries, radius, target = _dimension(dim), _budget(queries), _radius(radius), _target(target)
    integer("max_cuts", max_cuts)
    normals, offsets = np.zeros((0, dim)), np.zeros(0)
    centre, record, peak = np.zeros(dim), _Queries(oracle, dim), 0
    factor = np.sqrt(2) / radius * np.eye(dim)  # phi's Hessian at the ball's centre is R^T R
    # The last 2m + 2 centres and best values, to detect a cycle (a ring buffer).
    recent_centres, recent_best = np.full((2 * max_cuts + 2, dim), np.nan), np.full(2 * max_cuts + 2, np.nan)
    while len(record) < queries and record.best > target:
        f, g = record.ask(centre)
        best = record.best
        size = np.linalg.norm(g)
        if size == 0:
            break  # 0 is a subgradient: the centre is a minimiser
        normal = g / size
        half = solve_triangular(factor, normal, trans="T")  # R^-T a: ||.||^2 = a^T H^-1 a
        dikin = float(np.linalg.norm(half))  # Dikin radius along the normal
        depth = min((f - best) / size, 0.5 * dikin)
        # inside the Dikin ellipsoid (so inside the old polytope), and past the new cut
        start = centre - 0.75 * solve_triangular(factor, half) / dikin
        if offsets.size >= max_cuts:
            slack = offsets - normals @ centre
            # R^-T [a_i / s_i]: a dense solve, as SciPy's multi-column triangular solve can be
            # slow on small matrices when BLAS threads compete for the cores
            scaled = np.linalg.solve(factor.T, (normals / slack[:, None]).T)
            leverage = np.einsum("ij,ij->j", scaled, scaled)  # a_i^T H^-1 a_i / s_i^2
            drop = int(np.argmin(leverage))
            normals, offsets = np.delete(normals, drop, axis=0), np.delete(offsets, drop)
        normals = np.vstack([normals, normal])
        offsets = np.append(offsets, normal @ centre - depth)
        peak = max(peak, normals.size + offsets.size + centre.size + 1)  # + 1: f_best
        centre, factor = analytic_centre(normals, offsets, radius, start)
        if centre is None:
            break
        same = (recent_best == best) & (np.abs(recent_centres - centre).max(axis=1) <= 1e-13 * radius)
        if same.any():
            break  # the same centre and best value again: a deterministic cycle
        slot = len(record) % recent_best.size
        recent_centres[slot], recent_best[slot] = centre, best
    return _run(f"cutting planes, m = {max_cuts}", record, queries, peak, dim)
