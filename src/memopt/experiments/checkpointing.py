"""Chapter "Gradient checkpointing: memory against recomputation" (book/phenomena/checkpointing.md).

Backpropagation through a chain of n tanh layers (:class:`~memopt.nets.checkpointing.TanhChain`)
under the lecture's three strategies, for n from 16 to 1024: the layer evaluations each spends,
the most activations each holds at once, and whether their gradients agree. Then, at one depth,
the whole trade-off: checkpoints every s layers for s from 1 to n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import plotting
from memopt.fitting import power_law_exponent
from memopt.perturb import inputs as perturbed
from memopt.nets.checkpointing import (
    STRATEGIES,
    ChainGradient,
    TanhChain,
    checkpointed_evaluations,
    checkpointed_peak,
)

NAME = "checkpointing"
DESCRIPTION = "Backpropagation memory against recomputation: vanilla, memory-poor, checkpointed"


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    depths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
    width: int = 32
    batch: int = 16
    seed: int = 0
    #: The depth at which every checkpoint spacing s = 1, 2, 4, ..., n is run.
    tradeoff_depth: int = 256

    def __post_init__(self):
        if len(self.depths) < 2 or min(self.depths) < 1 or list(self.depths) != sorted(set(self.depths)):
            raise ValueError(f"depths must be at least two increasing positive integers, got {self.depths}")
        if self.width < 1 or self.batch < 1:
            raise ValueError("width and batch must be positive")
        if self.tradeoff_depth < 2:
            raise ValueError(f"tradeoff_depth must be >= 2, got {self.tradeoff_depth}")

    @property
    def segments(self) -> tuple[int, ...]:
        """The spacings of the trade-off: powers of two up to the depth, and the depth."""
        powers = [2**k for k in range(int(math.log2(self.tradeoff_depth)) + 1)]
        return tuple(sorted(set(powers) | {self.tradeoff_depth}))


SCALES = {"book": Config(), "paper": Config(depths=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096))}


@dataclass
class Result:
    config: Config
    runs: dict[tuple[str, int], ChainGradient] = field(default_factory=dict)
    tradeoff: dict[int, ChainGradient] = field(default_factory=dict)
    #: the largest |difference| from vanilla's gradient, relative to its largest entry
    deviation: dict[tuple[str, int], float] = field(default_factory=dict)

    def series(self, strategy: str, quantity: str) -> np.ndarray:
        """``evaluations`` or ``peak_activations`` of ``strategy`` at every depth."""
        return np.array([getattr(self.runs[strategy, n], quantity) for n in self.config.depths])

    def exponent(self, strategy: str, quantity: str) -> float:
        """The slope of ln(quantity) against ln(n) over the depths."""
        return power_law_exponent(self.config.depths, self.series(strategy, quantity))

    def per_layer(self, strategy: str) -> np.ndarray:
        """Layer evaluations divided by the depth n."""
        return self.series(strategy, "evaluations") / np.array(self.config.depths)

    def checkpointed_memory_bound(self) -> np.ndarray:
        """2 ceil(sqrt(n)) at every depth: checkpoints every s = ceil(sqrt n) layers hold at most
        ceil(n / s) checkpoints plus the s - 1 activations of one segment."""
        return np.array([2 * math.ceil(math.sqrt(n)) for n in self.config.depths])


def run(config: Config = Config(), progress: bool = False) -> Result:
    result = Result(config)
    rng = np.random.default_rng(config.seed)
    for n in tqdm(config.depths, desc="checkpointing depths", disable=not progress):
        chain = TanhChain(n, config.width, seed=config.seed + n)
        x = perturbed(rng.standard_normal((config.batch, config.width)))
        for strategy in STRATEGIES:
            result.runs[strategy, n] = chain.gradient(x, np.zeros_like(x), strategy)
            reference = result.runs[STRATEGIES[0], n].gradients
            difference = np.abs(result.runs[strategy, n].gradients - reference).max()
            result.deviation[strategy, n] = float(difference / np.abs(reference).max())
    n = config.tradeoff_depth
    chain = TanhChain(n, config.width, seed=config.seed + n)
    x = perturbed(np.random.default_rng(config.seed).standard_normal((config.batch, config.width)))
    for s in config.segments:
        result.tradeoff[s] = chain.gradient(x, np.zeros_like(x), "checkpointed", segment=s)
    return result


LABELS = {"vanilla": "vanilla (keep every activation)", "memory_poor": "memory poor (recompute from h₀)",
          "checkpointed": "checkpointed every ⌈√n⌉ layers"}


def plot_scaling(result: Result):
    """Peak activations and layer evaluations against depth, log-log, with n, n(n+1)/2, 2 sqrt(n)."""
    fig, (memory, compute) = plotting.figure(ncols=2, panel=(5.2, 4.0))
    depths = np.array(result.config.depths, dtype=float)
    for i, strategy in enumerate(STRATEGIES):
        memory.plot(depths, result.series(strategy, "peak_activations"), "o-", color=f"C{i}", label=LABELS[strategy])
        compute.plot(depths, result.series(strategy, "evaluations"), "o-", color=f"C{i}", label=LABELS[strategy])
    plotting.theory(memory, depths, depths + 1, label="n + 1")
    plotting.theory(memory, depths, result.checkpointed_memory_bound(), label="2⌈√n⌉", color="gray")
    plotting.theory(compute, depths, depths * (depths + 1) / 2, label="n(n + 1)/2")
    plotting.theory(compute, depths, 2 * depths, label="2n", color="gray")
    memory.legend(loc="upper left", fontsize=8)
    compute.legend(loc="upper left", fontsize=8)
    plotting.axes_labels(memory, xlabel="depth n (layers)", ylabel="peak activations held (arrays)",
                         title="Memory", logx=True, logy=True)
    plotting.axes_labels(compute, xlabel="depth n (layers)", ylabel="layer evaluations (forward, incl. recomputation)",
                         title="Compute", logx=True, logy=True)
    return fig


def plot_tradeoff(result: Result):
    """Memory against compute for checkpoints every s layers at one depth, s = ceil(sqrt n) marked."""
    fig, (ax,) = plotting.figure(panel=(6.5, 4.2))
    n = result.config.tradeoff_depth
    peaks = [result.tradeoff[s].peak_activations for s in result.config.segments]
    evaluations = [result.tradeoff[s].evaluations for s in result.config.segments]
    ax.plot(evaluations, peaks, "o-", color="C2", label="checkpoints every s layers (measured)")
    for s, e, p in zip(result.config.segments, evaluations, peaks):
        ax.annotate(f"s={s}", (e, p), textcoords="offset points", xytext=(4, 4), fontsize=7)
    plotting.theory(ax, [checkpointed_evaluations(n, s) for s in result.config.segments],
                    [checkpointed_peak(n, s) for s in result.config.segments],
                    label="closed form: 2n − ⌈n/s⌉ evaluations")
    ax.legend(loc="lower left", fontsize=8)
    return plotting.axes_labels(ax, xlabel="layer evaluations", ylabel="peak activations held (arrays)",
                                title=f"The trade-off at depth n = {n}", logy=True).figure


def figures(result: Result) -> dict:
    return {"scaling": plot_scaling(result), "tradeoff": plot_tradeoff(result)}


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run checkpointing``)."""
    return {
        "depths": list(result.config.depths),
        "strategies": {
            s: {"evaluations": result.series(s, "evaluations").tolist(),
                "peak_activations": result.series(s, "peak_activations").tolist(),
                "evaluation_exponent": result.exponent(s, "evaluations"),
                "memory_exponent": result.exponent(s, "peak_activations"),
                "largest_relative_deviation": max(result.deviation[s, n] for n in result.config.depths)}
            for s in STRATEGIES
        },
        "tradeoff": {str(s): {"evaluations": g.evaluations, "peak_activations": g.peak_activations}
                     for s, g in result.tradeoff.items()},
    }
