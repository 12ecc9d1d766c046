"""Step-size schedules alpha_k (k = 0, 1, ... counts the steps already taken)."""

from __future__ import annotations

from dataclasses import dataclass

from memopt._checks import real


@dataclass(frozen=True)
class ConstantStep:
    """alpha_k = alpha."""

    alpha: float

    def __post_init__(self):
        object.__setattr__(self, "alpha", real("step size alpha", self.alpha))

    def __call__(self, k: int) -> float:
        return self.alpha

    def describe(self) -> str:
        return f"α = {self.alpha:g}"


@dataclass(frozen=True)
class DecreasingStep:
    """alpha_k = (2k + 1) / (2 mu (k + 1)^2), the lecture's schedule for SGD under PL.

    With it 1 - 2 alpha_k mu = k^2 / (k+1)^2, which telescopes into
    E f(x_k) - f* <= L sigma^2 / (2 mu^2 k) (lecture 2, "Convergence. Smooth PL case").

    With ``cap`` the step is min(cap, alpha_k): when mu is small against the smoothness the
    schedule's first steps (1 / (2 mu)) would otherwise throw the iterate far away.
    """

    mu: float
    cap: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "mu", real("mu", self.mu))
        if self.cap is not None:
            object.__setattr__(self, "cap", real("cap", self.cap))

    def __call__(self, k: int) -> float:
        alpha = (2 * k + 1) / (2 * self.mu * (k + 1) ** 2)
        return alpha if self.cap is None else min(alpha, self.cap)

    def describe(self) -> str:
        capped = "" if self.cap is None else f", capped at {self.cap:.3g}"
        return f"α_k = (2k+1) / (2μ(k+1)²){capped}"


@dataclass(frozen=True)
class InverseTimeStep:
    """alpha_k = alpha0 / (1 + k / k0): constant for k << k0, then alpha0 k0 / k, the O(1/k)
    step of SGD on strongly convex problems (the rate needs 2 mu alpha0 k0 > 1)."""

    alpha0: float
    k0: float

    def __post_init__(self):
        if not (self.alpha0 > 0 and self.k0 > 0):
            raise ValueError(f"alpha0 and k0 must be > 0, got {self.alpha0}, {self.k0}")

    def __call__(self, k: int) -> float:
        return self.alpha0 / (1.0 + k / self.k0)

    def describe(self) -> str:
        return f"α_k = {self.alpha0:.3g} / (1 + k/{self.k0:g})"


Schedule = ConstantStep | DecreasingStep | InverseTimeStep


def as_schedule(step) -> Schedule:
    """A schedule from a schedule, or a constant schedule from a positive number."""
    if isinstance(step, (ConstantStep, DecreasingStep, InverseTimeStep)):
        return step
    return ConstantStep(step)
