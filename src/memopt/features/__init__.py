"""Random features and the least-squares solvers of the double-descent chapter.

``maps``: random Fourier and random ReLU feature maps, nested (the first N features of a larger
draw are the N-feature model). ``solvers``: minimum-norm least squares and ridge regression,
from scratch (thin SVD) or along a nested sweep over N that updates one factorization.
"""

from memopt.features.maps import RandomFeatureMap, RandomFourierFeatures, RandomReLUFeatures
from memopt.features.solvers import (
    MinNormPath,
    condition_estimate,
    kernel_fit,
    min_norm_path,
    min_norm_solve,
    ridge_path,
    ridge_solve,
)

__all__ = [
    "MinNormPath",
    "RandomFeatureMap",
    "RandomFourierFeatures",
    "RandomReLUFeatures",
    "condition_estimate",
    "kernel_fit",
    "min_norm_path",
    "min_norm_solve",
    "ridge_path",
    "ridge_solve",
]
