"""Claims are code: a paper's statement, checked numerically where the book shows it.

A notebook states what it measured and what the paper says it should be::

    claims.check(
        "SGD floor at alpha = 0.2 lies below L sigma^2 alpha / (4 mu)",
        measured=floor, expected=claims.at_most(bound),
        source="Lecture 2, SGD under PL, constant step",
    )

The check displays one line (status, measured figure, paper's figure) and raises
:class:`ClaimFailed` when the measurement contradicts the paper, which fails nbval and the book
build. The displayed output also carries the claim's record in its metadata (under
:data:`CLAIM_KEY`), from which the scorecard page is generated; the displayed text holds the
same fields, so nbval's comparison of the text also checks the record.

A measurement that depends on seeds (random instances, initial weights, sample orders) is
passed as an :class:`Estimate`: the statistic over the seeds with an interval for its
uncertainty (:func:`mean_with_error`, :func:`median_with_range`, ratios of paired means
(:func:`ratio_of_means`, :func:`largest_ratio_of_means`), :func:`variance_with_error`,
:func:`jackknife` for smooth functions of a mean curve). Its verdict is decided only
when the whole interval lies on one side of the threshold; an interval that straddles it is
*undecided*, which fails like a contradiction: a claim within its noise of its threshold is a
defect of the experiment (too few seeds, too small an effect), not a coin flip that another
machine's rounding could turn.

The expectation is written from the paper before the measurement is looked at. When a result
truly does not reproduce at the scale the book runs, ``not_reproduced="why"`` records that: the
claim is shown and scored as not reproduced instead of failing the build, and it fails loudly if
it starts to pass, so the note cannot go stale.
"""

from __future__ import annotations

import html
import math
import sys
from dataclasses import dataclass
from numbers import Real

import numpy as np

CLAIM_KEY = "memopt_claim"

PASS, FAIL, NOT_REPRODUCED, UNDECIDED = "pass", "fail", "not reproduced", "undecided"

#: What a claim checks: a figure or shape the paper reports, a theorem's inequality, or an
#: identity, count or agreement with a reference implementation that holds by construction.
REPRODUCTION, BOUND, SANITY = "reproduction", "bound", "sanity"
KINDS = (REPRODUCTION, BOUND, SANITY)


class ClaimFailed(AssertionError):
    """A measurement contradicts the paper's statement (or a 'not reproduced' claim now holds)."""


def _figure(x: float) -> str:
    """Three significant digits: stable across machines, enough to compare with a paper."""
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"expected a real number, got {type(x).__name__}")
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return f"{x:.3g}"


@dataclass(frozen=True)
class Expectation:
    """What the paper says a measured figure should satisfy."""

    low: float = -math.inf
    high: float = math.inf
    #: The figure the paper predicts, when it predicts one rather than only a bound.
    nominal: float | None = None

    def __post_init__(self):
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
                raise ValueError(f"expectation {name} must be a real number, got {value!r}")
        if self.low > self.high:
            raise ValueError(f"empty expectation: low {self.low} > high {self.high}")
        if self.nominal is not None and not self.low <= self.nominal <= self.high:
            raise ValueError(f"nominal {self.nominal} lies outside [{self.low}, {self.high}]")

    def holds(self, measured: float) -> bool:
        # NaN compares false, so a broken measurement never passes.
        return bool(self.low <= measured <= self.high)

    def describe(self) -> str:
        if self.low == -math.inf:
            return f"≤ {_figure(self.high)}"
        if self.high == math.inf:
            return f"≥ {_figure(self.low)}"
        interval = f"[{_figure(self.low)}, {_figure(self.high)}]"
        if self.nominal is not None:
            return f"≈ {_figure(self.nominal)}, accepted in {interval}"
        return f"in {interval}"


@dataclass(frozen=True)
class Estimate:
    """A statistic over seeds with an interval that expresses its uncertainty."""

    value: float
    low: float
    high: float
    #: How the interval was made, e.g. "mean ± 2 s.e. over 16 instances".
    method: str

    def __post_init__(self):
        for name in ("value", "low", "high"):
            _figure(getattr(self, name))  # type check
        if not self.low <= self.value <= self.high:
            raise ValueError(f"the interval [{self.low}, {self.high}] must contain the value {self.value}")
        if not isinstance(self.method, str) or not self.method.strip():
            raise ValueError("method must say how the interval was made")

    def describe(self) -> str:
        return f"{_figure(self.value)} [{_figure(self.low)}, {_figure(self.high)}]"


