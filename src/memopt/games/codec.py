"""Messages of the Orthogonal Vector Game as bit strings, and quantised coordinates.

A message is a real bit string: :class:`MessageWriter` appends fixed-width fields and refuses
to exceed the budget M (:class:`memopt.games.ovg.MessageTooLong`), :class:`MessageReader` reads
them back in order. :func:`quantise` stores a coordinate of a unit vector in a given number of
bits; :func:`orthogonality_bound` and :func:`required_bits` say how many bits keep a quantised
null vector of A within the judge's tolerance d^-4 (:mod:`memopt.games.ovg`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from memopt.games.ovg import MessageTooLong, as_integer, check_parameters, orthogonality_threshold

#: Quantised coordinates use at most this many bits (a float64 mantissa resolves no more).
MAX_COORDINATE_BITS = 52


# -- messages as bit strings -------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """One message per trial: ``bits`` (trials, size) of 0/1, within ``capacity`` bits."""

    bits: np.ndarray
    capacity: int

    @property
    def size(self) -> int:
        """The message length in bits (the same for every trial)."""
        return int(self.bits.shape[1])

    @property
    def trials(self) -> int:
        return int(self.bits.shape[0])


class MessageWriter:
    """Appends fixed-width fields to a batch of messages, refusing to exceed ``capacity``."""

    def __init__(self, trials: int, capacity: int):
        self.trials = as_integer(trials, "trials")
        self.capacity = as_integer(capacity, "capacity")
        if self.capacity < 0:
            raise ValueError(f"capacity (message bits M) must be >= 0, got {capacity}")
        self._chunks: list[np.ndarray] = []
        self.size = 0

    def write_unsigned(self, values, width: int) -> None:
        """Write each integer of ``values`` (trials, n), all in [0, 2^width), in ``width`` bits
        (most significant first)."""
        width = as_integer(width, "width")
        if not 1 <= width <= 63:
            raise ValueError(f"width must be in 1..63 bits, got {width}")
        values = np.asarray(values)
        if values.dtype.kind not in "iu":
            raise TypeError(f"values must be integers, got dtype {values.dtype}")
        values = values.astype(np.int64).reshape(self.trials, -1)
        if values.size and (values.min() < 0 or values.max() >= 2**width):
            raise ValueError(f"values must lie in [0, 2^{width}) to fit in {width} bits")
        added = values.shape[1] * width
        if self.size + added > self.capacity:
            raise MessageTooLong(
                f"writing {added} more bits would make the message {self.size + added} bits, "
                f"over the budget M = {self.capacity}"
            )
        shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
        bits = (values[:, :, None] >> shifts) & 1
        self._chunks.append(bits.reshape(self.trials, added).astype(np.uint8))
        self.size += added

    def write_signs(self, signs) -> None:
        """Write each entry of ``signs`` (trials, n), all +-1, as one bit."""
        signs = np.asarray(signs)
        if signs.size and not np.all(np.abs(signs) == 1):
            raise ValueError("signs must be +-1")
        self.write_unsigned((signs > 0).astype(np.int64), 1)

    def finish(self) -> Message:
        bits = np.concatenate(self._chunks, axis=1) if self._chunks else np.zeros((self.trials, 0), np.uint8)
        return Message(bits, self.capacity)


class MessageReader:
    """Reads back, in order, the fields a :class:`MessageWriter` wrote."""

    def __init__(self, message: Message):
        self.message = message
        self.position = 0

    def read_unsigned(self, count: int, width: int) -> np.ndarray:
        end = self.position + count * width
        if end > self.message.size:
            raise ValueError(f"reading {count * width} bits at {self.position} runs past the "
                             f"message's {self.message.size} bits")
        bits = self.message.bits[:, self.position:end].astype(np.int64)
        self.position = end
        weights = 2 ** np.arange(width - 1, -1, -1, dtype=np.int64)
        return bits.reshape(self.message.trials, count, width) @ weights

    def read_signs(self, count: int) -> np.ndarray:
        return (2 * self.read_unsigned(count, 1) - 1).astype(np.int8)


# -- quantised coordinates ---------------------------------------------------------------------
def _bits(bits) -> int:
    bits = as_integer(bits, "bits")
    if not 1 <= bits <= MAX_COORDINATE_BITS:
        raise ValueError(f"bits per coordinate must be in 1..{MAX_COORDINATE_BITS}, got {bits}")
    return bits


def quantise(values, bits: int) -> np.ndarray:
    """Codes in [0, 2^bits) for values in [-1, 1]: the cell of width 2^(1-bits) holding each
    value. Decoded at the cell's midpoint, every value is off by at most
    :func:`quantisation_error` = 2^-bits + 2^-53 (the last term: rounding of value + 1)."""
    bits = _bits(bits)
    values = np.asarray(values, dtype=np.float64)
    if values.size and (not np.all(np.isfinite(values)) or np.abs(values).max() > 1):
        raise ValueError("quantised values must lie in [-1, 1] (coordinates of unit vectors)")
    cells = np.floor((values + 1.0) * 2.0 ** (bits - 1)).astype(np.int64)
    return np.clip(cells, 0, 2**bits - 1)


def dequantise(codes, bits: int) -> np.ndarray:
    """The midpoint -1 + (code + 1/2) 2^(1-bits) of each code's cell."""
    bits = _bits(bits)
    return -1.0 + (np.asarray(codes, dtype=np.float64) + 0.5) * 2.0 ** (1 - bits)


def quantisation_error(bits: int) -> float:
    """The largest |dequantise(quantise(v)) - v| over v in [-1, 1]: half a cell, 2^-bits, plus
    2^-53 for the float64 rounding of v + 1 that can move v across a cell boundary."""
    return 2.0 ** -_bits(bits) + 2.0**-53


def orthogonality_bound(d: int, bits: int, residual: float = 0.0) -> float:
    """The worst case of ||A y~||_inf / ||y~||_2 when y~ is a unit vector y with
    ||A y||_inf <= ``residual`` and each coordinate quantised to ``bits`` bits.

    Each coordinate moves by at most e = :func:`quantisation_error` (about 2^-bits), so
    |<a_j, y~ - y>| <= ||a_j||_1 e = d e and ||y~||_2 >= 1 - sqrt(d) e: the bound is
    (residual + d e) / (1 - sqrt(d) e).
    """
    check_parameters(d)
    error = quantisation_error(bits)
    shrink = 1.0 - math.sqrt(d) * error
    return math.inf if shrink <= 0 else (residual + d * error) / shrink


def required_bits(d: int, residual: float = 0.0) -> int:
    """The fewest bits per coordinate for which :func:`orthogonality_bound` is <= d^-4, i.e.
    the b that guarantees a quantised null vector passes the judge's orthogonality test."""
    check_parameters(d)
    if not 0 <= residual < orthogonality_threshold(d):
        raise ValueError(f"residual must lie in [0, d^-4) = [0, {orthogonality_threshold(d):.3g}), got {residual}")
    for bits in range(1, MAX_COORDINATE_BITS + 1):
        if orthogonality_bound(d, bits, residual) <= orthogonality_threshold(d):
            return bits
    raise ValueError(f"no precision up to {MAX_COORDINATE_BITS} bits meets d^-4 for d = {d}")

