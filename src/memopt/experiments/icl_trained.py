"""Chapter "A trained transformer against Newton's method" (book/memory/icl_trained.md).

Fu, Chen, Jia and Sharan (NeurIPS 2024) train a GPT-2 decoder on in-context linear regression,
read a prediction out of every layer with a linear probe, and match each layer to the step of
Iterative Newton, and to the step of gradient descent (GD), whose predictions resemble it most:
the matched Newton step grows linearly with the layer, the matched GD step exponentially. This
module does the same at a scale a CPU trains:

1. train :class:`~memopt.nets.in_context.InContextTransformer` on fresh isotropic prompts
   (:func:`~memopt.nets.in_context.fit_in_context`, Adam);
2. fit one linear probe per layer (:mod:`memopt.nets.probes`) from the hidden state at each
   x-token to the y it must predict, on ``probe_prompts`` training prompts;
3. on ``batches`` x ``batch_prompts`` fresh prompts, run Iterative Newton and GD on every
   prefix's least-squares problem (the functions of :mod:`memopt.optim.newton`, with the
   choices of the Newton chapter: the released code's alpha, each problem's best fixed GD
   step), and measure the paper's *similarity of errors* between each layer and each step:
   the cosine between the two vectors of prediction errors over the prompt's positions,
   averaged over the prompts; the matched step maximises it;
4. on ill-conditioned prompts (two-cluster covariance, condition number ``kappa``) compare the
   model's error with Newton's and GD's at the steps matched to its last layer.

Each batch of evaluation prompts gives one measurement, so every checked quantity has an
interval over the batches (:mod:`memopt.claims`).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from memopt import claims, machine, plotting
from memopt._checks import integer
from memopt.backend import single_blas_thread
from memopt.nets.in_context import InContextTransformer, fit_in_context
from memopt.nets.training import window_means
from memopt.nets.probes import fit_probe
from memopt.optim.adaptive import Adam
from memopt.optim.newton import iterative_newton, least_squares_gd
from memopt.problems.icl import covariance_with_spectrum, isotropic_prompts, two_cluster_spectrum

NAME = "icl_trained"
DESCRIPTION = "A transformer trained on in-context regression, probed layer by layer against Newton and GD"


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's run."""

    dim: int = 5
    examples: int = 10
    width: int = 32
    heads: int = 2
    layers: int = 4
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 100
    seed: int = 0
    #: prompts the probes are fitted on, and the evaluation: batches x batch_prompts prompts
    probe_prompts: int = 2000
    batches: int = 5
    batch_prompts: int = 200
    ridge: float = 1e-6
    #: Newton steps 0..newton_steps; GD steps on a geometric grid from 1 to gd_steps (and 0)
    newton_steps: int = 14
    gd_steps: int = 1024
    gd_grid: int = 30
    #: the ill-conditioned prompts: two-cluster spectrum, rescaled to trace = dim
    kappa: float = 100.0
    #: the seed of the evaluation prompts (apart from the training draws)
    eval_seed: int = 1
    #: the network's floating-point type; float64 keeps a last-bit change of the initial
    #: weights from growing into a visible change over the training run
    dtype: str = "float32"

    def __post_init__(self):
        for name in ("dim", "examples", "width", "heads", "layers", "steps", "batch_size", "warmup",
                     "probe_prompts", "batches", "batch_prompts", "newton_steps", "gd_steps", "gd_grid"):
            integer(name, getattr(self, name), minimum=0 if name in ("warmup", "steps") else 1)
        if self.examples < 2:
            raise ValueError(f"examples must be >= 2 (a prediction needs one example), got {self.examples}")
        if self.batches < 2:
            raise ValueError(f"batches must be >= 2 for an interval, got {self.batches}")
        if not self.lr > 0 or not self.kappa >= 1:
            raise ValueError("lr must be > 0 and kappa >= 1")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")

    def model(self) -> InContextTransformer:
        return InContextTransformer(self.dim, self.examples, width=self.width, heads=self.heads,
                                    layers=self.layers, seed=self.seed, dtype=np.dtype(self.dtype))

    def rule(self) -> Adam:
        return Adam(self.lr, warmup=self.warmup)

    def gd_times(self) -> np.ndarray:
        """0 and a geometric grid of GD step counts from 1 to gd_steps."""
        grid = np.unique(np.round(np.geomspace(1, self.gd_steps, self.gd_grid)).astype(np.int64))
        return np.concatenate([[0], grid])