def _samples(samples, what: str) -> np.ndarray:
    values = np.asarray(samples, dtype=np.float64).ravel()
    if values.size < 2:
        raise ValueError(f"an uncertainty needs at least 2 {what}, got {values.size}")
    return values


def mean_with_error(samples, what: str = "seeds", errors: float = 2.0) -> Estimate:
    """The mean of ``samples`` with ± ``errors`` standard errors (2: about 95% for a mean of
    independent seeds)."""
    values = _samples(samples, what)
    mean = float(values.mean())
    half = errors * float(values.std(ddof=1)) / math.sqrt(values.size)
    return Estimate(mean, mean - half, mean + half, f"mean ± {errors:g} s.e. over {values.size} {what}")


def median_with_range(samples, what: str = "seeds") -> Estimate:
    """The median of ``samples`` with their whole range: decided only when every seed lies on
    the same side of the threshold (for the few seeds a book can afford, a bootstrap interval
    of the median would be the range anyway)."""
    values = _samples(samples, what)
    return Estimate(float(np.median(values)),
                    float(values.min()), float(values.max()), f"median, range over {values.size} {what}")


def ratio_of_means(numerator, denominator, what: str = "seeds", errors: float = 2.0) -> Estimate:
    """mean(numerator) / mean(denominator) over paired samples (sample r of both comes from the
    same seed), ± ``errors`` standard errors by the delta method: the standard error of the mean
    of the linearised samples (n_r - R d_r) / mean(d), which carries the pairs' covariance. A
    ratio of means, not a mean of ratios: a sample whose denominator is near 0 would dominate
    a mean of per-sample ratios."""
    n, d = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if n.shape != d.shape or n.ndim != 1 or n.size < 2:
        raise ValueError(f"need two paired 1-D samples of equal length, at least 2 {what}, "
                         f"got shapes {n.shape} and {d.shape}")
    if not (np.isfinite(n).all() and np.isfinite(d).all()) or d.mean() <= 0:
        raise ValueError("the samples must be finite and the denominators' mean positive")
    ratio, half = (float(v[0]) for v in paired_ratios(n[:, None], d[:, None], errors))
    return Estimate(ratio, ratio - half, ratio + half,
                    f"ratio of means ± {errors:g} s.e. (delta method) over {n.size} {what}")


def max_of_means(samples, what: str = "seeds", errors: float = 2.0) -> Estimate:
    """The largest over columns t of the mean over rows of ``samples`` (seeds x points): the
    maximum of a mean curve. Its interval is [max_t (m_t - e s_t), max_t (m_t + e s_t)], m_t
    and s_t the mean and standard error of column t: the whole curve lies below a threshold
    exactly when the upper end does, and some point lies above it when the lower end does."""
    values = np.asarray(samples, dtype=float)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"need samples of shape (at least 2 {what}, points), got {values.shape}")
    mean = values.mean(axis=0)
    error = errors * values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    return Estimate(float(mean.max()), float((mean - error).max()), float((mean + error).max()),
                    f"max over k of the mean ± {errors:g} s.e. over {values.shape[0]} {what}")


def variance_with_error(samples, what: str = "draws", errors: float = 2.0) -> Estimate:
    """The sample variance s^2 (ddof 1) of independent ``samples`` ± ``errors`` standard errors,
    the standard error of s^2 being sqrt((m4 - s^4) / N), m4 the central fourth moment."""
    values = np.asarray(samples, dtype=float).ravel()
    if values.size < 2:
        raise ValueError(f"a variance needs at least 2 {what}, got {values.size}")
    centred = values - values.mean()
    s2 = float(centred.var(ddof=1))
    half = errors * float(np.sqrt(max((centred**4).mean() - s2**2, 0.0) / values.size))
    return Estimate(s2, s2 - half, s2 + half, f"sample variance ± {errors:g} s.e. over {values.size} {what}")


