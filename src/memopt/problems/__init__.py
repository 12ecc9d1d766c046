"""Objectives and data the algorithms run on."""

from memopt.problems.digits import DigitsSplit, digits_split, one_hot
from memopt.problems.icl import ICLTasks, icl_tasks
from memopt.problems.logistic import LogisticGLM, Optimum, planted_logistic, sklearn_optimum
from memopt.problems.modular import ModularTask, modular_task
from memopt.problems.multiscale import (
    ClusteredQuadratic,
    SeparatedPieces,
    clustered_quadratic,
    logistic_pieces,
)
from memopt.problems.nemirovski import HardFunction, L1Distance
from memopt.problems.online import AdamCounterexample
from memopt.problems.regression import GaussianRegression, RegressionStream, paper_noise_bound
from memopt.problems.sparse import SparseLogistic, power_law_frequencies, power_law_logistic

__all__ = [
    "AdamCounterexample",
    "HardFunction",
    "L1Distance",
    "ClusteredQuadratic",
    "DigitsSplit",
    "GaussianRegression",
    "ICLTasks",
    "LogisticGLM",
    "ModularTask",
    "Optimum",
    "RegressionStream",
    "SeparatedPieces",
    "SparseLogistic",
    "clustered_quadratic",
    "digits_split",
    "icl_tasks",
    "logistic_pieces",
    "modular_task",
    "one_hot",
    "paper_noise_bound",
    "planted_logistic",
    "power_law_frequencies",
    "power_law_logistic",
    "sklearn_optimum",
]
