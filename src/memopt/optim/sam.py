"""Sharpness-aware minimisation (Foret, Kleiner, Mobahi, Neyshabur 2021, algorithm 1).

SAM minimises max_{||e|| <= rho} L(w + e). Its step takes the first-order solution of the inner
problem, e(w) = rho g / ||g|| with g = grad L(w) (the paper's p = 2), and hands the gradient
at the perturbed point, grad L(w + e(w)), to a base rule (SGD in the paper; any rule of
:mod:`memopt.optim.adaptive`). Each step costs two gradients.
"""

from __future__ import annotations

import math
from typing import Callable

from memopt._checks import real
from memopt.backend import array_module
from memopt.optim.adaptive import AdaptiveMethod, AdaptiveState


class SAM:
    """``step(x, gradient, state)``: one SAM step of ``x`` in place, where ``gradient(x)``
    returns the (mini-batch) gradient at a point; the same batch must be used for both
    gradients of a step, as in the paper."""

    def __init__(self, base: AdaptiveMethod, rho: float = 0.05):
        if not isinstance(base, AdaptiveMethod):
            raise TypeError(f"base must be an update rule of memopt.optim.adaptive, got {type(base).__name__}")
        self.base = base
        self.rho = real("rho", rho, strict=False)

    def init(self, x) -> AdaptiveState:
        return self.base.init(x)

    def step(self, x, gradient: Callable, state: AdaptiveState) -> None:
        xp = array_module(x)
        g = gradient(x)
        norm = math.sqrt(float(xp.vdot(g, g)))
        # At a stationary point the ascent direction is undefined; the step is then the base's.
        shift = 0.0 if norm == 0.0 else self.rho / norm
        self.base.step(x, gradient(x + shift * g), state)

    def describe(self) -> str:
        return f"SAM, ρ = {self.rho:g}, base {type(self.base).__name__}"