def jackknife(statistic, samples, what: str = "runs", errors: float = 2.0) -> Estimate:
    """``statistic`` of the mean over rows of ``samples`` (runs x points), with ± ``errors``
    jackknife standard errors: sqrt((R-1)/R sum_r (theta_(r) - mean theta_(.))^2), theta_(r) the
    statistic of the mean without run r. For smooth functions of means, such as a line fitted to
    the log of a mean curve."""
    values = np.asarray(samples, dtype=float)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"need samples of shape (at least 2 {what}, points), got {values.shape}")
    count = values.shape[0]
    total = values.sum(axis=0)
    value = float(statistic(total / count))
    leave_one_out = np.array([statistic((total - row) / (count - 1)) for row in values], dtype=float)
    half = errors * float(np.sqrt((count - 1) / count * ((leave_one_out - leave_one_out.mean()) ** 2).sum()))
    return Estimate(value, value - half, value + half,
                           f"± {errors:g} jackknife s.e. over {count} {what}")


def paired_ratios(numerator, denominator, errors: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """R = mean(numerator) / mean(denominator), column by column over paired rows (draws), and
    ``errors`` standard errors of R from the delta method with the pairs' covariance:
    se(R) = sd(numerator - R denominator) / (sqrt(rows) |mean(denominator)|)."""
    mean_num, mean_den = numerator.mean(axis=0), denominator.mean(axis=0)
    ratio = mean_num / mean_den
    residual = numerator - ratio * denominator
    return ratio, errors * residual.std(axis=0, ddof=1) / np.sqrt(numerator.shape[0]) / np.abs(mean_den)


def largest_local_peak(samples, what: str = "draws", errors: float = 2.0) -> Estimate:
    """Whether the mean curve of ``samples`` (draws x points, paired) has an interior local
    maximum: max over interior j of min(m_j / m_{j-1}, m_j / m_{j+1}), m the mean over draws,
    which exceeds 1 exactly when the curve rises into some point j and falls after it.

    Each ratio gets ± ``errors`` standard errors from the paired delta method
    (:func:`paired_ratios`), and the interval is [max_j min(low_j-, low_j+),
    max_j min(high_j-, high_j+)]: no interior local maximum when its upper end is at most 1,
    one (at least) when its lower end exceeds 1."""
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 3:
        raise ValueError(f"need samples of shape (at least 2 {what}, at least 3 points), got {x.shape}")
    rise, rise_error = paired_ratios(x[:, 1:-1], x[:, :-2], errors)  # into j
    fall, fall_error = paired_ratios(x[:, 1:-1], x[:, 2:], errors)  # out of j
    value = np.minimum(rise, fall)
    low, high = np.minimum(rise - rise_error, fall - fall_error), np.minimum(rise + rise_error, fall + fall_error)
    return Estimate(
        float(value.max()), float(low.max()), float(high.max()),
        f"largest over interior N of min(rise into N, fall after N), ratios of means ± {errors:g} s.e. "
        f"(delta method, paired) over {x.shape[0]} {what}")


def largest_ratio_of_means(samples, what: str = "draws", errors: float = 2.0) -> Estimate:
    """max over j of R_j = mean(x[:, j+1]) / mean(x[:, j]), the largest ratio between consecutive
    points of a mean curve (``samples``: draws x points, paired: draw r at both points).

    Each R_j gets ± ``errors`` standard errors from the delta method with the pairs' covariance,
    se(R_j) = sd(x[:, j+1] - R_j x[:, j]) / (sqrt(draws) mean(x[:, j])), as in
    :func:`memopt.claims.ratio_of_means`; near R_j = 1 this is the standard error of the
    paired differences, which decide whether the mean rises. The interval is
    [max_j low_j, max_j high_j]: every step falls when its upper end is below 1, some step
    rises when its lower end is above it."""
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"need samples of shape (at least 2 {what}, at least 2 points), got {x.shape}")
    ratio, error = paired_ratios(x[:, 1:], x[:, :-1], errors)
    return Estimate(
        float(ratio.max()), float((ratio - error).max()), float((ratio + error).max()),
        f"largest over consecutive N of the ratio of means ± {errors:g} s.e. "
        f"(delta method, paired) over {x.shape[0]} {what}")


