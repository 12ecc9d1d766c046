"""Neural networks with explicit forward and backward passes on NumPy or CuPy arrays.

No deep-learning framework is involved: every layer's backward pass is written out and
checked against finite differences in the tests. :mod:`memopt.nets.models` holds the decoder
transformer of Power et al. (2022), the quadratic MLP of Gromov (2023) and a ReLU
classifier on real-valued inputs;
:mod:`memopt.nets.training` trains any of them with an optimiser from :mod:`memopt.optim.adaptive`,
with checkpoints that resume bit for bit. :mod:`memopt.nets.curvature` measures a loss's
curvature (Hessian-vector products, extreme eigenvalues) and draws the filter-normalised
directions of loss-surface plots.
"""

from memopt.nets.layers import (
    CausalSelfAttention,
    DecoderBlock,
    Dropout,
    Embedding,
    FeedForward,
    LayerNorm,
    Linear,
    ReLU,
    Residual,
    Tanh,
)
from memopt.nets.losses import CrossEntropy, MeanSquaredError
from memopt.nets.models import DecoderTransformer, MLPClassifier, Network, QuadraticMLP
from memopt.nets.params import Parameters

__all__ = [
    "CausalSelfAttention",
    "CrossEntropy",
    "DecoderBlock",
    "DecoderTransformer",
    "Dropout",
    "Embedding",
    "FeedForward",
    "LayerNorm",
    "Linear",
    "MeanSquaredError",
    "MLPClassifier",
    "Network",
    "Parameters",
    "QuadraticMLP",
    "ReLU",
    "Residual",
    "Tanh",
]
