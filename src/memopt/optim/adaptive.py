"""Coordinate-wise update rules: SGD and momentum, and the adaptive AdaGrad, RMSProp, Adadelta,
Adam and AdamW.

Each method is a small object with the hyperparameters; ``init(x)`` returns its state (the
step counter and the per-coordinate averages, arrays shaped like ``x``) and
``step(x, g, state)`` applies one update to ``x`` in place, given the (stochastic) gradient
``g`` at ``x``. ``x`` can have any shape: a flat parameter vector of a network, or an
(R, p) array of R independent runs, since every rule acts coordinate by coordinate. Updates
run in place with one scratch buffer, so a step over a network's parameters is a handful of
vector operations and no allocation.

The rules are written as in the lecture (with g_k the gradient at step k = 1, 2, ...):

* Gradient step: x_k = x_{k-1} - alpha g_k (SGD on a stochastic gradient; no memory).
* Momentum (Polyak's heavy ball, in the form of Sutskever et al. 2013 and PyTorch's ``SGD``):
  v_k = beta v_{k-1} + g_k, x_k = x_{k-1} - alpha v_k, which is
  x_k = x_{k-1} - alpha g_k + beta (x_{k-1} - x_{k-2}); with ``nesterov=True`` the step is
  x_k = x_{k-1} - alpha (g_k + beta v_k), Nesterov's look-ahead rewritten at the current point.
* AdaGrad (Duchi, Hazan, Singer 2011): v_k = v_{k-1} + g_k^2,
  x_k = x_{k-1} - alpha g_k / sqrt(v_k + eps).
* RMSProp (Tieleman, Hinton 2012): v_k = gamma v_{k-1} + (1 - gamma) g_k^2,
  x_k = x_{k-1} - alpha g_k / sqrt(v_k + eps).
* Adadelta (Zeiler 2012): v_k = rho v_{k-1} + (1 - rho) g_k^2,
  d_k = sqrt(u_{k-1} + eps) / sqrt(v_k + eps) g_k, x_k = x_{k-1} - alpha d_k,
  u_k = rho u_{k-1} + (1 - rho) d_k^2 (alpha = 1 in the paper).
* Adam (Kingma, Ba 2015): m_k = b1 m_{k-1} + (1 - b1) g_k, v_k = b2 v_{k-1} + (1 - b2) g_k^2,
  x_k = x_{k-1} - alpha (m_k / (1 - b1^k)) / (sqrt(v_k / (1 - b2^k)) + eps); a weight decay
  lambda here is an L2 penalty added to the gradient, g_k + lambda x_{k-1}.
* AdamW (Loshchilov, Hutter 2019): Adam on g_k with the decay decoupled from it,
  x_k = (1 - alpha_k lambda) x_{k-1} - alpha_k (Adam's step), as PyTorch's ``AdamW``.
* AMSGrad (Reddi, Kale, Kumar 2018, algorithm 2): Adam's m_k and v_k, the running maximum
  vmax_k = max(vmax_{k-1}, v_k), and x_k = x_{k-1} - alpha_k m_k / (sqrt(vmax_k) + eps), without
  bias correction, as in the paper. The maximum is the "long-term memory" that keeps the
  effective step alpha_k / sqrt(vmax_k) from growing, which Adam's does not.

Every method takes a linear warmup: alpha_k = alpha min(1, k / warmup) at step k >= 1
(so alpha / warmup at the first step and alpha from step ``warmup`` on), as used by Power
et al. (2022) with warmup = 10. With ``decay="inverse_sqrt"`` the step is alpha_k = alpha / sqrt(k)
instead, the schedule of the online-learning analyses (Duchi et al. 2011; Reddi et al. 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real

from memopt import kernels
from memopt._checks import integer
from memopt.backend import array_module


def _real(name: str, value, low: float, high: float = math.inf, *, open_low=False, open_high=False):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    too_low = value <= low if open_low else value < low
    too_high = value >= high if open_high else value > high
    if not math.isfinite(value) or too_low or too_high:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


#: The step-size schedules a method can take besides the warmup.
DECAYS = ("constant", "inverse_sqrt")


@dataclass
class AdaptiveState:
    """A method's memory: the number of steps taken and its per-coordinate arrays."""

    step: int = 0
    arrays: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.arrays[name]

    @property
    def memory(self) -> dict:
        """The arrays carried from step to step (the scratch buffer of one step excluded)."""
        return {name: a for name, a in self.arrays.items() if name != "scratch"}