def at_most(bound: float) -> Expectation:
    """The measured figure is at most ``bound`` (an upper bound from a theorem)."""
    return Expectation(high=bound)


def at_least(bound: float) -> Expectation:
    """The measured figure is at least ``bound``."""
    return Expectation(low=bound)


def between(low: float, high: float, nominal: float | None = None) -> Expectation:
    """The measured figure lies in the closed interval ``[low, high]``; ``nominal`` is the
    value the paper predicts inside it, shown beside the interval."""
    return Expectation(low=low, high=high, nominal=nominal)


@dataclass(frozen=True)
class Claim:
    """One evaluated claim: what was measured against what the paper says."""

    claim: str
    measured: float | Estimate
    expected: Expectation
    source: str
    not_reproduced: str | None = None
    kind: str | None = None
    #: The paper's own statement of the figure (None: the paper states none; the criterion is ours).
    paper: str | None = None
    #: Why the criterion was set or changed after a result had been seen (None: set before).
    post_hoc: str | None = None

    @property
    def _ends(self) -> tuple[float, ...]:
        m = self.measured
        return (m.low, m.high) if isinstance(m, Estimate) else (m,)

    @property
    def holds(self) -> bool:
        """The whole interval (or the single figure) satisfies the expectation."""
        return all(self.expected.holds(x) for x in self._ends)

    @property
    def contradicts(self) -> bool:
        """The whole interval (or the single figure) lies outside the expectation."""
        low, high = self._ends[0], self._ends[-1]
        # Written so that a NaN contradicts: a broken measurement never passes or hangs undecided.
        return not (high >= self.expected.low and low <= self.expected.high)

    @property
    def status(self) -> str:
        if self.holds:
            return PASS
        if not self.contradicts:
            return UNDECIDED
        return FAIL if self.not_reproduced is None else NOT_REPRODUCED

    def record(self) -> dict[str, str]:
        """The JSON record the scorecard is built from (strings only, rounded: machine-stable)."""
        estimate = isinstance(self.measured, Estimate)
        record = {
            "claim": self.claim,
            "measured": self.measured.describe() if estimate else _figure(self.measured),
            "expected": self.expected.describe(),
            "source": self.source,
            "status": self.status,
        }
        if estimate:
            record["uncertainty"] = self.measured.method
        if self.status == NOT_REPRODUCED:
            record["reason"] = self.not_reproduced
        if self.kind is not None:
            record["kind"] = self.kind
            record["paper"] = self.paper if self.paper is not None else "not stated"
            record["decided"] = "before the first run" if self.post_hoc is None else f"after a run: {self.post_hoc}"
        return record

    def __str__(self) -> str:
        r = self.record()
        if "kind" in r:
            return self._kind_line(r)
        line = f"[{r['status']}] {r['claim']}: measured {r['measured']}"
        if "uncertainty" in r:
            line += f" ({r['uncertainty']})"
        line += f", paper {r['expected']}"
        line += f" ({r['source']})"
        if "reason" in r:
            line += f"; why: {r['reason']}"
        return line

    @staticmethod
    def _kind_line(r: dict[str, str]) -> str:
        line = f"[{r['status']}] {r['kind']}: {r['claim']}: measured {r['measured']}"
        if "uncertainty" in r:
            line += f" ({r['uncertainty']})"
        line += f"; criterion {r['expected']}"
        if r["decided"] != "before the first run":
            line += f" (set {r['decided']})"
        line += f"; paper: {r['paper']} ({r['source']})"
        if "reason" in r:
            line += f"; why: {r['reason']}"
        return line

    def _repr_html_(self) -> str:
        r = {k: html.escape(v) for k, v in self.record().items()}
        if "kind" in r:
            return self._kind_html(r)
        colour = {PASS: "#1a7f37", FAIL: "#cf222e", NOT_REPRODUCED: "#9a6700", UNDECIDED: "#cf222e"}[self.status]
        uncertainty = f" ({r['uncertainty']})" if "uncertainty" in r else ""
        text = (
            f'<p class="memopt-claim"><strong style="color:{colour}">{r["status"].upper()}</strong>'
            f" {r['claim']}: measured <code>{r['measured']}</code>{uncertainty}, paper <code>{r['expected']}</code>"
            f" <em>({r['source']})</em>"
        )
        if "reason" in r:
            text += f"<br>Why it does not reproduce here: {r['reason']}"
        return text + "</p>"

    def _kind_html(self, r: dict[str, str]) -> str:
        colour = {PASS: "#1a7f37", FAIL: "#cf222e", NOT_REPRODUCED: "#9a6700", UNDECIDED: "#cf222e"}[self.status]
        uncertainty = f" ({r['uncertainty']})" if "uncertainty" in r else ""
        decided = f" (set {r['decided']})" if r["decided"] != "before the first run" else ""
        text = (
            f'<p class="memopt-claim"><strong style="color:{colour}">{r["status"].upper()}</strong>'
            f" <em>{r['kind']}</em>: {r['claim']}: measured <code>{r['measured']}</code>{uncertainty};"
            f" criterion <code>{r['expected']}</code>{decided}; paper: {r['paper']} <em>({r['source']})</em>"
        )
        if "reason" in r:
            text += f"<br>Why it does not reproduce here: {r['reason']}"
        return text + "</p>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"text/plain": str(self), "text/html": self._repr_html_()}
        return data, {CLAIM_KEY: self.record()}


