"""Losses on a batch of outputs (B, C) against integer labels (B,): value and gradient."""

from __future__ import annotations

from memopt import kernels
from memopt.backend import array_module


def _check(outputs, labels):
    if outputs.ndim != 2 or labels.shape != outputs.shape[:1]:
        raise ValueError(
            f"expected outputs of shape (B, C) and labels of shape (B,), got {outputs.shape} and {labels.shape}"
        )
    if outputs.shape[0] == 0:
        raise ValueError("outputs must hold at least one row (the loss is a mean over the batch)")


class CrossEntropy:
    """Mean over the batch of -log softmax(z)_y (the loss on the answer token)."""

    name = "cross-entropy"

    def value_and_gradient(self, logits, labels):
        _check(logits, labels)
        xp = array_module(logits)
        if kernels.mode(logits) is not None and logits.dtype in (xp.float32, xp.float64):
            # Forward and backward fused, one thread a row (kernels/softmax_xent.cu).
            losses, grad = kernels.xent_rows(xp.ascontiguousarray(logits),
                                             xp.ascontiguousarray(labels, dtype=xp.int64))
            return float(losses.mean()), grad
        rows = xp.arange(labels.size)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        loss = float((xp.log(total[:, 0]) - shifted[rows, labels]).mean())
        grad = exp / total
        grad[rows, labels] -= 1
        grad /= labels.size
        return loss, grad

    def value(self, logits, labels) -> float:
        _check(logits, labels)
        xp = array_module(logits)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_total = xp.log(xp.exp(shifted).sum(axis=1))
        return float((log_total - shifted[xp.arange(labels.size), labels]).mean())


class MeanSquaredError:
    """Mean over the B x C entries of (f - onehot(y))^2, as PyTorch's ``MSELoss`` against
    one-hot targets (the loss of Gromov 2023)."""

    name = "mean squared error"

    def _residual(self, outputs, labels):
        _check(outputs, labels)
        xp = array_module(outputs)
        residual = outputs.copy()
        residual[xp.arange(labels.size), labels] -= 1
        return residual

    def value_and_gradient(self, outputs, labels):
        residual = self._residual(outputs, labels)
        loss = float((residual * residual).mean())
        residual *= 2 / residual.size
        return loss, residual

    def value(self, outputs, labels) -> float:
        residual = self._residual(outputs, labels)
        return float((residual * residual).mean())