class AdaptiveMethod:
    """Shared by the methods: hyperparameter checks, the warmup schedule, the state."""

    #: names of the per-coordinate arrays the method keeps (besides a scratch buffer)
    memory: tuple[str, ...] = ()

    def __init__(self, lr: float, eps: float | None, weight_decay: float = 0.0, warmup: int = 0,
                 decay: str = "constant"):
        self.lr = _real("lr", lr, 0.0, open_low=True)
        self.eps = None if eps is None else _real("eps", eps, 0.0, open_low=True)
        self.weight_decay = _real("weight_decay", weight_decay, 0.0)
        self.warmup = integer("warmup", warmup, minimum=0)
        if decay not in DECAYS:
            raise ValueError(f"decay must be one of {', '.join(DECAYS)}, got {decay!r}")
        if decay != "constant" and self.warmup:
            raise ValueError("a warmup and a decaying step cannot be combined")
        self.decay = decay

    def learning_rate(self, k: int) -> float:
        """alpha_k for step k = 1, 2, ...: linear warmup over ``warmup`` steps, or alpha / sqrt(k)."""
        if self.decay == "inverse_sqrt":
            return self.lr / math.sqrt(k)
        if self.warmup == 0:
            return self.lr
        return self.lr * min(1.0, k / self.warmup)

    def init(self, x) -> AdaptiveState:
        xp = array_module(x)
        if getattr(x, "dtype", None) is None or x.dtype.kind != "f":
            raise TypeError("x must be a floating-point array")
        arrays = {name: xp.zeros_like(x) for name in self.memory}
        arrays["scratch"] = xp.empty_like(x)
        return AdaptiveState(0, arrays)

    def step(self, x, g, state: AdaptiveState) -> None:
        """One update of ``x`` in place with gradient ``g`` (same shape and dtype)."""
        if g.shape != x.shape:
            raise ValueError(f"gradient shape {g.shape} differs from the iterate's {x.shape}")
        if g.dtype != x.dtype:
            raise TypeError(f"gradient dtype {g.dtype} differs from the iterate's {x.dtype}")
        if state.arrays["scratch"].shape != x.shape:
            raise ValueError("state was made for an iterate of another shape; call init(x)")
        state.step += 1
        self._update(array_module(x), x, g, state, self.learning_rate(state.step))

    def _update(self, xp, x, g, state, lr) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _square_average(self, xp, g, v, scratch, decay: float) -> None:
        """v <- decay v + (1 - decay) g^2, using ``scratch``."""
        xp.multiply(g, g, out=scratch)
        scratch *= 1 - decay
        v *= decay
        v += scratch

    def _normalised_step(self, xp, x, g, v, scratch, lr: float) -> None:
        """x <- x - lr g / sqrt(v + eps), using ``scratch`` (AdaGrad's and RMSProp's step)."""
        xp.add(v, self.eps, out=scratch)
        xp.sqrt(scratch, out=scratch)
        xp.divide(g, scratch, out=scratch)
        scratch *= lr
        x -= scratch


class GradientStep(AdaptiveMethod):
    """x_k = x_{k-1} - alpha_k g_k: no state besides the step counter."""

    def __init__(self, lr: float = 1e-2, warmup: int = 0, decay: str = "constant"):
        super().__init__(lr, None, 0.0, warmup, decay)

    def _update(self, xp, x, g, state, lr):
        s = state["scratch"]
        xp.multiply(g, lr, out=s)
        x -= s


class Momentum(AdaptiveMethod):
    """v_k = beta v_{k-1} + g_k, then x_k = x_{k-1} - alpha_k v_k (heavy ball) or, with
    ``nesterov``, x_k = x_{k-1} - alpha_k (g_k + beta v_k); beta in [0, 1)."""

    memory = ("v",)

    def __init__(self, lr: float = 1e-2, beta: float = 0.9, nesterov: bool = False, warmup: int = 0,
                 decay: str = "constant"):
        super().__init__(lr, None, 0.0, warmup, decay)
        self.beta = _real("beta", beta, 0.0, 1.0, open_high=True)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        self.nesterov = nesterov

    def _update(self, xp, x, g, state, lr):
        v, s = state["v"], state["scratch"]
        v *= self.beta
        v += g
        if self.nesterov:
            xp.multiply(v, self.beta, out=s)
            s += g
        else:
            s[...] = v
        s *= lr
        x -= s


class AdaGrad(AdaptiveMethod):
    memory = ("v",)

    def __init__(self, lr: float = 1e-2, eps: float = 1e-8, warmup: int = 0, decay: str = "constant"):
        super().__init__(lr, eps, 0.0, warmup, decay)

    def _update(self, xp, x, g, state, lr):
        v, s = state["v"], state["scratch"]
        xp.multiply(g, g, out=s)
        v += s
        self._normalised_step(xp, x, g, v, s, lr)


