"""The UCI handwritten digits bundled with scikit-learn, split for regression on one-hot targets.

``sklearn.datasets.load_digits`` ships 1797 grey-level images of 8 x 8 pixels (values 0 to 16)
with labels 0 to 9, so it needs no download: the book's offline stand-in for MNIST. The pixels
are divided by 16, which puts them in [0, 1] as MNIST's are after division by 255.

:func:`digits_split` draws a seeded split into training, validation and test images (disjoint,
without replacement). :meth:`DigitsSplit.with_label_noise` returns the same split with a
fraction of the *training* labels replaced by a different class chosen uniformly at random; the
validation and test labels stay clean, so test losses measure how well the clean labels are
predicted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from memopt._checks import integer
from memopt.perturb import inputs as perturbed

N_CLASSES = 10
PIXEL_MAX = 16.0


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # noqa: PLC0415 - scikit-learn imports slowly

    data = load_digits()
    images = perturbed(data.data / PIXEL_MAX)
    images.setflags(write=False)
    labels = data.target.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def n_images() -> int:
    """How many images the bundled data set holds (1797)."""
    return _digits()[0].shape[0]


def one_hot(labels, n_classes: int = N_CLASSES) -> np.ndarray:
    """Rows e_{label} of the identity: shape (len(labels), n_classes), float64."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be a 1-D array of integers, got dtype {labels.dtype}, shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values from {labels.min()} to {labels.max()}")
    return np.eye(n_classes)[labels]


@dataclass(frozen=True)
class DigitsSplit:
    """Images (rows in [0, 1]^64) and integer labels of a seeded split of the digits."""

    x_train: np.ndarray
    labels_train: np.ndarray
    x_validation: np.ndarray
    labels_validation: np.ndarray
    x_test: np.ndarray
    labels_test: np.ndarray
    #: The training labels before any noise (equal to ``labels_train`` for a clean split).
    clean_labels_train: np.ndarray
    seed: int
    label_noise: float = 0.0

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    @property
    def input_dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def y_train(self) -> np.ndarray:
        """One-hot training targets (noisy if the split carries label noise)."""
        return one_hot(self.labels_train)

    @property
    def y_validation(self) -> np.ndarray:
        return one_hot(self.labels_validation)

    @property
    def y_test(self) -> np.ndarray:
        return one_hot(self.labels_test)

    @property
    def corrupted(self) -> np.ndarray:
        """Boolean mask of the training labels that noise changed."""
        return self.labels_train != self.clean_labels_train

    def with_label_noise(self, fraction: float, seed: int | None = None) -> "DigitsSplit":
        """The same images with ``round(fraction * n_train)`` training labels, chosen at random,
        each replaced by one of the nine other classes chosen uniformly. The draw is seeded by
        ``seed`` (default: the split's seed), independently of the split itself."""
        fraction = float(fraction)
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"fraction (of training labels to corrupt) must lie in [0, 1), got {fraction}")
        seed = self.seed if seed is None else integer("seed", seed, minimum=0)
        rng = np.random.default_rng([seed, 1])  # its own stream: the split does not move
        count = int(round(fraction * self.n_train))
        chosen = rng.choice(self.n_train, size=count, replace=False)
        labels = self.clean_labels_train.copy()
        # Adding 1..9 modulo 10 reaches every other class with probability 1/9.
        labels[chosen] = (labels[chosen] + rng.integers(1, N_CLASSES, size=count)) % N_CLASSES
        return replace(self, labels_train=labels, label_noise=fraction)



def digits_split(
    n_train: int, n_test: int | None = None, n_validation: int = 0, seed: int = 0, label_noise: float = 0.0
) -> DigitsSplit:
    """A seeded random split of the 1797 digits into ``n_train`` training, ``n_validation``
    validation and ``n_test`` test images (default: all the images left over), optionally with
    a fraction ``label_noise`` of the training labels corrupted (see
    :meth:`DigitsSplit.with_label_noise`)."""
    seed = integer("seed", seed, minimum=0)
    total = n_images()
    for name, value in (("n_train", n_train), ("n_validation", n_validation), ("n_test", n_test)):
        if value is None and name == "n_test":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if n_train < 1 or n_validation < 0:
        raise ValueError(f"need n_train >= 1 and n_validation >= 0, got {n_train} and {n_validation}")
    if n_test is None:
        n_test = total - n_train - n_validation
    if n_test < 1 or n_train + n_validation + n_test > total:
        raise ValueError(
            f"n_train + n_validation + n_test must be at most the {total} images with n_test >= 1, "
            f"got {n_train} + {n_validation} + {n_test}"
        )
    images, labels = _digits()
    order = np.random.default_rng([seed, 0]).permutation(total)
    train, validation, test = np.split(order[: n_train + n_validation + n_test], [n_train, n_train + n_validation])
    split = DigitsSplit(
        x_train=images[train], labels_train=labels[train],
        x_validation=images[validation], labels_validation=labels[validation],
        x_test=images[test], labels_test=labels[test],
        clean_labels_train=labels[train], seed=seed,
    )
    return split.with_label_noise(label_noise) if label_noise else split
