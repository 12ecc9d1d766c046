"""Running streaming least-squares methods (:mod:`memopt.optim.streaming`) side by side on one
sample stream, and what each did: its error after every sample and its memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from memopt._checks import integer, real
from memopt.backend import to_numpy
from memopt.optim.streaming import StreamingMethod


@dataclass
class StreamRun:
    """What one method did on a stream: its error after every sample and its memory."""

    name: str
    #: ||x_hat_k - x|| after k = 1, 2, ... samples, shape (trials, samples); NaN where the
    #: method had no determined estimate yet.
    errors: np.ndarray
    accuracy: float
    memory_floats: int
    memory_bits: int

    @property
    def samples_to_accuracy(self) -> np.ndarray:
        """Per trial, the first k with ||x_hat_k - x|| <= accuracy (NaN if never reached)."""
        reached = self.errors <= self.accuracy
        first = reached.argmax(axis=1).astype(float) + 1
        first[~reached.any(axis=1)] = np.nan
        return first


def run_methods(methods: dict, stream, *, accuracy: float, max_samples: int,
                chunk: int = 1024, progress: bool = False) -> dict[str, StreamRun]:
    """Feed the same samples to every method until each one's trials all reach ``accuracy``
    (a method stops drawing then) or ``max_samples`` samples have been drawn.

    Sharing one stream gives every method the same samples (common random numbers), so their
    sample counts differ by the methods, not by the draws.
    """
    accuracy = real("accuracy", accuracy)
    max_samples = integer("max_samples", max_samples)
    chunk = integer("chunk", chunk)
    if not methods:
        raise ValueError("methods must hold at least one method")
    for name, method in methods.items():
        if not isinstance(method, StreamingMethod):
            raise TypeError(f"methods[{name!r}] must be a StreamingMethod, got {type(method).__name__}")
        if (method.trials, method.dimension) != (stream.trials, stream.dimension):
            raise ValueError(f"methods[{name!r}] runs {method.trials} trials in {method.dimension} "
                             f"dimensions, the stream {stream.trials} in {stream.dimension}")
    errors = {name: [] for name in methods}
    reached = {name: np.zeros(stream.trials, dtype=bool) for name in methods}
    active = list(methods)
    bar = tqdm(total=max_samples, desc="stream samples", disable=not progress)
    drawn = 0
    while active and drawn < max_samples:
        count = min(chunk, max_samples - drawn)
        rows, labels = stream.draw(count)
        for name in list(active):
            method = methods[name]
            rows_m, labels_m = method.validate(rows, labels, chunk=True)
            err = to_numpy(method.consume_tracking(rows_m, labels_m, stream.targets))
            # Every trial there: stop feeding this method, and keep its errors up to that sample.
            done = np.flatnonzero((reached[name][:, None] | np.maximum.accumulate(err <= accuracy, axis=1)).all(axis=0))
            reached[name] |= (err <= accuracy).any(axis=1)
            if done.size:
                err = err[:, :done[0] + 1]
                active.remove(name)
            errors[name].append(err)
        drawn += count
        bar.update(count)
    bar.close()
    return {
        name: StreamRun(name, np.concatenate(errors[name], axis=1), accuracy,
                        methods[name].memory_floats, methods[name].memory_bits)
        for name in methods
    }


