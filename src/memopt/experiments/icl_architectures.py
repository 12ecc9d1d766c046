"""Chapter "Memory across architectures" (book/memory/icl_architectures.md).

The lecture's suggestion that "available memory may explain differences in behaviour between
different architectures", tested on in-context linear regression (isotropic x, w ~ N(0, I),
noiseless y = <w, x>): the test error of the prediction of y_i against the number of examples
seen, for

* a trained LSTM (:class:`~memopt.nets.recurrent.InContextLSTM`), whose memory between examples
  is a state of ``2 * hidden`` floats, O(d);
* a trained transformer (:class:`~memopt.nets.in_context.InContextTransformer`), which can attend
  to every earlier example;
* exact online least squares (:class:`~memopt.optim.streaming.ExactLeastSquares`, d^2 + d floats;
  exact once d examples are in);
* one-pass Kaczmarz and SGD (:class:`~memopt.optim.streaming.Kaczmarz`,
  :class:`~memopt.optim.streaming.StreamingSGD`, d floats).

Both networks are trained from ``seeds`` random starts (each with its own prompt stream) by
:func:`~memopt.nets.in_context.fit_in_context`; every method is then tested on the same fresh
prompts. The error at position i is (yhat_i - y_i)^2 / d averaged over the test prompts (E y^2 = d,
so predicting 0 scores 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
from memopt._checks import integer, real
from memopt.backend import single_blas_thread
from memopt.nets.in_context import InContextTransformer, fit_in_context
from memopt.nets.recurrent import InContextLSTM
from memopt.optim.adaptive import Adam
from memopt.optim.streaming import ExactLeastSquares, Kaczmarz, StreamingSGD
from memopt.problems.icl import isotropic_prompts

NAME = "icl_architectures"
DESCRIPTION = "Memory across architectures: an LSTM with O(d) state vs a transformer, in context"


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    dim: int = 4
    #: examples per prompt (3d: up to twice past the point where least squares is exact)
    examples: int = 12
    #: LSTM units; its state (h, c) holds 2 * hidden floats
    hidden: int = 8
    #: the LSTM's steps are ~5x cheaper than the transformer's: it gets more of them
    lstm_steps: int = 3000
    lstm_lr: float = 1e-2
    width: int = 32
    heads: int = 2
    layers: int = 2
    transformer_steps: int = 1000
    transformer_lr: float = 3e-3
    batch_size: int = 64
    #: training runs of each network (random start and prompt stream), seeds seed, seed + 1, ...
    seeds: int = 3
    seed: int = 0
    test_prompts: int = 2000
    test_seed: int = 12345
    #: the networks' precision: training is chaotic, and in float64 a last-bit change of the
    #: initial weights stays below the printed digits after training (in float32 it does not)
    dtype: str = "float64"

    def __post_init__(self):
        for name in ("dim", "examples", "hidden", "lstm_steps", "width", "heads", "layers",
                     "transformer_steps", "batch_size", "test_prompts"):
            integer(name, getattr(self, name))
        integer("seed", self.seed, minimum=0)
        integer("test_seed", self.test_seed, minimum=0)
        if integer("seeds", self.seeds) < 2:
            raise ValueError(f"seeds must be >= 2 for an interval over training runs, got {self.seeds}")
        if self.examples <= self.dim:
            raise ValueError(f"examples must exceed dim (least squares is exact from example "
                             f"d + 1 on), got {self.examples} <= {self.dim}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be a multiple of heads {self.heads}")
        for name in ("lstm_lr", "transformer_lr"):
            real(name, getattr(self, name))
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")


SCALES = {
    "book": Config(),
    "paper": Config(lstm_steps=40_000, transformer_steps=50_000, width=64, layers=4, seeds=5,
                    test_prompts=10_000),
}


@dataclass
class Result:
    config: Config
    #: error curves (seeds, examples) of the trained networks, mean over the test prompts
    lstm: np.ndarray
    transformer: np.ndarray
    #: per-prompt error curves (test_prompts, examples) of the streaming methods
    least_squares: np.ndarray
    kaczmarz: np.ndarray
    sgd: np.ndarray
    #: training loss of every step, per seed, divided by d
    lstm_training: np.ndarray
    transformer_training: np.ndarray
    #: memory between examples, in floats
    lstm_state: int
    least_squares_memory: int
    kaczmarz_memory: int

    @property
    def positions(self) -> np.ndarray:
        """i = 1 .. examples: prediction i has seen i - 1 examples."""
        return np.arange(1, self.config.examples + 1)

    def at(self, curves: np.ndarray, i: int) -> np.ndarray:
        """Column of position i (1-based) of a (rows, examples) array."""
        return curves[:, i - 1]

    def estimate(self, name: str, i: int, resolution: float = 0.0) -> claims.Estimate:
        """The error at position i: mean over training seeds (networks) or test prompts
        (streaming methods) +- 2 s.e. Errors below ``resolution`` are raised to it: exact least
        squares' errors are rounding (~1e-28), whose digits differ between machines."""
        curves = np.maximum(getattr(self, name), resolution)
        what = "training seeds" if name in ("lstm", "transformer") else "test prompts"
        return claims.mean_with_error(self.at(curves, i), what=what)

    def transformer_over_lstm(self, i: int) -> claims.Estimate:
        """Ratio of the mean errors at position i, transformer over LSTM, paired by seed."""
        return claims.ratio_of_means(self.at(self.transformer, i), self.at(self.lstm, i),
                                     what="training seeds")

    def kaczmarz_theory(self) -> np.ndarray:
        """E error at position i for Kaczmarz from 0: (1 - 1/d)^(i - 1) (each projection keeps
        1 - 1/d of E ||w_hat - w||^2 on isotropic rows; the error is E ||w_hat - w||^2 / d,
        and E ||w||^2 / d = 1)."""
        return (1 - 1 / self.config.dim) ** (self.positions - 1)

    def least_squares_theory(self) -> np.ndarray:
        """E error at position i of the minimum-norm solution on i - 1 isotropic examples:
        (d - (i - 1))_+ / d (the part of w outside the span of the examples)."""
        d = self.config.dim
        return np.maximum(d - (self.positions - 1), 0) / d


