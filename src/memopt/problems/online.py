"""Online convex problems: a loss f_t revealed at each step t, regret against a fixed point.

:class:`AdamCounterexample` is the sequence of Reddi, Kale and Kumar (ICLR 2018, section 3) on
which Adam with beta1 = 0 and beta2 = 1 / (1 + C^2) does not converge:

    f_t(x) = C x   if t mod 3 = 1,   f_t(x) = -x   otherwise,   x in F = [-1, 1],   C > 2.

Over a period of three steps the slopes sum to C - 2 > 0, so x = -1 has the least total loss.
Adam sees the large gradient C once in three steps; its exponential average of squared
gradients forgets it within a period, so the two steps of gradient -1 are divided by a small
sqrt(v) and outweigh the one step of gradient C: the iterate drifts to +1, the worst point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memopt._checks import real

PERIOD = 3


@dataclass(frozen=True)
class AdamCounterexample:
    """f_t(x) = C x for t mod 3 = 1 and -x otherwise, on [-1, 1] (Reddi et al. 2018)."""

    C: float = 3.0

    def __post_init__(self):
        if real("C", self.C) <= PERIOD - 1:
            raise ValueError(f"C must exceed {PERIOD - 1} so that x = -1 is the best point, got {self.C:g}")

    #: the fixed point with the least total loss over every whole number of periods
    comparator = -1.0
    low, high = -1.0, 1.0

    def slope(self, t) -> np.ndarray:
        """f_t'(x) for the steps t = 1, 2, ... (an int or an integer array)."""
        t = np.asarray(t)
        if t.dtype.kind not in "iu" or (t < 1).any():
            raise ValueError("steps t must be integers >= 1")
        return np.where(t % PERIOD == 1, float(self.C), -1.0)

    def project(self, x) -> None:
        """x <- its projection onto F = [-1, 1], in place."""
        np.clip(x, self.low, self.high, out=x)

    def regret_per_step_at(self, x: float) -> float:
        """The average regret of staying at x forever, over whole periods:
        (C - 2) (x - comparator) / 3. At x = +1 it is 2 (C - 2) / 3."""
        return (self.C - (PERIOD - 1)) * (x - self.comparator) / PERIOD

    def adam_beta2(self) -> float:
        """The beta2 = 1 / (1 + C^2) of the paper's theorem 1."""
        return 1.0 / (1.0 + self.C**2)
