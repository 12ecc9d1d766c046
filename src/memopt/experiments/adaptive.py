"""Chapter "Adaptive methods and Adam's non-convergence" (book/stochastic/adaptive.md).

The lecture's adaptive rules (AdaGrad, RMSProp, Adam) and AMSGrad run on the online problem of
Reddi, Kale and Kumar (2018): f_t(x) = C x once every three steps and -x otherwise, on
[-1, 1] (:class:`~memopt.problems.AdamCounterexample`). Every method plays the same sequence,
starting at x_1 = 0, takes its step and is projected back onto [-1, 1]. The chapter compares
where each ends and its regret R_T = sum_t f_t(x_t) - f_t(-1) against the best fixed point -1.
The problem is one number a step, so it runs with NumPy on the host whatever the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import plotting
from memopt.fitting import power_law_exponent
from memopt.optim.adaptive import AdaGrad, Adam, AMSGrad, RMSProp
from memopt.problems.online import PERIOD, AdamCounterexample

NAME = "adaptive"
DESCRIPTION = "Adaptive methods on the online problem where Adam does not converge (Reddi et al. 2018)"


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    C: float = 3.0
    #: alpha of every method; Adam, AMSGrad, RMSProp and SGD take alpha / sqrt(t), AdaGrad alpha.
    lr: float = 0.1
    steps: int = 99_999
    eps: float = 1e-8
    #: Where the iterate has settled: the mean of x_t over the last ``tail`` steps.
    tail: int = 3_000

    def __post_init__(self):
        AdamCounterexample(self.C)  # checks C
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.steps < 10 * PERIOD or self.steps % PERIOD:
            raise ValueError(f"steps must be a multiple of {PERIOD} and >= {10 * PERIOD}, got {self.steps}")
        if not 0 < self.tail <= self.steps // 2 or self.tail % PERIOD:
            raise ValueError(f"tail must be a multiple of {PERIOD} in (0, steps / 2], got {self.tail}")


SCALES = {"book": Config(), "paper": Config(steps=999_999, tail=30_000)}


def methods(config: Config) -> dict:
    """The methods the chapter runs, by label: the paper's setting (beta1 = 0,
    beta2 = 1 / (1 + C^2)) for Adam, AMSGrad and RMSProp, and Adam with its usual betas."""
    beta2 = AdamCounterexample(config.C).adam_beta2()
    decaying = {"lr": config.lr, "eps": config.eps, "decay": "inverse_sqrt"}
    return {
        "Adam": Adam(betas=(0.0, beta2), **decaying),
        "AMSGrad": AMSGrad(betas=(0.0, beta2), **decaying),
        "RMSProp": RMSProp(gamma=beta2, **decaying),
        "AdaGrad": AdaGrad(lr=config.lr, eps=config.eps),
        "SGD": None,  # projected online gradient descent, x_{t+1} = P(x_t - alpha / sqrt(t) g_t)
        "Adam, betas (0.9, 0.999)": Adam(betas=(0.9, 0.999), **decaying),
    }


def play(method, problem: AdamCounterexample, steps: int, lr: float) -> np.ndarray:
    """The iterates x_1 = 0, x_2, ..., x_steps of ``method`` (None: projected SGD with
    alpha / sqrt(t)) on ``problem``: x_t is played, then f_t'(x_t) revealed."""
    slopes = problem.slope(np.arange(1, steps + 1))
    xs = np.empty(steps)
    x = np.zeros(1)
    state = None if method is None else method.init(x)
    g = np.empty(1)
    for t in range(1, steps + 1):
        xs[t - 1] = x[0]
        g[0] = slopes[t - 1]
        if method is None:
            x -= lr / np.sqrt(t) * g
        else:
            method.step(x, g, state)
        problem.project(x)
    return xs


