"""Optimisation algorithms. Each records a :class:`~memopt.optim.trace.Trace` of its runs."""

from memopt.optim.adaptive import (
    Adadelta,
    AdaGrad,
    Adam,
    AdamW,
    AdaptiveState,
    AMSGrad,
    GradientStep,
    Momentum,
    RMSProp,
)
from memopt.optim.cutting_plane import ellipsoid, limited_memory_cutting_plane
from memopt.optim.first_order import (
    BSLSSchedule,
    Convergence,
    QueryRun,
    big_step_little_step,
    bsls_schedule,
    chebyshev_iteration,
    conjugate_gradients,
    gradient_descent,
    nesterov_accelerated,
    plain_gradient_descent,
    projected_subgradient_descent,
)
from memopt.optim.newton import iterative_newton, least_squares_gd, newton_pseudo_inverse
from memopt.optim.sam import SAM
from memopt.optim.schedules import ConstantStep, DecreasingStep, InverseTimeStep
from memopt.optim.stochastic import SAG, SAGA, SGD, SVRG, IndexStream, run_batched, sgd, state_bytes
from memopt.optim.stream_runs import StreamRun, run_methods
from memopt.optim.streaming import (
    ExactLeastSquares,
    Kaczmarz,
    StreamingMethod,
    StreamingSGD,
    WindowProjection,
)
from memopt.optim.trace import Trace, log_iterations

__all__ = [
    "QueryRun",
    "ellipsoid",
    "limited_memory_cutting_plane",
    "projected_subgradient_descent",
    "AdaGrad",
    "Adadelta",
    "Adam",
    "AdamW",
    "AMSGrad",
    "AdaptiveState",
    "GradientStep",
    "Momentum",
    "RMSProp",
    "SAG",
    "SAM",
    "SAGA",
    "SGD",
    "SVRG",
    "ConstantStep",
    "DecreasingStep",
    "InverseTimeStep",
    "IndexStream",
    "Trace",
    "BSLSSchedule",
    "Convergence",
    "big_step_little_step",
    "bsls_schedule",
    "chebyshev_iteration",
    "conjugate_gradients",
    "gradient_descent",
    "iterative_newton",
    "least_squares_gd",
    "newton_pseudo_inverse",
    "nesterov_accelerated",
    "plain_gradient_descent",
    "log_iterations",
    "ExactLeastSquares",
    "Kaczmarz",
    "StreamingMethod",
    "StreamingSGD",
    "StreamRun",
    "WindowProjection",
    "run_methods",
    "run_batched",
    "sgd",
    "state_bytes",
]
