"""Neural networks with explicit forward and backward passes on NumPy or CuPy arrays.

No deep-learning framework is involved: every layer's backward pass is written out and
checked against finite differences in the tests. :mod:`memopt.nets.models` holds the decoder
transformer of Power et al. (2022) and the quadratic MLP of Gromov (2023);
:mod:`memopt.nets.training` trains either with an optimiser from :mod:`memopt.optim.adaptive`,
with checkpoints that resume bit for bit.
"""

from memopt.nets.layers import (
    CausalSelfAttention,
    DecoderBlock,
    Embedding,
    FeedForward,
    LayerNorm,
    Linear,
    ReLU,
)
from memopt.nets.losses import CrossEntropy, MeanSquaredError
from memopt.nets.models import DecoderTransformer, Network, QuadraticMLP
from memopt.nets.params import Parameters

__all__ = [
    "CausalSelfAttention",
    "CrossEntropy",
    "DecoderBlock",
    "DecoderTransformer",
    "Embedding",
    "FeedForward",
    "LayerNorm",
    "Linear",
    "MeanSquaredError",
    "Network",
    "Parameters",
    "QuadraticMLP",
    "ReLU",
]
