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

CLAIM_KEY = "memopt_claim"

PASS, FAIL, NOT_REPRODUCED = "pass", "fail", "not reproduced"


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
    measured: float
    expected: Expectation
    source: str
    not_reproduced: str | None = None

    @property
    def holds(self) -> bool:
        return self.expected.holds(self.measured)

    @property
    def status(self) -> str:
        if self.not_reproduced is not None and not self.holds:
            return NOT_REPRODUCED
        return PASS if self.holds else FAIL

    def record(self) -> dict[str, str]:
        """The JSON record the scorecard is built from (strings only, rounded: machine-stable)."""
        record = {
            "claim": self.claim,
            "measured": _figure(self.measured),
            "expected": self.expected.describe(),
            "source": self.source,
            "status": self.status,
        }
        if self.status == NOT_REPRODUCED:
            record["reason"] = self.not_reproduced
        return record

    def __str__(self) -> str:
        r = self.record()
        line = f"[{r['status']}] {r['claim']}: measured {r['measured']}, paper {r['expected']}"
        line += f" ({r['source']})"
        if "reason" in r:
            line += f"; why: {r['reason']}"
        return line

    def _repr_html_(self) -> str:
        r = {k: html.escape(v) for k, v in self.record().items()}
        colour = {PASS: "#1a7f37", FAIL: "#cf222e", NOT_REPRODUCED: "#9a6700"}[self.status]
        text = (
            f'<p class="memopt-claim"><strong style="color:{colour}">{r["status"].upper()}</strong>'
            f" {r['claim']}: measured <code>{r['measured']}</code>, paper <code>{r['expected']}</code>"
            f" <em>({r['source']})</em>"
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
    measured: float,
    expected: Expectation,
    *,
    source: str,
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
    _figure(measured)  # type check
    return Claim(claim, float(measured), expected, source, not_reproduced)


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
    measured: float,
    expected: Expectation,
    *,
    source: str,
    not_reproduced: str | None = None,
) -> None:
    """Evaluate, display and enforce a claim; raise :class:`ClaimFailed` if it does not hold.

    With ``not_reproduced="reason"`` a failing measurement is recorded as not reproduced
    (and does not raise); a passing one raises, because the reason given is then wrong.
    Returns nothing, so a check at the end of a cell is displayed once.
    """
    result = evaluate(claim, measured, expected, source=source, not_reproduced=not_reproduced)
    _display(result)
    if result.status == FAIL:
        raise ClaimFailed(str(result))
    if not_reproduced is not None and result.holds:
        raise ClaimFailed(
            f"claim marked not reproduced now holds; update the notebook: {result}"
        )
