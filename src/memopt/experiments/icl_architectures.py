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

``SCALES["record"]`` is a longer-trained transformer (width 64, 4 layers, float32) and an LSTM
given four times the book's steps, run once by ``memopt record icl_architectures --out FILE``
(:func:`paper_record`) into ``book/memory/records/icl_architectures_record.json``: the chapter
reads it back with :func:`result_from`, and :func:`replay` trains a prefix of its first
transformer again to compare with the stored loss.
"""

from __future__ import annotations

import datetime
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from memopt import claims, machine, plotting
from memopt._checks import integer, real
from memopt.backend import single_blas_thread
from memopt.nets.in_context import InContextTransformer, fit_in_context
from memopt.nets.training import window_means
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
    #: the transformer's precision when it differs from ``dtype`` (None: ``dtype``)
    transformer_dtype: str | None = None
    #: steps of linear warm-up of the transformer's Adam step size (0: none)
    transformer_warmup: int = 0
    #: every this many transformer steps, its test error curve on the first
    #: ``checkpoint_prompts`` test prompts (0: never): how the error moves during training
    checkpoint_every: int = 0
    checkpoint_prompts: int = 500

    def __post_init__(self):
        for name in ("dim", "examples", "hidden", "lstm_steps", "width", "heads", "layers",
                     "transformer_steps", "batch_size", "test_prompts"):
            integer(name, getattr(self, name))
        integer("seed", self.seed, minimum=0)
        integer("test_seed", self.test_seed, minimum=0)
        for name in ("transformer_warmup", "checkpoint_every"):
            integer(name, getattr(self, name), minimum=0)
        integer("checkpoint_prompts", self.checkpoint_prompts)
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
        if self.transformer_dtype not in (None, "float32", "float64"):
            raise ValueError(f"transformer_dtype must be None, 'float32' or 'float64', "
                             f"got {self.transformer_dtype!r}")

    def transformer(self, seed: int) -> InContextTransformer:
        """The untrained transformer of training seed ``seed``."""
        return InContextTransformer(self.dim, self.examples, width=self.width, heads=self.heads,
                                    layers=self.layers, seed=seed,
                                    dtype=np.dtype(self.transformer_dtype or self.dtype))

    def transformer_rule(self) -> Adam:
        return Adam(lr=self.transformer_lr, warmup=self.transformer_warmup)


SCALES = {
    "book": Config(),
    "paper": Config(lstm_steps=40_000, transformer_steps=50_000, width=64, layers=4, seeds=5,
                    test_prompts=10_000),
    # The stored record (book/memory/records/icl_architectures_record.json): a transformer
    # twice as wide and deep as the book's, trained to fill about 35 minutes of one core, with
    # Adam at 1e-3 after a 500-step warm-up, the step size and warm-up of the trained-transformer
    # chapter's record at the same width (Garg et al. use 1e-4 over 500k steps, 20x more than
    # fit here), in float32; the LSTM as the book's with four times the steps; two seeds each.
    "record": Config(lstm_steps=12_000, width=64, heads=4, layers=4, transformer_steps=20_000,
                     transformer_lr=1e-3, transformer_warmup=500, seeds=2,
                     transformer_dtype="float32", checkpoint_every=1000),
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
    #: per-prompt errors after d examples (position d + 1) of every seed's network,
    #: (seeds, test_prompts)
    lstm_at_d: np.ndarray | None = None
    transformer_at_d: np.ndarray | None = None
    #: the transformer's test error curves during training: at these steps (K,), on the first
    #: ``checkpoint_prompts`` test prompts, (seeds, K, examples)
    checkpoint_steps: np.ndarray | None = None
    transformer_checkpoints: np.ndarray | None = None
    seconds: float = 0.0
    #: the training losses are means over windows of this many steps (1: every step)
    window: int = 1

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

    def seed_estimates(self, name: str) -> list[claims.Estimate]:
        """Each training seed's error after d examples ("lstm" or "transformer"): the mean over
        the test prompts +- 2 s.e., the uncertainty of testing that trained network."""
        prompts = getattr(self, f"{name}_at_d")
        if prompts is None:
            raise ValueError(f"this result holds no per-prompt errors of the {name}")
        return [claims.mean_with_error(row, what="test prompts") for row in prompts]

    def extreme_seed(self, name: str, largest: bool = True) -> claims.Estimate:
        """The largest (or smallest) over the training seeds of the error after d examples, each
        seed's a mean over the test prompts +- 2 s.e. The interval runs from the extreme of the
        seeds' lower ends to the extreme of their upper ends: every seed lies below a threshold
        exactly when the largest's upper end does, above one when the smallest's lower end does."""
        seeds = self.seed_estimates(name)
        pick = max if largest else min
        n = len(getattr(self, f"{name}_at_d")[0])
        return claims.Estimate(pick(e.value for e in seeds), pick(e.low for e in seeds),
                               pick(e.high for e in seeds),
                               f"{'largest' if largest else 'smallest'} over {len(seeds)} training seeds "
                               f"of the mean ± 2 s.e. over {n} test prompts")

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


def _network_errors(model, xs, ys, chunk: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(yhat_i - y_i)^2 / d for every test prompt and position: its mean over the prompts,
    (examples,), and the errors themselves, (prompts, examples)."""
    total, rows = np.zeros(xs.shape[1]), []
    for start in range(0, len(xs), chunk):
        x, y = xs[start:start + chunk], ys[start:start + chunk]
        residual = np.asarray(model.forward(x, y), dtype=np.float64) - y
        total += (residual * residual).sum(axis=0)
        rows.append(residual * residual / xs.shape[2])
    return total / len(xs) / xs.shape[2], np.concatenate(rows)