class RMSProp(AdaptiveMethod):
    memory = ("v",)

    def __init__(self, lr: float = 1e-2, gamma: float = 0.9, eps: float = 1e-8, warmup: int = 0,
                 decay: str = "constant"):
        super().__init__(lr, eps, 0.0, warmup, decay)
        self.gamma = _real("gamma", gamma, 0.0, 1.0, open_high=True)

    def _update(self, xp, x, g, state, lr):
        v, s = state["v"], state["scratch"]
        self._square_average(xp, g, v, s, self.gamma)
        self._normalised_step(xp, x, g, v, s, lr)


class Adadelta(AdaptiveMethod):
    memory = ("v", "u")

    def __init__(self, rho: float = 0.95, eps: float = 1e-6, lr: float = 1.0, warmup: int = 0):
        super().__init__(lr, eps, 0.0, warmup)
        self.rho = _real("rho", rho, 0.0, 1.0, open_high=True)

    def _update(self, xp, x, g, state, lr):
        v, u, s = state["v"], state["u"], state["scratch"]
        self._square_average(xp, g, v, s, self.rho)
        # d = sqrt(u + eps) / sqrt(v + eps) * g, computed in s
        xp.add(v, self.eps, out=s)
        xp.divide(u + self.eps, s, out=s)
        xp.sqrt(s, out=s)
        s *= g
        u *= self.rho
        u += (1 - self.rho) * s * s
        s *= lr
        x -= s


class Adam(AdaptiveMethod):
    memory = ("m", "v")
    decoupled = False

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, warmup: int = 0, decay: str = "constant"):
        super().__init__(lr, eps, weight_decay, warmup, decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_real("beta1", betas[0], 0.0, 1.0, open_high=True),
                      _real("beta2", betas[1], 0.0, 1.0, open_high=True))

    def _update(self, xp, x, g, state, lr):
        m, v, s = state["m"], state["v"], state["scratch"]
        b1, b2 = self.betas
        if self.decoupled and kernels.mode(x) is not None and x.flags.c_contiguous and g.flags.c_contiguous:
            # One fused pass over x, g, m and v (kernels/adamw.cu); the lines below are its twin.
            k = state.step
            kernels.adamw_step(x, g, m, v, decay=1 - lr * self.weight_decay, beta1=b1, beta2=b2,
                               inv_sqrt_c2=1 / math.sqrt(1 - b2**k), eps=self.eps,
                               step_scale=lr / (1 - b1**k))
            return
        self._moments(xp, x, g, state, lr)
        k = state.step
        correction1, correction2 = 1 - b1**k, 1 - b2**k
        # the step alpha (m / c1) / (sqrt(v / c2) + eps), in the scratch buffer
        xp.sqrt(v, out=s)
        s *= 1 / math.sqrt(correction2)
        s += self.eps
        xp.divide(m, s, out=s)
        s *= lr / correction1
        x -= s

    def _moments(self, xp, x, g, state, lr) -> None:
        """The weight decay (decoupled: on x; coupled: an L2 term added to g), then
        m <- b1 m + (1 - b1) g and v <- b2 v + (1 - b2) g^2, in place."""
        m, v, s = state["m"], state["v"], state["scratch"]
        b1, b2 = self.betas
        if self.weight_decay and self.decoupled:
            x *= 1 - lr * self.weight_decay
        elif self.weight_decay:
            g = g + self.weight_decay * x
        m *= b1
        xp.multiply(g, 1 - b1, out=s)
        m += s
        self._square_average(xp, g, v, s, b2)


class AdamW(Adam):
    """Adam with decoupled weight decay; defaults as PyTorch's ``AdamW`` (weight decay 0.01)."""

    decoupled = True

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, warmup: int = 0):
        super().__init__(lr, betas, eps, weight_decay, warmup)


class AMSGrad(Adam):
    """Reddi, Kale, Kumar (2018), algorithm 2: Adam's averages, divided by the running maximum
    of v instead of v itself, and no bias correction."""

    memory = ("m", "v", "vmax")

    def _update(self, xp, x, g, state, lr):
        m, v, vmax, s = state["m"], state["v"], state["vmax"], state["scratch"]
        self._moments(xp, x, g, state, lr)
        xp.maximum(vmax, v, out=vmax)
        xp.sqrt(vmax, out=s)
        s += self.eps
        xp.divide(m, s, out=s)
        s *= lr
        x -= s
