"""The stored paper-scale record of the grokking chapter: what it must contain, and a short
prefix of its run trained again here, which must retrace it."""

import json
from pathlib import Path

import numpy as np
import pytest

from memopt.experiments import grokking

RECORD = Path(__file__).parents[2] / "book" / "phenomena" / "records" / "grokking_transformer_paper.json"
#: steps re-trained by the slow test (about half a minute of CPU)
PREFIX = 300


@pytest.fixture(scope="module")
def stored():
    return json.loads(RECORD.read_text())


def test_the_record_is_the_papers_setting_and_says_where_it_ran(stored):
    assert grokking.run_of(stored) == grokking.PAPER_TRANSFORMER
    assert stored["run"]["steps"] == 100_000 and stored["run"]["operation"] == "x/y"
    assert {"processor", "cpu_count", "blas", "numpy"} <= set(stored["machine"])
    assert stored["seconds"] > 0 and stored["date"]
    steps = stored["history"]["steps"]
    assert steps[0] == 0 and steps[-1] == stored["run"]["steps"] and np.all(np.diff(steps) > 0)


def test_the_records_summary_follows_from_its_history(stored):
    expected = json.loads(json.dumps(grokking.record_from(stored).summary()))  # inf and nan as JSON writes them
    assert expected == stored["summary"]


def test_run_of_refuses_an_unknown_network(stored):
    with pytest.raises(ValueError, match="unknown network"):
        grokking.run_of({**stored, "run": {**stored["run"], "network": "LSTM"}})


@pytest.mark.slow
def test_a_prefix_of_the_paper_scale_run_retraces_the_record(stored):
    """Float32 training on other matrix kernels drifts a little: every measurement within 2% of
    the stored one (plus 1e-3 for accuracies near zero)."""
    history = grokking.replay(stored, PREFIX)
    logged = np.asarray(stored["history"]["steps"])
    assert history.steps == logged[logged <= PREFIX].tolist()
    for name in ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy", "parameter_norm"):
        kept = np.asarray(stored["history"][name])[logged <= PREFIX]
        np.testing.assert_allclose(history.array(name), kept, rtol=0.02, atol=1e-3, err_msg=name)