def streaming_errors(method, xs, ys) -> np.ndarray:
    """Per-prompt errors (prompts, examples) of a streaming method with one trial per prompt:
    prediction i is <estimate after i - 1 examples, x_i>, normalised by d."""
    errors = np.empty(ys.shape)
    for i in range(xs.shape[1]):
        predictions = (method.estimate() * xs[:, i]).sum(axis=1)
        errors[:, i] = (predictions - ys[:, i]) ** 2 / xs.shape[2]
        method.update(xs[:, i], ys[:, i])
    return errors


def evaluation_prompts(config: Config) -> tuple[np.ndarray, np.ndarray]:
    """The fresh prompts every method is tested on: xs (test_prompts, examples, dim), ys."""
    c = config
    xs, ys, _ = isotropic_prompts(np.random.default_rng(c.test_seed), c.test_prompts, c.examples, c.dim)
    return xs, ys


def _streaming(config: Config, xs, ys) -> tuple[list[np.ndarray], int, int]:
    """Per-prompt error curves of exact least squares, Kaczmarz and SGD, and the memory of the
    first two in floats."""
    n, d = len(xs), config.dim
    exact, kaczmarz = ExactLeastSquares(d, trials=n), Kaczmarz(d, trials=n)
    sgd = StreamingSGD(d, step=1 / (d + 2), trials=n)
    errors = [streaming_errors(m, xs, ys) for m in (exact, kaczmarz, sgd)]
    return errors, exact.memory_floats, kaczmarz.memory_floats


def _checkpoints(config: Config, model, xs, ys, seed: int, log: bool):
    """A ``fit_in_context`` callback that measures the transformer's test error curve every
    ``checkpoint_every`` steps (the forward pass leaves training untouched), and the list it
    fills; with ``log`` it also writes the errors after d and after all examples to stderr."""
    curves, window = [], []
    every, d = config.checkpoint_every, config.dim
    xs, ys = xs[:config.checkpoint_prompts], ys[:config.checkpoint_prompts]

    def callback(step: int, loss: float) -> None:
        window.append(loss / d)
        if every and step % every == 0:
            curves.append(_network_errors(model, xs, ys)[0])
            if log:
                tqdm.write(f"{NAME}: seed {seed}, transformer step {step}: training loss/d "
                           f"{np.mean(window):.4f}, test error after d examples {curves[-1][d]:.4f}, "
                           f"after {config.examples - 1}: {curves[-1][-1]:.4f}", file=sys.stderr)
            window.clear()
    return callback, curves


