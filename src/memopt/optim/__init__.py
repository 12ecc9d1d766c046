"""Optimisation algorithms. Each records a :class:`~memopt.optim.trace.Trace` of its runs."""

from memopt.optim.first_order import gradient_descent
from memopt.optim.schedules import ConstantStep, DecreasingStep
from memopt.optim.stochastic import SGD, IndexStream, run_batched, sgd
from memopt.optim.trace import Trace, log_iterations

__all__ = [
    "SGD",
    "ConstantStep",
    "DecreasingStep",
    "IndexStream",
    "Trace",
    "gradient_descent",
    "log_iterations",
    "run_batched",
    "sgd",
]
