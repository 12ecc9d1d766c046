"""Chapter "Initialisation, vanishing and exploding gradients" (book/phenomena/initialisation.md).

The lecture's statement: backpropagation multiplies a chain of matrices, so when they are
"small" the gradient decreases exponentially fast towards the input, and when they are large it
explodes; a proper initialisation (Sutskever et al. 2013; He et al. 2015) avoids both, and equal
initial weights must be avoided because nothing breaks the symmetry between the units.

This module measures it on deep multilayer perceptrons of equal hidden widths
(:class:`memopt.nets.MLPClassifier`) on a batch of UCI digits, at initialisation:

* the norm of the backpropagated gradient dL/dh_i at the output h_i of every hidden layer (the
  product of matrices the lecture speaks of), by a plain transcription of backpropagation
  (:func:`backprop`) that also returns the weight gradients, checked against the network's own;
* the norm of the weight gradients dL/dW_i of every layer;

for ReLU and tanh networks at four scales of the initial weights, and compares the fitted
per-layer factor of dL/dh_i with the mean-field prediction (:func:`predicted_factors`):
going one layer towards the input multiplies E||dL/dh||^2 by chi_i = w sigma_w^2 E[phi'(z_i)^2],
z_i ~ N(0, q_i), with q_i the pre-activations' variance from the forward recursion
q_{i+1} = w sigma_w^2 E[phi(sqrt(q_i) z)^2]. For ReLU E[phi'^2] = 1/2, so with He's variance
gain^2 2 / w the norm is multiplied by |gain| per layer exactly in expectation.

It then trains each initialisation for a few hundred steps of momentum SGD (float64), and trains
an all-equal initialisation to check that every unit of a layer stays identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate
from tqdm import tqdm

from memopt import plotting
from memopt.backend import single_blas_thread
from memopt.nets import MLPClassifier
from memopt.nets.training import Dataset, train
from memopt.optim.adaptive import Momentum
from memopt.problems.digits import digits_split

NAME = "initialisation"
DESCRIPTION = "Per-layer gradient norms of deep MLPs at four initial scales, training, equal-init symmetry"

ACTIVATIONS = ("relu", "tanh")

#: Differences between units below this (relative) are rounding, reported as this value: a
#: one-ulp change of the equal initial weights leaves differences of order 1e-16, not 0.
SYMMETRY_RESOLUTION = 1e-14


@dataclass(frozen=True)
class Scale:
    """One initialisation: ``MLPClassifier(init=init, init_gain=gain)``."""

    label: str
    init: str
    gain: float


#: The four scales of each activation: too small, Xavier, He, too large (the natural
#: initialisation of the activation times 0.5 and 2).
INITIALISATIONS = {
    "relu": (Scale("He × 0.5 (too small)", "he", 0.5), Scale("Xavier", "xavier", 1.0),
             Scale("He", "he", 1.0), Scale("He × 2 (too large)", "he", 2.0)),
    "tanh": (Scale("Xavier × 0.5 (too small)", "xavier", 0.5), Scale("Xavier", "xavier", 1.0),
             Scale("He", "he", 1.0), Scale("Xavier × 2 (too large)", "xavier", 2.0)),
}


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    #: Gradients at initialisation: hidden layers, their width, the digits batch, seeds.
    depth: int = 30
    width: int = 128
    batch: int = 256
    seeds: int = 8
    #: Layers left out at each end of the fit of the per-layer factor (the input layer's fan-in
    #: differs and the forward variance settles over the first few layers).
    skip: int = 3
    #: Training: a shallower, narrower network, momentum SGD in float64.
    train_depth: int = 20
    train_width: int = 64
    train_steps: int = 300
    train_seeds: int = 2
    lr: float = 0.01
    beta: float = 0.9
    batch_size: int = 64
    n_train: int = 1000
    n_validation: int = 300
    eval_every: int = 20
    #: Equal initialisation: a small tanh network trained with the same optimiser.
    equal_hidden: tuple[int, ...] = (32, 32, 32)
    equal_steps: int = 300
    data_seed: int = 0

    def __post_init__(self):
        for name in ("depth", "width", "batch", "train_depth", "train_width", "train_steps",
                     "batch_size", "n_train", "n_validation", "eval_every", "equal_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.seeds < 2 or self.train_seeds < 1:
            raise ValueError(f"need seeds >= 2 (an interval) and train_seeds >= 1, got {self.seeds}, "
                             f"{self.train_seeds}")
        if self.skip < 0 or self.depth - 2 * self.skip < 3:
            raise ValueError(f"the fit needs at least 3 layers: depth {self.depth} with skip {self.skip}")
        if not (self.lr > 0 and 0 <= self.beta < 1):
            raise ValueError(f"need lr > 0 and 0 <= beta < 1, got {self.lr}, {self.beta}")
        if not self.equal_hidden or len(set(self.equal_hidden)) != 1:
            raise ValueError(f"equal_hidden must be equal widths, got {self.equal_hidden}")
        if self.n_train + self.n_validation > 1797 or self.batch > self.n_train:
            raise ValueError("the digits hold 1797 images: n_train + n_validation too large, or batch > n_train")

    @property
    def fitted_layers(self) -> np.ndarray:
        """Hidden layers (1-based) whose gradient norms enter the fit of the per-layer factor."""
        return np.arange(1 + self.skip, self.depth - self.skip + 1)


SCALES = {
    "book": Config(),
    "paper": Config(depth=50, width=256, batch=512, seeds=16, train_depth=30, train_width=128,
                    train_steps=1000, train_seeds=4, equal_steps=1000),
}


# -- backpropagation, transcribed ---------------------------------------------------------------
def _act(name: str, z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0) if name == "relu" else np.tanh(z)


def _act_derivative(name: str, z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(z.dtype) if name == "relu" else 1.0 - np.tanh(z) ** 2


def backprop(network: MLPClassifier, x: np.ndarray, labels: np.ndarray):
    """Mean cross-entropy of ``network`` on (x, labels) by plain backpropagation:
    returns (||dL/dh_i|| for hidden layers i = 1..D, ||dL/dW_i|| for layers i = 1..D+1, the
    weight gradients as a list). Independent of the network's layer objects: it reads only
    ``layer{i}.weight``/``layer{i}.bias``."""
    p, layers = network.params, len(network.hidden) + 1
    weights = [np.asarray(p[f"layer{i}.weight"], dtype=np.float64) for i in range(layers)]
    biases = [np.asarray(p[f"layer{i}.bias"], dtype=np.float64) for i in range(layers)]
    h, inputs, pre = np.asarray(x, dtype=np.float64), [], []
    for w, b in zip(weights[:-1], biases[:-1]):
        inputs.append(h)
        pre.append(h @ w + b)
        h = _act(network.activation, pre[-1])
    inputs.append(h)
    logits = h @ weights[-1] + biases[-1]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    dz = e / e.sum(axis=1, keepdims=True)
    dz[np.arange(labels.size), labels] -= 1.0
    dz /= labels.size
    grads, signal = [None] * layers, np.zeros(layers - 1)
    for i in reversed(range(layers)):
        grads[i] = inputs[i].T @ dz
        if i == 0:
            break
        dh = dz @ weights[i].T  # dL/dh_i, the output of hidden layer i (1-based)
        signal[i - 1] = np.linalg.norm(dh)
        dz = dh * _act_derivative(network.activation, pre[i - 1])
    return signal, np.array([np.linalg.norm(g) for g in grads]), grads


# -- the mean-field prediction ------------------------------------------------------------------
def gaussian_mean(f, q: float) -> float:
    """E[f(sqrt(q) z)] for z ~ N(0, 1), by adaptive quadrature (SciPy's QUADPACK; ReLU's kink at
    0 is a break point). Gauss-Hermite rules converge slowly here: tanh'^2 has poles near the
    real axis when q is large."""
    density = 1.0 / math.sqrt(2 * math.pi)
    value, _ = integrate.quad(lambda z: float(f(math.sqrt(q) * z)) * density * math.exp(-z * z / 2),
                              -40.0, 40.0, points=[0.0], epsabs=1e-14, epsrel=1e-12, limit=200)
    return float(value)


def weight_variance(init: str, gain: float, fan_in: int, fan_out: int) -> float:
    """Variance of one initial weight of MLPClassifier's initialisations."""
    if init == "he":
        return gain ** 2 * 2.0 / fan_in
    if init == "xavier":
        return gain ** 2 * 2.0 / (fan_in + fan_out)  # uniform on ±sqrt(3 variance)
    if init == "pytorch":
        return gain ** 2 / (3.0 * fan_in)
    raise ValueError(f"no variance for init {init!r} (he, xavier, pytorch)")