def run(config: Config = Config(), progress: bool = False) -> Result:
    """Train both networks from every seed and test every method (on one BLAS thread)."""
    c = config
    start = time.perf_counter()
    with single_blas_thread():
        xs, ys = evaluation_prompts(c)
        lstm, transformer, lstm_loss, transformer_loss, at_d, checkpoints = [], [], [], [], [[], []], []
        bar = tqdm(total=2 * c.seeds, desc=NAME, disable=not progress)
        for k in range(c.seeds):
            seed = c.seed + k
            model = InContextLSTM(c.dim, c.examples, hidden=c.hidden, seed=seed, dtype=np.dtype(c.dtype))
            lstm_loss.append(fit_in_context(model, dim=c.dim, examples=c.examples, steps=c.lstm_steps,
                                            batch_size=c.batch_size, rule=Adam(lr=c.lstm_lr), seed=seed) / c.dim)
            mean, prompts = _network_errors(model, xs, ys)
            lstm.append(mean)
            at_d[0].append(prompts[:, c.dim])
            state = model.state_floats
            if progress:
                tqdm.write(f"{NAME}: seed {seed}, LSTM test error after d examples {mean[c.dim]:.4f}",
                           file=sys.stderr)
            bar.update()
            model = c.transformer(seed)
            callback, curves = _checkpoints(c, model, xs, ys, seed, log=progress)
            transformer_loss.append(fit_in_context(
                model, dim=c.dim, examples=c.examples, steps=c.transformer_steps, batch_size=c.batch_size,
                rule=c.transformer_rule(), seed=seed, callback=callback) / c.dim)
            mean, prompts = _network_errors(model, xs, ys)
            transformer.append(mean)
            at_d[1].append(prompts[:, c.dim])
            checkpoints.append(curves)
            bar.update()
        bar.close()
        errors, exact_memory, kaczmarz_memory = _streaming(c, xs, ys)
    steps = np.arange(1, len(checkpoints[0]) + 1) * c.checkpoint_every
    checkpoints = np.array(checkpoints).reshape(c.seeds, steps.size, c.examples)
    return Result(c, np.array(lstm), np.array(transformer), *errors, np.array(lstm_loss),
                  np.array(transformer_loss), state, exact_memory, kaczmarz_memory,
                  lstm_at_d=np.array(at_d[0]), transformer_at_d=np.array(at_d[1]),
                  checkpoint_steps=steps, transformer_checkpoints=checkpoints,
                  seconds=time.perf_counter() - start)


# -- the stored record --------------------------------------------------------------------------
#: the record stores the training losses as means over windows of this many steps
RECORD_WINDOW = 100
_NETWORKS = ("lstm", "transformer")
_STREAMING = ("least_squares", "kaczmarz", "sgd")


def record_of(result: Result) -> dict:
    """A run as a plain, storable record: its settings, every seed's test error curve of both
    networks (and the streaming methods' mean curves), the per-prompt errors after d examples,
    the transformer's checkpoints, the training losses (window means), the summary, and where
    and how long it ran. The summary is computed from the stored (rounded) numbers, as
    :func:`result_from` reads them."""
    r = result
    record = {
        "config": asdict(r.config),
        "curves": {name: np.asarray(getattr(r, name)).round(8).tolist() for name in _NETWORKS},
        "streaming_curves": {name: getattr(r, name).mean(axis=0).tolist() for name in _STREAMING},
        "after_d_examples": {name: np.asarray(getattr(r, f"{name}_at_d")).round(8).tolist()
                             for name in _NETWORKS},
        "checkpoints": {"steps": np.asarray(r.checkpoint_steps).tolist(),
                        "transformer": np.asarray(r.transformer_checkpoints).round(8).tolist()},
        "training": {"window": RECORD_WINDOW,
                     **{name: [window_means(h, RECORD_WINDOW).round(6).tolist() for h in getattr(r, f"{name}_training")]
                        for name in _NETWORKS}},
        "memory_floats": {"lstm_state": r.lstm_state, "least_squares": r.least_squares_memory,
                          "kaczmarz": r.kaczmarz_memory},
        "machine": machine.description(),
        "seconds": round(r.seconds, 1),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
    }
    record["summary"] = summary(result_from(record))
    return record


