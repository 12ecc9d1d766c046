"""The stored record of the architectures chapter (a longer-trained transformer and LSTM): what
it must contain, that its summary and streaming curves follow from it, and a short prefix of its
first transformer trained again here, which must retrace it."""

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from memopt.experiments import icl_architectures as experiment

RECORD = Path(__file__).parents[2] / "book" / "memory" / "records" / "icl_architectures_record.json"
#: steps re-trained by the slow test (a few hundred steps of the four-layer model)
PREFIX = 500


@pytest.fixture(scope="module")
def stored():
    return json.loads(RECORD.read_text())


def test_the_record_is_the_record_scale_and_says_where_it_ran(stored):
    # fields the record leaves out take the Config's defaults (the run used them)
    assert experiment.Config(**stored["config"]) == experiment.SCALES["record"]
    assert set(stored["config"]) <= set(asdict(experiment.SCALES["record"]))
    assert {"processor", "cpu_count", "blas", "numpy"} <= set(stored["machine"])
    assert stored["seconds"] > 0 and stored["date"]


def test_the_records_arrays_have_the_configs_shapes(stored):
    config = experiment.Config(**stored["config"])
    window = stored["training"]["window"]
    for name, steps in (("lstm", config.lstm_steps), ("transformer", config.transformer_steps)):
        assert np.shape(stored["curves"][name]) == (config.seeds, config.examples)
        assert np.shape(stored["after_d_examples"][name]) == (config.seeds, config.test_prompts)
        assert np.shape(stored["training"][name]) == (config.seeds, -(-steps // window))
    checkpoints = config.transformer_steps // config.checkpoint_every
    assert stored["checkpoints"]["steps"] == [config.checkpoint_every * (k + 1) for k in range(checkpoints)]
    assert np.shape(stored["checkpoints"]["transformer"]) == (config.seeds, checkpoints, config.examples)


def test_the_records_numbers_agree_with_each_other(stored):
    result = experiment.result_from(stored)
    d = result.config.dim
    # each seed's curve after d examples is the mean of its per-prompt errors there
    for name in ("lstm", "transformer"):
        np.testing.assert_allclose(getattr(result, name)[:, d], getattr(result, f"{name}_at_d").mean(axis=1),
                                   rtol=1e-6)
    # the streaming methods, computed again from the test prompts, give the stored curves
    for name, curve in stored["streaming_curves"].items():
        np.testing.assert_allclose(getattr(result, name).mean(axis=0), curve, rtol=1e-9, atol=1e-15)
    # the summary follows from the stored numbers (up to the rounding of the streaming methods)
    _close(experiment.summary(result), stored["summary"])


def _close(ours, theirs):
    if isinstance(ours, dict):
        assert ours.keys() == theirs.keys()
        for key in ours:
            _close(ours[key], theirs[key])
    else:
        np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float),
                                   rtol=1e-9, atol=1e-15)


def test_replay_refuses_a_prefix_that_is_not_whole_windows(stored):
    with pytest.raises(ValueError, match="multiple"):
        experiment.replay(stored, 150)


@pytest.mark.slow
def test_a_prefix_of_the_stored_run_retraces_the_record(stored):
    """Float32 training on other matrix kernels drifts a little: every window mean of the
    loss within 2% of the stored one."""
    replayed = experiment.replay(stored, PREFIX)
    window = stored["training"]["window"]
    kept = np.asarray(stored["training"]["transformer"][0][:PREFIX // window])
    np.testing.assert_allclose(replayed, kept, rtol=0.02)
