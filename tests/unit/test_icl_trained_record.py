"""The stored larger-scale record of the trained-transformer chapter: what it must contain, and
a short prefix of its run trained again here, which must retrace it."""

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from memopt.experiments import icl_trained

RECORD = Path(__file__).parents[2] / "book" / "memory" / "records" / "icl_transformer_paper.json"
#: steps re-trained by the slow test (a few hundred steps of the eight-layer model)
PREFIX = 300


@pytest.fixture(scope="module")
def stored():
    return json.loads(RECORD.read_text())


def test_the_record_is_the_paper_scale_setting_and_says_where_it_ran(stored):
    # fields the record leaves out take the Config's defaults (the run used them)
    assert icl_trained.Config(**stored["config"]) == icl_trained.SCALES["paper"]
    assert set(stored["config"]) <= set(asdict(icl_trained.SCALES["paper"]))
    assert {"processor", "cpu_count", "blas", "numpy"} <= set(stored["machine"])
    assert stored["seconds"] > 0 and stored["date"]
    window = stored["history"]["window"]
    assert len(stored["history"]["loss"]) == -(-stored["config"]["steps"] // window)


def test_the_records_summary_follows_from_its_measurements(stored):
    result = icl_trained.result_from(stored)
    assert json.loads(json.dumps(icl_trained.summary(result))) == stored["summary"]
    config = result.config
    assert result.newton_similarity.shape == (config.batches, config.layers + 1, config.newton_steps + 1)
    assert result.gd_similarity.shape == (config.batches, config.layers + 1, config.gd_times().size)


def test_replay_refuses_a_prefix_that_is_not_whole_windows(stored):
    with pytest.raises(ValueError, match="multiple"):
        icl_trained.replay(stored, 150)


@pytest.mark.slow
def test_a_prefix_of_the_stored_run_retraces_the_record(stored):
    """Float32 training on other matrix kernels drifts a little: every window mean of the
    loss within 2% of the stored one."""
    replayed = icl_trained.replay(stored, PREFIX)
    window = stored["history"]["window"]
    kept = np.asarray(stored["history"]["loss"][:PREFIX // window])
    np.testing.assert_allclose(replayed, kept, rtol=0.02)