def predicted_factors(activation: str, init: str, gain: float, features: int, width: int, depth: int,
                      input_second_moment: float) -> np.ndarray:
    """Mean-field factor by which ||dL/dh|| is multiplied going from hidden layer i to i - 1,
    for i = 2..depth: sqrt(chi_i), chi_i = width sigma^2 E[phi'(z_i)^2], z_i ~ N(0, q_i), with
    q_1 = sigma_1^2 E||x||^2 and q_{i+1} = width sigma^2 E[phi(sqrt(q_i) z)^2] (biases 0)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    sigma2 = weight_variance(init, gain, width, width)
    q = weight_variance(init, gain, features, width) * input_second_moment
    phi = (lambda z: np.maximum(z, 0.0)) if activation == "relu" else np.tanh
    dphi = (lambda z: float(z > 0)) if activation == "relu" else (lambda z: 1 - np.tanh(z) ** 2)
    factors = np.zeros(depth - 1)
    for i in range(2, depth + 1):
        q = width * sigma2 * gaussian_mean(lambda z: phi(z) ** 2, q)  # pre-activation of layer i
        factors[i - 2] = math.sqrt(width * sigma2 * gaussian_mean(lambda z: dphi(z) ** 2, q))
    return factors


def fitted_factor(norms: np.ndarray, layers: np.ndarray) -> float:
    """exp(-slope) of the least-squares line through log(norms[layers - 1]) against the layer:
    the geometric per-layer factor going one layer towards the input."""
    slope = np.polyfit(layers.astype(float), np.log(norms[layers - 1]), 1)[0]
    return float(math.exp(-slope))


# -- results ------------------------------------------------------------------------------------
@dataclass
class Result:
    config: Config
    #: (activation, scale index) -> arrays (seeds, depth) of ||dL/dh_i|| and (seeds, depth + 1)
    #: of ||dL/dW_i||.
    signal: dict = field(default_factory=dict)
    weight_grad: dict = field(default_factory=dict)
    #: (activation, scale index) -> predicted per-layer factors (depth - 1,) of ||dL/dh||.
    predicted: dict = field(default_factory=dict)
    #: Largest |transcribed - network| weight gradient relative to the largest entry, over all.
    transcription_error: float = 0.0
    #: (activation, scale index) -> list of Histories (one per training seed) and the whole
    #: gradient's norm at step 0 for each seed.
    histories: dict = field(default_factory=dict)
    initial_gradient: dict = field(default_factory=dict)
    #: Equal initialisation: largest difference between two units of a hidden layer (incoming
    #: weights and bias, outgoing weights) relative to the largest such parameter, after training
    #: (at least :data:`SYMMETRY_RESOLUTION`);
    #: the same for a random (Xavier) initialisation; and both training histories.
    equal_spread: float = 0.0
    random_spread: float = 0.0
    equal_history: object = None
    random_history: object = None

    def factors(self, activation: str, index: int, what: str = "signal") -> np.ndarray:
        """Fitted per-layer factor of each seed (of ||dL/dh_i|| or of ||dL/dW_i||)."""
        norms = (self.signal if what == "signal" else self.weight_grad)[activation, index]
        return np.array([fitted_factor(row, self.config.fitted_layers) for row in norms])

    def prediction(self, activation: str, index: int) -> float:
        """Geometric mean of the predicted factors over the fitted layers."""
        factors = self.predicted[activation, index]
        steps = self.config.fitted_layers[1:]  # factor from layer i to i - 1, i = 2..depth
        return float(np.exp(np.log(factors[steps - 2]).mean()))

    def spread(self, activation: str, index: int, what: str = "signal") -> np.ndarray:
        """Per seed, the largest over the smallest norm: of ||dL/dh_i|| over all hidden layers,
        or of ||dL/dW_i|| over the hidden-to-hidden layers 2..depth."""
        if what == "signal":
            norms = self.signal[activation, index]
        else:
            norms = self.weight_grad[activation, index][:, 1:-1]
        return norms.max(axis=1) / norms.min(axis=1)


def _spread(network: MLPClassifier) -> float:
    """Largest difference between two units of a hidden layer: their incoming weights and bias,
    and their outgoing weights, relative to the largest absolute such parameter."""
    p, layers = network.params, len(network.hidden) + 1
    worst, scale = 0.0, 0.0
    for i in range(layers - 1):
        incoming = np.vstack([p[f"layer{i}.weight"], p[f"layer{i}.bias"][None, :]])  # columns: units
        outgoing = np.asarray(p[f"layer{i + 1}.weight"]).T  # columns: units
        for block in (incoming, outgoing):
            worst = max(worst, float(np.abs(block - block[:, :1]).max()))
            scale = max(scale, float(np.abs(block).max()))
    return max(worst / scale, SYMMETRY_RESOLUTION)


def run(config: Config = Config(), progress: bool = False) -> Result:
    with single_blas_thread():  # small products: extra BLAS threads cost more than they save
        return _run(config, progress)


def _run(config: Config, progress: bool) -> Result:
    result = Result(config)
    data = digits_split(config.n_train, n_validation=config.n_validation, seed=config.data_seed)
    x, labels = data.x_train[:config.batch].astype(np.float64), data.labels_train[:config.batch]
    second_moment = float((x ** 2).sum(axis=1).mean())
    features, hidden = x.shape[1], (config.width,) * config.depth
    jobs = [(a, k) for a in ACTIVATIONS for k in range(len(INITIALISATIONS[a]))]
    for activation, k in tqdm(jobs, desc="gradients at initialisation", disable=not progress):
        scale = INITIALISATIONS[activation][k]
        signal, weight = [], []
        for seed in range(config.seeds):
            net = MLPClassifier(features, 10, hidden, activation=activation, init=scale.init,
                                init_gain=scale.gain, seed=seed, dtype=np.float64)
            s, w, grads = backprop(net, x, labels)
            net.loss_and_gradient(x, labels)
            for i, g in enumerate(grads):
                reference = np.asarray(net.params.gradient(f"layer{i}.weight"))
                error = np.abs(g - reference).max() / np.abs(reference).max()
                result.transcription_error = max(result.transcription_error, float(error))
            signal.append(s)
            weight.append(w)
        result.signal[activation, k], result.weight_grad[activation, k] = np.array(signal), np.array(weight)
        result.predicted[activation, k] = predicted_factors(activation, scale.init, scale.gain, features,
                                                            config.width, config.depth, second_moment)

    dataset = Dataset(data.x_train, data.labels_train, data.x_validation, data.labels_validation)
    eval_steps = range(0, config.train_steps + 1, config.eval_every)
    hidden = (config.train_width,) * config.train_depth
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for activation, k in tqdm(jobs, desc="training", disable=not progress):
            scale = INITIALISATIONS[activation][k]
            histories, norms = [], []
            for seed in range(config.train_seeds):
                net = MLPClassifier(features, 10, hidden, activation=activation, init=scale.init,
                                    init_gain=scale.gain, seed=seed, dtype=np.float64)
                net.loss_and_gradient(data.x_train, data.labels_train)
                norms.append(float(np.linalg.norm(net.params.grad)))
                histories.append(train(net, Momentum(config.lr, config.beta), dataset,
                                       steps=config.train_steps, batch_size=config.batch_size,
                                       seed=seed, eval_steps=eval_steps))
            result.histories[activation, k], result.initial_gradient[activation, k] = histories, norms

    for init, attribute in (("equal", "equal"), ("xavier", "random")):
        net = MLPClassifier(features, 10, config.equal_hidden, activation="tanh", init=init,
                            seed=0, dtype=np.float64)
        history = train(net, Momentum(config.lr, config.beta), dataset, steps=config.equal_steps,
                        batch_size=config.batch_size, seed=0, eval_steps=(0, config.equal_steps))
        setattr(result, f"{attribute}_spread", _spread(net))
        setattr(result, f"{attribute}_history", history)
    return result


# -- figures ------------------------------------------------------------------------------------
def plot_gradients(result: Result, what: str = "signal"):
    """Per-layer gradient norms (mean and band over seeds) against the layer, log scale, one
    panel per activation, with the mean-field prediction dashed (for ||dL/dh_i||)."""
    config = result.config
    fig, axes = plotting.figure(ncols=2, panel=(5.2, 4.0))
    colours = plotting.palette(4)
    for ax, activation in zip(axes, ACTIVATIONS):
        for k, scale in enumerate(INITIALISATIONS[activation]):
            if what == "signal":
                runs, layers = result.signal[activation, k], np.arange(1, config.depth + 1)
            else:
                runs, layers = result.weight_grad[activation, k], np.arange(1, config.depth + 2)
            plotting.mean_band(ax, layers, runs, label=scale.label, color=colours[k])
            if what == "signal":
                # Anchored at the last hidden layer's mean norm, then the predicted factors.
                cumulative = np.concatenate([np.cumprod(result.predicted[activation, k][::-1])[::-1], [1.0]])
                plotting.theory(ax, layers, runs[:, -1].mean() * cumulative,
                                label="mean field" if k == 0 else None, color="grey")
        ylabel = "‖dL/dh_i‖ (output of hidden layer i)" if what == "signal" else "‖dL/dW_i‖ (Frobenius)"
        plotting.axes_labels(ax, xlabel="layer i (1 = next to the input)", ylabel=ylabel,
                             title=f"{activation}, {config.depth} hidden layers of {config.width}", logy=True)
        ax.legend(fontsize="x-small")
    return fig


def plot_training(result: Result):
    """Training loss against step for each initialisation (mean over training seeds)."""
    fig, axes = plotting.figure(ncols=2, panel=(5.2, 4.0))
    colours = plotting.palette(4)
    for ax, activation in zip(axes, ACTIVATIONS):
        for k, scale in enumerate(INITIALISATIONS[activation]):
            histories = result.histories[activation, k]
            losses = np.array([h.array("train_loss") for h in histories])
            # A diverged run's loss is not finite from some step on: its line ends there.
            losses = np.where(np.isfinite(losses).all(axis=0), losses.mean(axis=0), np.nan)
            ax.plot(histories[0].array("steps"), losses, label=scale.label, color=colours[k], lw=1.6,
                    marker="o", markersize=2.5)
        ax.axhline(math.log(10), color="grey", ls=":", lw=1, label="log 10 (uniform guess)")
        plotting.axes_labels(ax, xlabel="step", ylabel="training loss (cross-entropy)",
                             title=f"{activation}, {result.config.train_depth} hidden layers of "
                                   f"{result.config.train_width}", logy=True)
        ax.legend(fontsize="x-small")
    return fig


def figures(result: Result) -> dict:
    return {"signal": plot_gradients(result, "signal"), "weights": plot_gradients(result, "weights"),
            "training": plot_training(result)}


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run initialisation``)."""
    out = {"transcription_error": result.transcription_error, "equal_spread": result.equal_spread,
           "random_spread": result.random_spread, "scales": {}}
    for activation in ACTIVATIONS:
        for k, scale in enumerate(INITIALISATIONS[activation]):
            finals = [h.final("train_loss") for h in result.histories[activation, k]]
            out["scales"][f"{activation}/{scale.label}"] = {
                "init": scale.init, "gain": scale.gain,
                "signal_factor": result.factors(activation, k).tolist(),
                "predicted_factor": result.prediction(activation, k),
                "weight_gradient_factor": result.factors(activation, k, "weights").tolist(),
                "signal_spread": result.spread(activation, k).tolist(),
                "mean_signal": result.signal[activation, k].mean(axis=0).tolist(),
                "mean_weight_gradient": result.weight_grad[activation, k].mean(axis=0).tolist(),
                "initial_gradient_norm": result.initial_gradient[activation, k],
                "final_train_loss": [float(v) for v in finals],
            }
    return out