#: Fu et al. train d = 20, t = 40, a 12-layer GPT-2 of width 256 for 500k steps of batch 64.
PAPER_SETTING = {"dim": 20, "examples": 40, "layers": 12, "width": 256, "heads": 8,
                 "steps": 500_000, "batch_size": 64}

def step_cost(layers: int, examples: int, width: int, batch_size: int) -> float:
    """Multiply-adds of one forward pass of a batch, up to a constant: per layer and token,
    12 width^2 for the projections (4 width^2) and the 4x feed-forward block (8 width^2), and
    2 T width for the attention scores and mixing over T = 2 examples - 1 tokens. Backward
    costs about twice as much in the same proportions, so ratios of this estimate step times."""
    tokens = 2 * examples - 1
    return float(layers * tokens * batch_size * (12 * width**2 + 2 * tokens * width))


SCALES = {
    "book": Config(dtype="float64"),
    "paper": Config(dim=10, examples=20, width=64, heads=4, layers=8, steps=10_000, batch_size=32,
                    warmup=500, batch_prompts=200, newton_steps=20, gd_steps=4096, gd_grid=40),
}


# -- prompts and the algorithms on every prefix ---------------------------------------------------
def conditioned_prompts(rng: np.random.Generator, n_prompts: int, n_examples: int, dim: int,
                        kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """Prompts with x ~ N(0, Sigma), Sigma of two-cluster spectrum (condition number kappa)
    rescaled to trace dim (the isotropic prompts' scale), w ~ N(0, I), y = <w, x>."""
    spectrum = two_cluster_spectrum(dim, kappa)
    covariance = covariance_with_spectrum(spectrum * dim / spectrum.sum(), rng)
    xs, _, ws = isotropic_prompts(rng, n_prompts, n_examples, dim)
    xs = xs @ np.linalg.cholesky(covariance).T
    return xs, np.einsum("tnd,td->tn", xs, ws)


def _prefixes(xs, ys):
    """For every prompt and every i = 1..t-1: S = X_i^T X_i, X_i^T y_i of its first i examples,
    and the next example x_{i+1}, stacked as (t - 1) * B tasks (position-major)."""
    grams = np.einsum("bnd,bne->bnde", xs, xs).cumsum(axis=1)[:, :-1]
    moments = (xs * ys[..., None]).cumsum(axis=1)[:, :-1]
    queries = xs[:, 1:]
    flat = lambda a: np.swapaxes(a, 0, 1).reshape(-1, *a.shape[2:])  # noqa: E731
    return flat(grams), flat(moments), flat(queries)


def _per_prompt(values, prompts):
    """(..., (t - 1) * B) position-major -> (..., B, t - 1)."""
    return np.swapaxes(values.reshape(*values.shape[:-1], -1, prompts), -1, -2)


def newton_predictions(xs, ys, steps: int) -> np.ndarray:
    """<w_k, x_{i+1}> of Iterative Newton (alpha of the released code) after k = 0..steps on
    each prefix of i = 1..t-1 examples: shape (steps + 1, B, t - 1)."""
    grams, moments, queries = _prefixes(xs, ys)
    estimates = iterative_newton(grams, moments, steps=steps).estimates
    return _per_prompt(np.einsum("ktd,td->kt", estimates, queries), xs.shape[0])


def gd_predictions(xs, ys, times) -> np.ndarray:
    """<w_s, x_{i+1}> of GD from w = 0 with the step 1 / lambda_max(S) of each problem after s in
    ``times`` steps on each prefix: shape (len(times), B, t - 1).

    The step 1/L (L = lambda_max, the smoothness constant) shrinks the error monotonically in
    every eigendirection; the minimax step 2 / (lambda_min + lambda_max) would flip the sign
    of the top direction's error at every step, which the cosine of the similarity of errors
    would read as an alternation between good and bad matches."""
    grams, moments, queries = _prefixes(xs, ys)
    step = 1 / np.linalg.eigvalsh(grams)[:, -1]
    # The recorded "error" is the prediction itself: least_squares_gd evaluates it at the steps.
    run = least_squares_gd(grams, moments, iterations=int(np.max(times)), step=step, record_at=times,
                           error=lambda w: np.einsum("...td,td->...t", w, queries))
    return _per_prompt(run.recorded_errors, xs.shape[0])


def similarity_of_errors(predictions_a, predictions_b, targets) -> np.ndarray:
    """Fu et al.'s similarity of errors: the cosine between the error vectors
    (prediction - y over the positions) of two predictors, averaged over the prompts.
    ``predictions_*`` (..., B, P), ``targets`` (B, P); result shape: broadcast leading axes."""
    a, b = predictions_a - targets, predictions_b - targets
    cosine = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return cosine.mean(-1)


def matched_steps(similarity, steps) -> np.ndarray:
    """The step maximising the similarity, for every layer: similarity (..., layers, K)."""
    return np.asarray(steps)[np.argmax(similarity, axis=-1)]


def relative_errors(predictions, targets) -> np.ndarray:
    """mean over prompts of (prediction - y)^2 / mean y^2, per position: (..., B, P) -> (..., P)
    with the normalisation taken over the same prompts (the last two axes of ``targets``)."""
    return ((predictions - targets) ** 2).mean(-2) / (targets**2).mean(axis=(-2, -1))[..., None]


# -- the run --------------------------------------------------------------------------------------
@dataclass
class Result:
    config: Config
    #: training loss of every step
    history: np.ndarray
    #: similarity of errors, per batch, layer (0 = read-in .. layers) and step: (batches, L+1, K)
    newton_similarity: np.ndarray
    gd_similarity: np.ndarray
    gd_times: np.ndarray
    #: relative error per position (1..t-1 examples) on isotropic prompts, per batch
    model_errors: np.ndarray
    #: the same on the ill-conditioned prompts, for the model and every Newton / GD step
    conditioned_model_errors: np.ndarray
    conditioned_newton_errors: np.ndarray
    conditioned_gd_errors: np.ndarray
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def layers(self) -> np.ndarray:
        return np.arange(1, self.config.layers + 1)

    @property
    def newton_steps(self) -> np.ndarray:
        """Matched Newton step of every layer 1..L, per batch: (batches, L)."""
        return matched_steps(self.newton_similarity, np.arange(self.config.newton_steps + 1))[:, 1:]

    @property
    def gd_steps(self) -> np.ndarray:
        return matched_steps(self.gd_similarity, self.gd_times)[:, 1:]

    def line_fits(self) -> tuple[np.ndarray, np.ndarray]:
        """Slope and R^2 of the least-squares line of the matched Newton step against the
        layer, per batch."""
        x = self.layers.astype(float)
        slopes, r2 = [], []
        for k in self.newton_steps.astype(float):
            slope, intercept = np.polyfit(x, k, 1)
            residual = k - (slope * x + intercept)
            total = ((k - k.mean()) ** 2).sum()
            slopes.append(slope)
            r2.append(1 - (residual**2).sum() / total if total > 0 else 0.0)
        return np.asarray(slopes), np.asarray(r2)

    def step_ratio(self) -> np.ndarray:
        """Matched GD steps over matched Newton steps at the last layer, per batch."""
        return self.gd_steps[:, -1] / np.maximum(self.newton_steps[:, -1], 1)

    def conditioned_distances(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean over positions of |log10 error of the model - log10 error of the algorithm| on
        the ill-conditioned prompts, for Newton and for GD at the steps matched to the last
        layer on isotropic prompts, per batch."""
        batches = np.arange(self.config.batches)
        newton = self.conditioned_newton_errors[batches, self.newton_steps[:, -1]]
        gd_index = np.searchsorted(self.gd_times, self.gd_steps[:, -1])
        gd = self.conditioned_gd_errors[batches, gd_index]
        model = np.log10(self.conditioned_model_errors)
        return (np.abs(model - np.log10(newton)).mean(-1), np.abs(model - np.log10(gd)).mean(-1))


def _batched(rows, size):
    return [slice(start, start + size) for start in range(0, rows, size)]


def _evaluation_prompts(config: Config, conditioned: bool):
    """The batches of evaluation prompts, concatenated: (batches * batch_prompts, t, d)."""
    draws = []
    for batch in range(config.batches):
        rng = np.random.default_rng([config.eval_seed, 1 + conditioned, batch])
        if conditioned:
            draws.append(conditioned_prompts(rng, config.batch_prompts, config.examples, config.dim,
                                             config.kappa))
        else:
            draws.append(isotropic_prompts(rng, config.batch_prompts, config.examples, config.dim)[:2])
    return tuple(np.concatenate(parts) for parts in zip(*draws))


def measure(model, config: Config, history: np.ndarray, seconds: float = 0.0) -> Result:
    """Probe a trained model and match its layers to Newton and GD steps (module docstring)."""
    rng = np.random.default_rng([config.eval_seed, 0])
    xs, ys, _ = isotropic_prompts(rng, config.probe_prompts, config.examples, config.dim)
    probes = [fit_probe(np.asarray(h, dtype=np.float64), ys, config.ridge)
              for h in model.hidden_states(xs, ys)]
    times = config.gd_times()
    split = lambda a: a.reshape(*a.shape[:-2], config.batches, config.batch_prompts, a.shape[-1])  # noqa: E731

    xs, ys = _evaluation_prompts(config, conditioned=False)
    targets = split(ys[:, 1:])
    layers = split(np.stack([probe.predict(h)[:, 1:] for probe, h in
                             zip(probes, model.hidden_states(xs, ys))]))  # (L+1, batches, B, P)
    newton = split(newton_predictions(xs, ys, config.newton_steps))  # (K, batches, B, P)
    gd = split(gd_predictions(xs, ys, times))
    # (L+1, K, batches) -> (batches, L+1, K)
    newton_similarity = np.moveaxis(similarity_of_errors(layers[:, None], newton[None], targets), -1, 0)
    gd_similarity = np.moveaxis(similarity_of_errors(layers[:, None], gd[None], targets), -1, 0)
    model_errors = relative_errors(split(_model_predictions(model, xs, ys)), targets)

    xs, ys = _evaluation_prompts(config, conditioned=True)
    targets = split(ys[:, 1:])
    conditioned = [np.moveaxis(relative_errors(split(p), targets), -2, 0) for p in (  # (batches, K, P)
        newton_predictions(xs, ys, config.newton_steps), gd_predictions(xs, ys, times))]
    conditioned_model = relative_errors(split(_model_predictions(model, xs, ys)), targets)
    return Result(config, np.asarray(history), newton_similarity, gd_similarity, times, model_errors,
                  conditioned_model, *conditioned, seconds=seconds)


def _model_predictions(model, xs, ys) -> np.ndarray:
    return np.asarray(model.forward(xs, ys), dtype=np.float64)[:, 1:]


def train(config: Config, progress: bool = False, steps: int | None = None):
    """The model of ``config`` trained for ``steps`` (default config.steps): (model, history)."""
    model = config.model()
    history = fit_in_context(model, dim=config.dim, examples=config.examples,
                             steps=config.steps if steps is None else steps,
                             batch_size=config.batch_size, rule=config.rule(), seed=config.seed,
                             progress=progress)
    return model, history


def run(config: Config = Config(), progress: bool = False) -> Result:
    start = time.perf_counter()
    with single_blas_thread():
        model, history = train(config, progress)
        seconds = time.perf_counter() - start
        return measure(model, config, history, seconds)


# -- summary and the stored paper-scale record ----------------------------------------------------
def summary(result: Result) -> dict:
    """The quantities the chapter checks, per evaluation batch, as plain lists."""
    slopes, r2 = result.line_fits()
    newton, gd = result.conditioned_distances()
    return {
        "matched_newton_steps": result.newton_steps.tolist(),
        "matched_gd_steps": result.gd_steps.tolist(),
        "newton_slope": slopes.round(6).tolist(),
        "newton_r2": r2.round(6).tolist(),
        "gd_to_newton_ratio_last_layer": result.step_ratio().round(6).tolist(),
        "conditioned_distance_newton": newton.round(6).tolist(),
        "conditioned_distance_gd": gd.round(6).tolist(),
        "model_error_last_position": result.model_errors[:, -1].round(6).tolist(),
    }


#: the training loss is stored as means over windows of this many steps
RECORD_WINDOW = 100
_ARRAYS = ("newton_similarity", "gd_similarity", "gd_times", "model_errors",
           "conditioned_model_errors", "conditioned_newton_errors", "conditioned_gd_errors")


def record_of(result: Result) -> dict:
    """A run as a plain, storable record: its settings, its loss (window means), every array
    the chapter plots and checks, the summary, and where, when and how long it ran."""
    return {
        "config": asdict(result.config),
        "history": {"window": RECORD_WINDOW, "loss": window_means(result.history, RECORD_WINDOW).round(6).tolist()},
        "measurements": {name: np.asarray(getattr(result, name)).round(8).tolist() for name in _ARRAYS},
        "summary": summary(result),
        "machine": machine.description(),
        "seconds": round(result.seconds, 1),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
    }


def result_from(stored: dict) -> Result:
    """A stored record as a :class:`Result` (its history the window means of the loss)."""
    arrays = {name: np.asarray(stored["measurements"][name]) for name in _ARRAYS}
    return Result(Config(**stored["config"]), np.asarray(stored["history"]["loss"]), seconds=stored["seconds"],
                  extra={"window": stored["history"]["window"]}, **arrays)


def paper_record(progress: bool = False) -> dict:
    """Train and measure at SCALES["paper"] and return its record (:func:`record_of`)."""
    return record_of(run(SCALES["paper"], progress=progress))


def replay(stored: dict, steps: int, progress: bool = False) -> np.ndarray:
    """The loss window means of the first ``steps`` steps (a multiple of the record's window)
    of a stored record's run, trained again: the prompts of a step and Adam's step size do not
    depend on the budget, so this is the stored run's prefix."""
    window = stored["history"]["window"]
    if steps % window:
        raise ValueError(f"steps must be a multiple of the record's window {window}, got {steps}")
    with single_blas_thread():
        _, history = train(Config(**stored["config"]), progress, steps=steps)
    return window_means(history, window)


# -- figures --------------------------------------------------------------------------------------
def least_squares_errors(config: Config) -> np.ndarray:
    """The relative error of least squares (the minimum-norm solution) with i = 1..t-1
    isotropic examples: (d - i)_+ / d, the share of w* outside the span of the examples."""
    i = np.arange(1, config.examples)
    return np.maximum(config.dim - i, 0) / config.dim


def plot_training(result: Result, ax=None):
    """The training loss (window means) and the least-squares value of that loss."""
    config = result.config
    window = result.extra.get("window", RECORD_WINDOW)
    if ax is None:
        fig, (ax,) = plotting.figure()
    else:
        fig = ax.figure
    loss = window_means(result.history, window) if "window" not in result.extra else result.history
    steps = window * (np.arange(loss.size) + 1)
    ax.plot(steps, loss, label=f"training loss (mean over {window} steps)")
    best = np.maximum(config.dim - np.arange(config.examples), 0).mean()
    plotting.theory(ax, steps[[0, -1]], [best, best], label="least squares")
    plotting.axes_labels(ax, xlabel="training step", ylabel="mean squared error",
                         title=f"d = {config.dim}, t = {config.examples}, {config.layers} layers")
    ax.legend()
    return fig


def plot_matching(result: Result):
    """Matched Newton and GD steps against the layer, over the evaluation batches."""
    fig, (left, right) = plotting.figure(2)
    layers = result.layers
    plotting.mean_band(left, layers, result.newton_steps, label="Iterative Newton", positive=False)
    slope, intercept = np.polyfit(layers, result.newton_steps.mean(0), 1)
    plotting.theory(left, layers, slope * layers + intercept, label=f"line, slope {slope:.2g}")
    plotting.axes_labels(left, xlabel="layer", ylabel="matched Newton step", title="Newton")
    left.legend()
    plotting.mean_band(right, layers, np.maximum(result.gd_steps, 0.5), label="gradient descent")
    plotting.axes_labels(right, xlabel="layer", ylabel="matched GD step (0 shown as 0.5)",
                         title="GD", logy=True)
    right.legend()
    for ax in (left, right):
        ax.set_xticks(layers)
    return fig


def plot_similarity(result: Result):
    """The similarity of errors of every layer with every Newton and GD step (batch mean)."""
    fig, (left, right) = plotting.figure(2)
    for ax, sim, steps, name in ((left, result.newton_similarity, np.arange(result.config.newton_steps + 1),
                                  "Newton step"),
                                 (right, result.gd_similarity, result.gd_times, "GD step")):
        image = ax.imshow(sim.mean(0), aspect="auto", origin="lower", vmin=0, vmax=1, cmap="viridis")
        ticks = np.linspace(0, steps.size - 1, min(6, steps.size)).round().astype(int)
        ax.set_xticks(ticks, [str(steps[t]) for t in ticks])
        plotting.axes_labels(ax, xlabel=name, ylabel="layer (0 = read-in)")
    fig.colorbar(image, ax=[left, right], label="similarity of errors")
    return fig


def plot_errors(result: Result):
    """The model's error against the number of examples, on isotropic prompts (with least
    squares) and on the ill-conditioned ones (with Newton and GD at the matched steps)."""
    fig, (left, right) = plotting.figure(2)
    config, i = result.config, np.arange(1, result.config.examples)
    plotting.mean_band(left, i, result.model_errors, label="trained transformer")
    plotting.theory(left, i, np.maximum(least_squares_errors(config), 1e-3), label="least squares (0 shown as 1e-3)")
    plotting.axes_labels(left, xlabel="in-context examples", ylabel="relative squared error",
                         title="isotropic prompts", logy=True)
    left.legend()
    batches = np.arange(config.batches)
    newton = result.conditioned_newton_errors[batches, result.newton_steps[:, -1]]
    gd = result.conditioned_gd_errors[batches, np.searchsorted(result.gd_times, result.gd_steps[:, -1])]
    plotting.mean_band(right, i, result.conditioned_model_errors, label="trained transformer")
    plotting.mean_band(right, i, newton, label="Newton, matched step")
    plotting.mean_band(right, i, gd, label="GD, matched step")
    plotting.axes_labels(right, xlabel="in-context examples", ylabel="relative squared error",
                         title=f"κ = {config.kappa:g}", logy=True)
    right.legend()
    return fig


def figures(result: Result) -> dict:
    return {"training": plot_training(result), "matching": plot_matching(result),
            "similarity": plot_similarity(result), "errors": plot_errors(result)}