def result_from(stored: dict) -> Result:
    """A stored record as a :class:`Result`. The streaming methods' per-prompt curves are not
    stored: they are computed again from the record's test prompts (a few milliseconds, no
    training), and agree with its ``streaming_curves``."""
    config = Config(**stored["config"])
    with single_blas_thread():
        errors, exact_memory, kaczmarz_memory = _streaming(config, *evaluation_prompts(config))
    arrays = lambda key, name: np.asarray(stored[key][name], dtype=np.float64)  # noqa: E731
    memory = stored["memory_floats"]
    return Result(config, arrays("curves", "lstm"), arrays("curves", "transformer"), *errors,
                  arrays("training", "lstm"), arrays("training", "transformer"), memory["lstm_state"],
                  exact_memory, kaczmarz_memory,
                  lstm_at_d=arrays("after_d_examples", "lstm"),
                  transformer_at_d=arrays("after_d_examples", "transformer"),
                  checkpoint_steps=np.asarray(stored["checkpoints"]["steps"], dtype=np.int64),
                  transformer_checkpoints=arrays("checkpoints", "transformer"),
                  seconds=stored["seconds"], window=stored["training"]["window"])


def paper_record(progress: bool = False) -> dict:
    """Train and test at SCALES["record"] and return its record (:func:`record_of`); what
    ``memopt record icl_architectures`` writes."""
    return record_of(run(SCALES["record"], progress=progress))


def replay(stored: dict, steps: int, progress: bool = False) -> np.ndarray:
    """The training loss (window means, per d) of the first ``steps`` steps (a multiple of the
    record's window) of the stored run's first transformer, trained again: the prompts of a
    step and Adam's step size do not depend on the budget, so this retraces the stored run."""
    window = stored["training"]["window"]
    steps = integer("steps", steps)
    if steps % window:
        raise ValueError(f"steps must be a multiple of the record's window {window}, got {steps}")
    c = Config(**stored["config"])
    model = c.transformer(c.seed)
    with single_blas_thread():
        history = fit_in_context(model, dim=c.dim, examples=c.examples, steps=steps,
                                 batch_size=c.batch_size, rule=c.transformer_rule(), seed=c.seed,
                                 progress=progress) / c.dim
    return window_means(history, window)


# -- figures -----------------------------------------------------------------------------------
def plot_errors(result: Result, ax=None, title: str | None = None):
    """Test error against the number of examples seen, every method (into ``ax`` if given)."""
    if ax is None:
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
                                title=title or "In-context regression, d = %d" % d).figure


def plot_training(result: Result, logx: bool = False):
    """Training loss (per d) of both networks, every seed (window means in a record)."""
    fig, (ax,) = plotting.figure(panel=(7.5, 3.5))
    for curves, label, colour in ((result.lstm_training, "LSTM", "C3"),
                                  (result.transformer_training, "transformer", "C0")):
        for k, loss in enumerate(curves):
            window = max(1, len(loss) // 50)
            smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
            ax.plot(result.window * np.arange(window, len(loss) + 1), smooth, color=colour, lw=1,
                    alpha=0.8, label=label if k == 0 else None)
    if logx:
        ax.set_xscale("log")
    ax.legend(loc="upper right")
    return plotting.axes_labels(ax, xlabel="training step", ylabel="training loss / d (running mean)",
                                title="Training on fresh prompts").figure


def plot_checkpoints(result: Result):
    """The transformer's test error after d examples against its training step, every seed,
    with least squares' (0) and Kaczmarz's expectation for reference."""
    if result.transformer_checkpoints is None or not len(result.checkpoint_steps):
        raise ValueError("this result holds no checkpoints (Config.checkpoint_every = 0)")
    fig, (ax,) = plotting.figure(panel=(7.5, 3.5))
    d, steps = result.config.dim, result.checkpoint_steps
    for k, curves in enumerate(result.transformer_checkpoints):
        ax.plot(steps, curves[:, d], color="C0", lw=1.2, alpha=0.8,
                label=f"transformer, {result.config.checkpoint_prompts} test prompts" if k == 0 else None)
    kaczmarz = (1 - 1 / d) ** d
    plotting.theory(ax, steps[[0, -1]], [kaczmarz, kaczmarz], label=r"Kaczmarz in expectation, $(1-1/d)^d$")
    ax.axhline(0.1, color="gray", lw=1, ls=":", label="the claim's threshold 0.1")
    ax.set_yscale("log")
    ax.legend(loc="center right")
    return plotting.axes_labels(ax, xlabel="training step",
                                ylabel="test error after d examples",
                                title="The transformer during training").figure


def figures(result: Result) -> dict:
    out = {"errors": plot_errors(result), "training": plot_training(result)}
    if result.transformer_checkpoints is not None and len(result.checkpoint_steps):
        out["checkpoints"] = plot_checkpoints(result)
    return out


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
