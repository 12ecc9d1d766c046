"""Binary operation tables a o b = c (mod p), the data of the grokking experiments.

Power et al. (2022, section 2) train on the equations "a o b = c" of one operation over the
residues mod a prime p, each residue its own token, and hold out a random part of the table.
A :class:`ModularTask` is the whole table; :meth:`ModularTask.split` draws the training and
validation rows from a seeded generator. The transformer reads the sequence
``[a, op, b, =]`` (:meth:`ModularTask.sequences`) and predicts c at the last position; the
two-layer MLP of Gromov (2023) reads the pair (a, b) as two concatenated one-hot vectors,
which it never builds: it looks up the two columns instead (:mod:`memopt.nets.mlp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np


def is_prime(n: int) -> bool:
    """Trial division: enough for the moduli of these experiments (p below a few thousand)."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    divisor = 3
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 2
    return True


def _inverse(b: np.ndarray, p: int) -> np.ndarray:
    """b^(p-2) mod p, the inverse of b != 0 mod a prime p (Fermat's little theorem)."""
    return np.array([pow(int(v), p - 2, p) for v in b], dtype=np.int64)


#: name -> (c as a function of int64 arrays a, b and p, whether b = 0 is excluded,
#: whether p must be prime). Power et al. (2022, appendix A.1.1) list these among their
#: operations; x^2 + xy + y^2 and x^3 + xy are two of the harder ones.
OPERATIONS = {
    "x+y": (lambda a, b, p: (a + b) % p, False, False),
    "x-y": (lambda a, b, p: (a - b) % p, False, False),
    "x/y": (lambda a, b, p: (a * _inverse(b, p)) % p, True, True),
    "x^2+xy+y^2": (lambda a, b, p: (a * a + a * b + b * b) % p, False, False),
    "x^3+xy": (lambda a, b, p: (a * a * a + a * b) % p, False, False),
}


@dataclass(frozen=True, eq=False)
class ModularTask:
    """Every equation a o b = c (mod p) of one operation, in row-major order of (a, b).

    ``a``, ``b``, ``c`` are int64 arrays with one entry per equation. Tokens 0..p-1 are the
    residues, token p the operation and token p + 1 the equals sign.
    """

    modulus: int
    operation: str
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray

    @property
    def size(self) -> int:
        return int(self.a.size)

    @property
    def op_token(self) -> int:
        return self.modulus

    @property
    def eq_token(self) -> int:
        return self.modulus + 1

    @property
    def vocabulary_size(self) -> int:
        return self.modulus + 2

    @property
    def classes(self) -> int:
        """The answer c is one of the p residues."""
        return self.modulus

    def sequences(self, rows=None) -> np.ndarray:
        """The transformer's input ``[a, op, b, =]`` for the given rows (all by default),
        int64 of shape (n, 4)."""
        rows = np.arange(self.size) if rows is None else np.asarray(rows)
        seq = np.empty((rows.size, 4), dtype=np.int64)
        seq[:, 0], seq[:, 1] = self.a[rows], self.op_token
        seq[:, 2], seq[:, 3] = self.b[rows], self.eq_token
        return seq

    def pairs(self, rows=None) -> np.ndarray:
        """The operands (a, b) of the given rows, int64 of shape (n, 2)."""
        rows = np.arange(self.size) if rows is None else np.asarray(rows)
        return np.stack([self.a[rows], self.b[rows]], axis=1)

    def split(self, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Training and validation rows: floor(fraction * size) rows drawn without
        replacement by ``numpy.random.default_rng(seed)``, and the rest, each sorted."""
        if isinstance(train_fraction, bool) or not isinstance(train_fraction, Real):
            raise TypeError(f"train_fraction must be a real number, got {type(train_fraction).__name__}")
        if not 0 < train_fraction < 1:
            raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
        if isinstance(seed, bool) or not isinstance(seed, Integral):
            raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
        n_train = int(train_fraction * self.size)
        if not 1 <= n_train < self.size:
            raise ValueError(
                f"train_fraction {train_fraction} leaves {n_train} of {self.size} equations for "
                "training; both parts must be non-empty"
            )
        order = np.random.default_rng(seed).permutation(self.size)
        return np.sort(order[:n_train]), np.sort(order[n_train:])


def modular_task(modulus: int, operation: str = "x+y") -> ModularTask:
    """The table of ``operation`` (a key of :data:`OPERATIONS`) modulo ``modulus``.

    Division x/y runs over b = 1..p-1 and needs a prime modulus, so that every b has an
    inverse; the other operations run over all p^2 pairs and accept any modulus >= 2.
    """
    if isinstance(modulus, bool) or not isinstance(modulus, Integral):
        raise TypeError(f"modulus must be an integer, got {type(modulus).__name__}")
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {list(OPERATIONS)}, got {operation!r}")
    p = int(modulus)
    if p < 2:
        raise ValueError(f"modulus must be >= 2, got {p}")
    rule, nonzero_b, needs_prime = OPERATIONS[operation]
    if needs_prime and not is_prime(p):
        raise ValueError(
            f"operation {operation} needs a prime modulus (every b != 0 must have an inverse "
            f"mod p); got modulus {p}, which is not prime"
        )
    a, b = np.meshgrid(np.arange(p), np.arange(1 if nonzero_b else 0, p), indexing="ij")
    a, b = a.ravel().astype(np.int64), b.ravel().astype(np.int64)
    return ModularTask(p, operation, a, b, rule(a, b, p).astype(np.int64))