@dataclass
class Result:
    config: Config
    problem: AdamCounterexample
    iterates: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def steps(self) -> np.ndarray:
        return np.arange(1, self.config.steps + 1)

    def regret(self, name: str) -> np.ndarray:
        """R_t = sum_{s <= t} f_s(x_s) - f_s(-1), for t = 1 .. T (linear losses: slope times gap)."""
        slopes = self.problem.slope(self.steps)
        return np.cumsum(slopes * (self.iterates[name] - self.problem.comparator))

    def average_regret(self, name: str) -> float:
        """R_T / T."""
        return float(self.regret(name)[-1] / self.config.steps)

    def settled_at(self, name: str) -> float:
        """The mean of x_t over the last ``tail`` steps (whole periods)."""
        return float(self.iterates[name][-self.config.tail:].mean())

    def settling_step(self, name: str, tolerance: float = 0.01) -> int:
        """The first step t from which x_t stays within ``tolerance`` of where it settles
        (:meth:`settled_at`) until the end of the run."""
        outside = np.flatnonzero(np.abs(self.iterates[name] - self.settled_at(name)) > tolerance)
        return 1 if outside.size == 0 else int(outside[-1]) + 2  # x_t is iterates[t - 1]

    def regret_exponent(self, name: str) -> float:
        """The slope of ln R_t against ln t over the last two decades of t, at ends of periods
        (R_t grows like t^p: p = 1 is linear regret, p <= 1/2 the O(sqrt T) of the theorems)."""
        t = self.steps
        ends = t[(t % PERIOD == 0) & (t >= t[-1] / 100)]
        return power_law_exponent(ends, self.regret(name)[ends - 1])


def run(config: Config = Config(), progress: bool = False) -> Result:
    """Every method of :func:`methods` on the same sequence."""
    result = Result(config, AdamCounterexample(config.C))
    for name, method in tqdm(methods(config).items(), desc="adaptive runs", disable=not progress):
        result.iterates[name] = play(method, result.problem, config.steps, config.lr)
    return result


COLOURS = {"Adam": "C3", "RMSProp": "C1", "AMSGrad": "C0", "AdaGrad": "C2", "SGD": "C7",
           "Adam, betas (0.9, 0.999)": "C4"}
#: RMSProp follows Adam's curve almost exactly here: dotted, so both stay visible.
STYLES = {"RMSProp": ":"}


def plot_iterates(result: Result):
    """x_t of every method (averaged over each period of three steps), log time axis."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.0))
    t = result.steps.reshape(-1, PERIOD)[:, -1]
    for name, xs in result.iterates.items():
        ax.plot(t, xs.reshape(-1, PERIOD).mean(axis=1), label=name, color=COLOURS[name], lw=1.5,
                ls=STYLES.get(name, "-"))
    ax.axhline(result.problem.comparator, color="black", ls="--", lw=1, label="best point x = −1")
    ax.legend(loc="center right", fontsize=8)
    return plotting.axes_labels(ax, xlabel="step t", ylabel="iterate x_t (mean over each period)",
                                title=f"Where each method goes, C = {result.config.C:g}", logx=True).figure


def plot_regret(result: Result):
    """R_t / t against t, with the limit for a point stuck at +1 and a 1/sqrt(t) guide."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.0))
    t = result.steps
    ends = t[t % PERIOD == 0]
    for name in result.iterates:
        average = result.regret(name)[ends - 1] / ends
        ax.plot(ends, np.maximum(average, np.finfo(float).tiny), label=name, color=COLOURS[name], lw=1.5,
                ls=STYLES.get(name, "-"))
    plotting.theory(ax, ends, np.full(ends.shape, result.problem.regret_per_step_at(1.0)),
                    label="staying at +1: 2(C − 2)/3")
    guide = result.average_regret("AMSGrad") * np.sqrt(ends[-1] / ends)
    plotting.theory(ax, ends, guide, label="∝ 1/√t (O(√T) regret)", color="gray")
    ax.legend(loc="lower left", fontsize=8)
    return plotting.axes_labels(ax, xlabel="step t", ylabel="average regret R_t / t",
                                title="Regret against the best fixed point", logx=True, logy=True).figure


def figures(result: Result) -> dict:
    return {"iterates": plot_iterates(result), "regret": plot_regret(result)}


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run adaptive``)."""
    return {
        "C": result.config.C,
        "beta2": result.problem.adam_beta2(),
        "limit_at_plus_one": result.problem.regret_per_step_at(1.0),
        "methods": {
            name: {"settled_at": result.settled_at(name), "settling_step": result.settling_step(name),
                   "average_regret": result.average_regret(name),
                   "regret_exponent": result.regret_exponent(name)}
            for name in result.iterates
        },
    }