def _network_errors(model, xs, ys, chunk: int = 500) -> np.ndarray:
    """(yhat_i - y_i)^2 / d for every test prompt and position, mean over prompts: (examples,)."""
    total = np.zeros(xs.shape[1])
    for start in range(0, len(xs), chunk):
        x, y = xs[start:start + chunk], ys[start:start + chunk]
        residual = np.asarray(model.forward(x, y), dtype=np.float64) - y
        total += (residual * residual).sum(axis=0)
    return total / len(xs) / xs.shape[2]


def streaming_errors(method, xs, ys) -> np.ndarray:
    """Per-prompt errors (prompts, examples) of a streaming method with one trial per prompt:
    prediction i is <estimate after i - 1 examples, x_i>, normalised by d."""
    errors = np.empty(ys.shape)
    for i in range(xs.shape[1]):
        predictions = (method.estimate() * xs[:, i]).sum(axis=1)
        errors[:, i] = (predictions - ys[:, i]) ** 2 / xs.shape[2]
        method.update(xs[:, i], ys[:, i])
    return errors


def run(config: Config = Config(), progress: bool = False) -> Result:
    """Train both networks from every seed and test every method (on one BLAS thread)."""
    c = config
    with single_blas_thread():
        xs, ys, _ = isotropic_prompts(np.random.default_rng(c.test_seed), c.test_prompts, c.examples, c.dim)
        lstm, transformer, lstm_loss, transformer_loss = [], [], [], []
        bar = tqdm(total=2 * c.seeds, desc=NAME, disable=not progress)
        for k in range(c.seeds):
            seed = c.seed + k
            model = InContextLSTM(c.dim, c.examples, hidden=c.hidden, seed=seed, dtype=np.dtype(c.dtype))
            lstm_loss.append(fit_in_context(model, dim=c.dim, examples=c.examples, steps=c.lstm_steps,
                                            batch_size=c.batch_size, rule=Adam(lr=c.lstm_lr), seed=seed) / c.dim)
            lstm.append(_network_errors(model, xs, ys))
            state = model.state_floats
            bar.update()
            model = InContextTransformer(c.dim, c.examples, width=c.width, heads=c.heads, layers=c.layers,
                                         seed=seed, dtype=np.dtype(c.dtype))
            transformer_loss.append(fit_in_context(
                model, dim=c.dim, examples=c.examples, steps=c.transformer_steps, batch_size=c.batch_size,
                rule=Adam(lr=c.transformer_lr), seed=seed) / c.dim)
            transformer.append(_network_errors(model, xs, ys))
            bar.update()
        bar.close()
        n = c.test_prompts
        exact, kaczmarz = ExactLeastSquares(c.dim, trials=n), Kaczmarz(c.dim, trials=n)
        sgd = StreamingSGD(c.dim, step=1 / (c.dim + 2), trials=n)
        errors = [streaming_errors(m, xs, ys) for m in (exact, kaczmarz, sgd)]
    return Result(c, np.array(lstm), np.array(transformer), *errors, np.array(lstm_loss),
                  np.array(transformer_loss), state, exact.memory_floats, kaczmarz.memory_floats)