def relative_gap(measured: float, reference: float, rounding_ulps: int = 8) -> float:
    """|measured - reference| / |reference|, reported as 0 when the two differ by no more than
    ``rounding_ulps`` float64 epsilons: that is rounding, and its exact size varies between
    machines, so it must not reach a stored output."""
    gap = abs(float(measured) - float(reference)) / abs(float(reference))
    return 0.0 if gap <= rounding_ulps * sys.float_info.epsilon else gap


def evaluate(
    claim: str,
    measured: float | Estimate,
    expected: Expectation,
    *,
    source: str,
    kind: str | None = None,
    paper: str | None = None,
    post_hoc: str | None = None,
    not_reproduced: str | None = None,
) -> Claim:
    """Build a :class:`Claim` without displaying or raising (for tests and scripts)."""
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError("claim must be a non-empty sentence")
    if not isinstance(source, str) or not source.strip():
        raise ValueError("source must name where the paper states the claim")
    if not isinstance(expected, Expectation):
        raise TypeError("expected must be built with at_most, at_least or between")
    if not_reproduced is not None and not not_reproduced.strip():
        raise ValueError("not_reproduced must give the reason, or be None")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    for name, value in (("paper", paper), ("post_hoc", post_hoc)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{name} must be a non-empty sentence, or None")
    if not isinstance(measured, Estimate):
        _figure(measured)  # type check
        measured = float(measured)
    return Claim(claim, measured, expected, source, not_reproduced, kind, paper, post_hoc)


def _display(claim: Claim) -> None:
    try:
        from IPython import get_ipython  # noqa: PLC0415 - optional, present in notebooks
        from IPython.display import display  # noqa: PLC0415
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(claim)
    else:
        print(claim)


def check(
    claim: str,
    measured: float | Estimate,
    expected: Expectation,
    *,
    source: str,
    kind: str | None = None,
    paper: str | None = None,
    post_hoc: str | None = None,
    not_reproduced: str | None = None,
) -> None:
    """Evaluate, display and enforce a claim; raise :class:`ClaimFailed` if it does not hold.

    ``measured`` is a figure, or an :class:`Estimate` over seeds; an estimate whose interval
    straddles the expectation's threshold is undecided, and raises too.

    With ``not_reproduced="reason"`` a failing measurement is recorded as not reproduced
    (and does not raise); a passing one raises, because the reason given is then wrong.
    Returns nothing, so a check at the end of a cell is displayed once.
    """
    result = evaluate(claim, measured, expected, source=source, kind=kind, paper=paper, post_hoc=post_hoc,
                      not_reproduced=not_reproduced)
    _display(result)
    if result.status == FAIL:
        raise ClaimFailed(str(result))
    if result.status == UNDECIDED:
        raise ClaimFailed(f"undecided: the measurement's interval straddles the paper's threshold "
                          f"(more seeds or a larger effect are needed): {result}")
    if not_reproduced is not None and result.holds:
        raise ClaimFailed(
            f"claim marked not reproduced now holds; update the notebook: {result}"
        )
