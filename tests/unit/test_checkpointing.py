"""Backpropagation under the three memory strategies against finite differences, against each
other, and against the closed-form counts of evaluations and held activations."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import central_difference

from memopt.experiments import checkpointing as experiment
from memopt.nets.checkpointing import (
    STRATEGIES,
    TanhChain,
    checkpointed_evaluations,
    checkpointed_peak,
)


@pytest.fixture
def chain_and_data():
    chain = TanhChain(7, 5, gain=1.3, seed=3)
    rng = np.random.default_rng(1)
    return chain, rng.standard_normal((4, 5)), rng.standard_normal((4, 5))


def test_vanilla_gradient_matches_central_differences(chain_and_data):
    chain, x, y = chain_and_data
    result = chain.gradient(x, y, "vanilla")
    assert result.loss == pytest.approx(chain.loss(x, y), rel=1e-14)
    weights = chain.weights.copy()

    def loss_at(flat):
        chain.weights = flat.reshape(weights.shape)
        return chain.loss(x, y)

    numeric = central_difference(loss_at, weights.ravel().copy())
    chain.weights = weights
    np.testing.assert_allclose(result.gradients.ravel(), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("strategy", STRATEGIES[1:])
def test_every_strategy_gives_exactly_vanillas_gradient(chain_and_data, strategy):
    chain, x, y = chain_and_data
    reference = chain.gradient(x, y, "vanilla")
    result = chain.gradient(x, y, strategy)
    np.testing.assert_array_equal(result.gradients, reference.gradients)
    assert result.loss == reference.loss


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 45))
def test_checkpointed_counts_match_their_closed_forms(layers, segment):
    chain = TanhChain(layers, 3, seed=layers)
    x = np.ones((2, 3))
    result = chain.gradient(x, np.zeros_like(x), "checkpointed", segment=segment)
    assert result.evaluations == checkpointed_evaluations(layers, segment)
    assert result.peak_activations == checkpointed_peak(layers, segment)


@pytest.mark.parametrize("layers", [1, 2, 9, 30])
def test_vanilla_and_memory_poor_counts(layers):
    chain = TanhChain(layers, 3, seed=0)
    x = np.ones((2, 3))
    vanilla = chain.gradient(x, np.zeros_like(x), "vanilla")
    poor = chain.gradient(x, np.zeros_like(x), "memory_poor")
    assert (vanilla.evaluations, vanilla.peak_activations) == (layers, layers + 1)
    assert (poor.evaluations, poor.peak_activations) == (layers * (layers + 1) // 2, 2)
    # checkpoints every layer are vanilla; one segment holds all but the output again
    assert chain.gradient(x, np.zeros_like(x), "checkpointed", segment=1).peak_activations == layers + 1


@pytest.mark.parametrize("layers", [4, 16, 100, 1024])
def test_sqrt_spacing_stays_within_two_sqrt_n(layers):
    s = math.ceil(math.sqrt(layers))
    assert checkpointed_peak(layers, s) <= 2 * s
    assert checkpointed_evaluations(layers, s) < 2 * layers


def test_float32_input_and_bad_input(chain_and_data):
    chain, x, y = chain_and_data
    assert chain.gradient(x.astype(np.float32), y, "checkpointed").gradients.dtype == np.float64
    with pytest.raises(ValueError, match="strategy must be one of"):
        chain.gradient(x, y, "sometimes")
    with pytest.raises(ValueError, match="shape"):
        chain.gradient(x[:, :3], y, "vanilla")
    with pytest.raises(ValueError, match="checkpointed strategy only"):
        chain.gradient(x, y, "vanilla", segment=2)
    with pytest.raises(ValueError, match="segment must be a positive integer"):
        chain.gradient(x, y, "checkpointed", segment=0)
    with pytest.raises(TypeError, match="layers must be an integer"):
        TanhChain(2.0, 3)
    with pytest.raises(ValueError, match="gain must be finite and > 0"):
        TanhChain(2, 3, gain=float("nan"))


@pytest.fixture(scope="module")
def result():
    return experiment.run(experiment.Config(depths=(4, 9, 16), tradeoff_depth=16))


def test_experiment_counts_and_exponents(result):
    assert result.series("vanilla", "evaluations").tolist() == [4, 9, 16]
    assert result.exponent("memory_poor", "peak_activations") == 0.0
    assert max(result.deviation.values()) == 0.0
    assert sorted(result.tradeoff) == [1, 2, 4, 8, 16]


def test_figures_are_labelled_and_summary_is_json(result):
    for figure in experiment.figures(result).values():
        for ax in figure.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
    json.dumps(experiment.summary(result))


@pytest.mark.parametrize("changes, match", [
    ({"depths": (8,)}, "at least two"),
    ({"depths": (8, 4)}, "increasing"),
    ({"width": 0}, "positive"),
    ({"tradeoff_depth": 1}, "tradeoff_depth"),
])
def test_config_rejects_bad_settings(changes, match):
    with pytest.raises(ValueError, match=match):
        experiment.Config(**changes)
