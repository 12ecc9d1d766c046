"""Objectives and data the algorithms run on."""

from memopt.problems.logistic import LogisticGLM, Optimum, planted_logistic, sklearn_optimum

__all__ = ["LogisticGLM", "Optimum", "planted_logistic", "sklearn_optimum"]