# -- figures -----------------------------------------------------------------------------------
def plot_errors(result: Result):
    """Test error against the number of examples seen, every method."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.5))
    i, d = result.positions, result.config.dim
    seen = i - 1
    plotting.mean_band(ax, seen, result.transformer, label="transformer (attends to every example)",
                       color="C0")
    plotting.mean_band(ax, seen, result.lstm, label=f"LSTM, state {result.lstm_state} floats", color="C3")
    for curves, label, colour, style in (
            (result.least_squares, f"exact least squares, {result.least_squares_memory} floats", "C2", "-"),
            (result.kaczmarz, f"Kaczmarz, {result.kaczmarz_memory} floats", "C1", "--"),
            (result.sgd, f"one-pass SGD, step 1/(d+2), {result.kaczmarz_memory} floats", "C4", ":")):
        ax.plot(seen, curves.mean(axis=0), color=colour, ls=style, lw=1.5, label=label)
    plotting.theory(ax, seen, result.kaczmarz_theory(), label=r"Kaczmarz in expectation, $(1-1/d)^{i-1}$")
    ax.axvline(d, color="gray", lw=1, ls=":", label=f"d = {d} examples seen")
    ax.set_ylim(-0.03, 1.15)
    ax.legend(loc="upper right")
    return plotting.axes_labels(ax, xlabel="examples seen before the query, i − 1",
                                ylabel=r"test error $E(\hat y_i - y_i)^2 / d$",
                                title="In-context regression, d = %d" % d).figure


def plot_training(result: Result):
    """Training loss (per d) of both networks, every seed."""
    fig, (ax,) = plotting.figure(panel=(7.5, 3.5))
    for curves, label, colour in ((result.lstm_training, "LSTM", "C3"),
                                  (result.transformer_training, "transformer", "C0")):
        for k, loss in enumerate(curves):
            window = max(1, len(loss) // 50)
            smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
            ax.plot(np.arange(window, len(loss) + 1), smooth, color=colour, lw=1, alpha=0.8,
                    label=label if k == 0 else None)
    ax.legend(loc="upper right")
    return plotting.axes_labels(ax, xlabel="training step", ylabel="training loss / d (running mean)",
                                title="Training on fresh prompts").figure


def figures(result: Result) -> dict:
    return {"errors": plot_errors(result), "training": plot_training(result)}


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run icl_architectures``)."""
    d = result.config.dim

    def interval(name, i):
        e = result.estimate(name, i)
        return [e.value, e.low, e.high]

    return {
        "dim": d,
        "lstm_state_floats": result.lstm_state,
        "least_squares_memory_floats": result.least_squares_memory,
        "kaczmarz_memory_floats": result.kaczmarz_memory,
        "error_at_d_plus_1": {name: interval(name, d + 1) for name in
                              ("lstm", "transformer", "least_squares", "kaczmarz", "sgd")},
        "error_at_last": {name: interval(name, result.config.examples) for name in
                          ("lstm", "transformer", "least_squares", "kaczmarz", "sgd")},
        "transformer_over_lstm_at_d_plus_1": [result.transformer_over_lstm(d + 1).value,
                                              result.transformer_over_lstm(d + 1).low,
                                              result.transformer_over_lstm(d + 1).high],
        "lstm_curve": result.lstm.mean(axis=0).tolist(),
        "transformer_curve": result.transformer.mean(axis=0).tolist(),
    }
