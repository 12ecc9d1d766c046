"""Training a network with an adaptive method, with checkpoints that resume bit for bit.

:func:`train` runs ``steps`` updates on mini-batches (or the full batch) and records the loss
and accuracy on the training and validation sets and the parameter norm at the steps
``eval_steps``. Mini-batches come from a fresh permutation of the training rows per epoch,
drawn by ``default_rng([seed, epoch])``: the batch of any step is a function of (seed, step)
alone, so a resumed run draws exactly the batches the uninterrupted run would have drawn.

With :class:`Checkpoints` the run saves its state (step, parameters, the optimiser's memory,
the history so far) every ``every`` steps and at the end, alternating between two cache
entries. The cache verifies each entry's digest when reading it: a corrupt entry is reported,
deleted and skipped, and the run resumes from the other, older one (or from the start). A
finished run is stored too, so asking for it again returns at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from memopt._checks import integer
from memopt.backend import to_numpy
from memopt.cache import ResultCache
from memopt.nets.models import Network
from memopt.optim.adaptive import AdaptiveMethod

SLOTS = ("checkpoint", "checkpoint_spare")


@dataclass
class History:
    """Measurements at the logged steps (lists while training, arrays through ``array``)."""

    steps: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    validation_loss: list = field(default_factory=list)
    validation_accuracy: list = field(default_factory=list)
    parameter_norm: list = field(default_factory=list)

    FIELDS = ("steps", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy",
              "parameter_norm")

    def array(self, name: str) -> np.ndarray:
        if name not in self.FIELDS:
            raise KeyError(f"unknown measurement {name!r}; known: {', '.join(self.FIELDS)}")
        return np.asarray(getattr(self, name), dtype=np.int64 if name == "steps" else np.float64)

    def first_step(self, name: str, threshold: float) -> float:
        """The first logged step at which ``name`` is >= ``threshold`` (inf if never)."""
        values = self.array(name)
        hits = np.flatnonzero(values >= threshold)
        return float(self.array("steps")[hits[0]]) if hits.size else float("inf")

    def at_step(self, name: str, step: float) -> float:
        """``name`` at the logged step ``step`` (nan if it was not logged)."""
        where = np.flatnonzero(self.array("steps") == step)
        return float(self.array(name)[where[0]]) if where.size else float("nan")

    def final(self, name: str) -> float:
        return float(self.array(name)[-1])


@dataclass(frozen=True)
class Dataset:
    """Inputs and integer labels of the training and validation rows (host arrays): token ids
    for the grokking networks, real-valued rows for :class:`~memopt.nets.MLPClassifier`."""

    train_inputs: np.ndarray
    train_labels: np.ndarray
    validation_inputs: np.ndarray
    validation_labels: np.ndarray

    def __post_init__(self):
        for part in ("train", "validation"):
            inputs, labels = getattr(self, f"{part}_inputs"), getattr(self, f"{part}_labels")
            if inputs.shape[0] != labels.shape[0] or inputs.shape[0] == 0:
                raise ValueError(f"{part} inputs and labels need the same non-zero number of rows, "
                                 f"got {inputs.shape[0]} and {labels.shape[0]}")

    @property
    def n_train(self) -> int:
        return int(self.train_labels.shape[0])


class BatchOrder:
    """Rows of the mini-batch of each step: epoch e is ``default_rng([seed, e])``'s
    permutation of the training rows, cut into n_train // batch_size batches (the leftover
    rows of an epoch are skipped). A batch as large as the training set is the full batch."""

    def __init__(self, n_train: int, batch_size: int, seed: int):
        self.n_train, self.batch_size, self.seed = n_train, batch_size, seed
        self.full = batch_size >= n_train
        self.per_epoch = 1 if self.full else n_train // batch_size
        self._epoch, self._perm = None, None

    def rows(self, step: int) -> np.ndarray | None:
        """Rows for step ``step`` (0-based), or None for the full batch."""
        if self.full:
            return None
        epoch, j = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_train)
        return self._perm[j * self.batch_size:(j + 1) * self.batch_size]


class Checkpoints:
    """A training run's checkpoints in a :class:`~memopt.cache.ResultCache`, under
    (``name``, ``key``), written every ``every`` steps to two alternating entries."""

    def __init__(self, cache: ResultCache, name: str, key: Any, every: int):
        if isinstance(every, bool) or not isinstance(every, Integral) or every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every!r}")
        self.cache, self.name, self.key, self.every = cache, name, key, int(every)
        self._next = 0

    def latest(self) -> dict | None:
        """The intact checkpoint with the most steps, or None (corrupt entries are dropped)."""
        found = []
        for index, slot in enumerate(SLOTS):
            state = self.cache.load(self.name, self.key, part=slot)
            if isinstance(state, dict) and "step" in state:
                found.append((state["step"], index, state))
        if not found:
            self._next = 0
            return None
        _, index, best = max(found, key=lambda item: item[0])
        self._next = 1 - index  # the next save must not overwrite the state resumed from
        return best

    def save(self, state: dict) -> None:
        self.cache.save(self.name, self.key, state, part=SLOTS[self._next])
        self._next = 1 - self._next


def _snapshot(step, network, optimizer_state, history) -> dict:
    return {
        "step": step,
        "params": to_numpy(network.params.vector).copy(),
        "optimizer_step": optimizer_state.step,
        "optimizer": {k: to_numpy(v).copy() for k, v in optimizer_state.arrays.items() if k != "scratch"},
        "history": History(*(list(getattr(history, f)) for f in History.FIELDS)),
    }


def _restore(snapshot, network, optimizer_state) -> History:
    network.params.load(snapshot["params"])
    xp = network.xp
    optimizer_state.step = snapshot["optimizer_step"]
    for name, values in snapshot["optimizer"].items():
        optimizer_state.arrays[name][...] = xp.asarray(values)
    saved = snapshot["history"]
    return History(*(list(getattr(saved, f)) for f in History.FIELDS))


def train(
    network: Network,
    optimizer: AdaptiveMethod,
    data: Dataset,
    *,
    steps: int,
    batch_size: int,
    seed: int,
    eval_steps,
    checkpoints: Checkpoints | None = None,
    progress: bool = False,
    description: str = "training",
    callback: Callable[[int], None] | None = None,
) -> History:
    """Train ``network`` in place for ``steps`` updates; returns the measurements at
    ``eval_steps`` (step 0 is before the first update). ``callback(k)`` is called after
    update k (1-based), after any checkpoint of that step was written."""
    integer("steps", steps, minimum=0)
    integer("batch_size", batch_size)
    eval_steps = {int(s) for s in eval_steps if 0 <= s <= steps}
    xp = network.xp
    train_inputs, train_labels = xp.asarray(data.train_inputs), xp.asarray(data.train_labels)
    val_inputs, val_labels = xp.asarray(data.validation_inputs), xp.asarray(data.validation_labels)
    network.as_inputs(train_inputs), network.as_inputs(val_inputs)  # checks shape and range
    state = optimizer.init(network.params.vector)
    history, start = History(), 0
    snapshot = checkpoints.latest() if checkpoints is not None else None
    if snapshot is not None:
        history, start = _restore(snapshot, network, state), snapshot["step"]
    order = BatchOrder(data.n_train, batch_size, seed)

    def measure(k):
        loss, accuracy = network.evaluate(train_inputs, train_labels)
        val_loss, val_accuracy = network.evaluate(val_inputs, val_labels)
        for name, value in zip(History.FIELDS, (k, loss, accuracy, val_loss, val_accuracy,
                                                network.params.norm())):
            getattr(history, name).append(value)

    if start == 0 and 0 in eval_steps:
        measure(0)
    bar = tqdm(total=steps, initial=start, desc=description, disable=not progress, leave=False)
    for k in range(start, steps):
        rows = order.rows(k)
        if rows is None:
            network.loss_and_gradient(train_inputs, train_labels)
        else:
            rows = xp.asarray(rows)
            network.loss_and_gradient(train_inputs[rows], train_labels[rows])
        optimizer.step(network.params.vector, network.params.grad, state)
        done = k + 1
        if done in eval_steps:
            measure(done)
        if checkpoints is not None and (done % checkpoints.every == 0 or done == steps):
            checkpoints.save(_snapshot(done, network, state, history))
        bar.update(1)
        if callback is not None:
            callback(done)
    bar.close()
    return history


def window_means(history, window: int) -> np.ndarray:
    """Means of a loss history over consecutive windows of ``window`` steps (a last partial
    window kept): how a stored record keeps a long training curve short."""
    history = np.asarray(history, dtype=np.float64)
    return np.asarray([history[i:i + window].mean() for i in range(0, history.size, window)])
