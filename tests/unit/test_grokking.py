"""The modular tables against brute force, the training loop's batches and checkpoints (resume
equals an uninterrupted run bit for bit; a corrupt checkpoint falls back to the previous one),
and the grokking experiment's measurements at a tiny scale."""

import json
import warnings
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from memopt import cli
from memopt.cache import CorruptEntryWarning, ResultCache
from memopt.experiments import grokking
from memopt.nets import DecoderTransformer, QuadraticMLP
from memopt.nets.training import BatchOrder, Checkpoints, Dataset, History, train
from memopt.optim.adaptive import AdamW
from memopt.problems.modular import OPERATIONS, is_prime, modular_task


# -- the tables -----------------------------------------------------------------------------------
def brute_force(p, operation):
    rows = []
    for a in range(p):
        for b in range(p):
            if operation == "x/y":
                if b == 0:
                    continue
                c = next(c for c in range(p) if (c * b) % p == a)  # the c with c b = a
            else:
                c = {"x+y": a + b, "x-y": a - b, "x^2+xy+y^2": a * a + a * b + b * b,
                     "x^3+xy": a**3 + a * b}[operation] % p
            rows.append((a, b, c))
    return np.array(rows)


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("p", [2, 7, 13])
def test_tables_match_brute_force(p, operation):
    task = modular_task(p, operation)
    expected = brute_force(p, operation)
    np.testing.assert_array_equal(np.stack([task.a, task.b, task.c], axis=1), expected)
    assert task.size == (p * (p - 1) if operation == "x/y" else p * p)


def test_sequences_and_pairs():
    task = modular_task(5, "x-y")
    seq = task.sequences([0, 7])
    np.testing.assert_array_equal(seq, [[0, 5, 0, 6], [1, 5, 2, 6]])
    np.testing.assert_array_equal(task.pairs([7]), [[1, 2]])
    assert (task.vocabulary_size, task.classes, task.op_token, task.eq_token) == (7, 5, 5, 6)


def test_split_is_a_seeded_partition():
    task = modular_task(11, "x+y")
    train_rows, val_rows = task.split(0.3, seed=4)
    assert train_rows.size == int(0.3 * 121) and val_rows.size == 121 - train_rows.size
    np.testing.assert_array_equal(np.sort(np.concatenate([train_rows, val_rows])), np.arange(121))
    again, _ = task.split(0.3, seed=4)
    np.testing.assert_array_equal(train_rows, again)
    assert not np.array_equal(train_rows, task.split(0.3, seed=5)[0])


def test_composite_moduli_work_except_for_division():
    assert modular_task(12, "x+y").size == 144
    assert [n for n in range(20) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19]
    with pytest.raises(ValueError, match="x/y needs a prime modulus.*got modulus 12, which is not prime"):
        modular_task(12, "x/y")


@pytest.mark.parametrize("call, error, match", [
    (lambda: modular_task(1), ValueError, "modulus must be >= 2"),
    (lambda: modular_task(7.0), TypeError, "modulus must be an integer"),
    (lambda: modular_task(7, "x*y*z"), ValueError, "operation must be one of"),
    (lambda: modular_task(7).split(1.0, 0), ValueError, r"train_fraction must lie in \(0, 1\)"),
    (lambda: modular_task(7).split(0.01, 0), ValueError, "both parts must be non-empty"),
    (lambda: modular_task(7).split("half", 0), TypeError, "train_fraction must be a real number"),
    (lambda: modular_task(7).split(0.5, 1.5), TypeError, "seed must be an integer"),
])
def test_bad_requests_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- batches and checkpoints ----------------------------------------------------------------------
def test_batches_are_epochwise_permutations_of_the_seed_and_step():
    order = BatchOrder(10, 3, seed=1)
    epoch = np.concatenate([order.rows(k) for k in range(3)])
    assert len(set(epoch)) == 9  # three disjoint batches; one leftover row per epoch
    np.testing.assert_array_equal(epoch, np.random.default_rng([1, 0]).permutation(10)[:9])
    fresh = BatchOrder(10, 3, seed=1)
    np.testing.assert_array_equal(fresh.rows(7), order.rows(7))
    assert BatchOrder(10, 10, seed=1).rows(5) is None  # full batch


def tiny_setup():
    task = modular_task(7, "x+y")
    train_rows, val_rows = task.split(0.6, 0)
    data = Dataset(task.sequences(train_rows), task.c[train_rows],
                   task.sequences(val_rows), task.c[val_rows])
    network = DecoderTransformer(task.vocabulary_size, task.classes, width=16, heads=2, seed=3)
    return network, AdamW(lr=3e-3, betas=(0.9, 0.98), weight_decay=1.0, warmup=5), data


def run_tiny(checkpoints=None, stop_at=None, steps_taken=None):
    network, optimizer, data = tiny_setup()

    def interrupt(step):
        if steps_taken is not None:
            steps_taken.append(step)
        if step == stop_at:
            raise KeyboardInterrupt

    history = train(network, optimizer, data, steps=40, batch_size=8, seed=2, eval_steps=range(0, 41, 5),
                    checkpoints=checkpoints, callback=interrupt)
    return network, history


def test_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    reference, reference_history = run_tiny()
    cache = ResultCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_tiny(Checkpoints(cache, "tiny", {"run": 1}, every=10), stop_at=25)
    resumed, history = run_tiny(Checkpoints(cache, "tiny", {"run": 1}, every=10))
    np.testing.assert_array_equal(resumed.params.vector, reference.params.vector)
    for name in History.FIELDS:
        np.testing.assert_array_equal(history.array(name), reference_history.array(name))
    # The finished run is stored: asking again trains nothing.
    again, _ = run_tiny(Checkpoints(cache, "tiny", {"run": 1}, every=10), stop_at=1)
    np.testing.assert_array_equal(again.params.vector, reference.params.vector)


def test_a_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path):
    reference, _ = run_tiny()
    cache = ResultCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_tiny(Checkpoints(cache, "tiny", {"run": 2}, every=10), stop_at=35)
    # checkpoints at steps 10, 20, 30 alternate between two entries: the newest holds 30
    paths = [cache.path("tiny", {"run": 2}, part=p) for p in ("checkpoint", "checkpoint_spare")]
    steps = [cache.load("tiny", {"run": 2}, part=p)["step"] for p in ("checkpoint", "checkpoint_spare")]
    assert sorted(steps) == [20, 30]
    newest = paths[int(np.argmax(steps))]
    blob = bytearray(newest.read_bytes())
    blob[-50] ^= 0xFF
    newest.write_bytes(bytes(blob))
    steps_taken = []
    with pytest.warns(CorruptEntryWarning):
        resumed, _ = run_tiny(Checkpoints(cache, "tiny", {"run": 2}, every=10), steps_taken=steps_taken)
    assert steps_taken[0] == 21  # resumed from the intact checkpoint of step 20
    np.testing.assert_array_equal(resumed.params.vector, reference.params.vector)


def test_checkpoints_need_a_positive_interval(tmp_path):
    with pytest.raises(ValueError, match="every must be a positive number of steps"):
        Checkpoints(ResultCache(tmp_path), "tiny", {}, every=0)


def test_training_rejects_bad_settings():
    network, optimizer, data = tiny_setup()
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        train(network, optimizer, data, steps=-1, batch_size=4, seed=0, eval_steps=[0])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        train(network, optimizer, data, steps=3, batch_size=0, seed=0, eval_steps=[0])
    with pytest.raises(ValueError, match="same non-zero number of rows"):
        Dataset(data.train_inputs, data.train_labels[:-1], data.validation_inputs, data.validation_labels)


def test_full_batch_mlp_training_decreases_the_loss():
    task = modular_task(11, "x+y")
    train_rows, val_rows = task.split(0.5, 0)
    data = Dataset(task.pairs(train_rows), task.c[train_rows], task.pairs(val_rows), task.c[val_rows])
    history = train(QuadraticMLP(11, 32, seed=0), AdamW(lr=1e-2, weight_decay=0.0), data, steps=50,
                    batch_size=data.n_train, seed=0, eval_steps=[0, 50])
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]


# -- the experiment -------------------------------------------------------------------------------
TINY = grokking.Config(
    transformer=grokking.TransformerRun(modulus=7, width=16, heads=2, steps=30, linear_evaluations=6),
    mlp=grokking.MLPRun(modulus=11, width=24, steps=30, linear_evaluations=6),
    mlp_seeds=(0, 1), phase_fractions=(0.2, 0.6), phase_weight_decays=(0.0, 1.0), phase_steps=20,
    init_scales=(3.0,), init_steps=20,
)


@pytest.fixture(scope="module")
def result():
    return grokking.run(TINY)


def test_the_run_covers_every_setting(result):
    assert len(result.mlp) == 2 and len(result.phase) == 4 and len(result.contrast) == 2
    assert result.phase_grid().shape == result.phase_grid("t_val").shape == (2, 2)
    assert {r.run.seed for r in result.mlp} == {0, 1}
    assert list(zip(result.phase.weight_decay, result.phase.train_fraction)) == [
        (0.0, 0.2), (0.0, 0.6), (1.0, 0.2), (1.0, 0.6)]
    assert [(r.run.train_fraction, r.run.seed) for r in result.contrast] == [(0.1, 0), (0.1, 1)]
    assert [(r.run.init_scale, r.run.seed, r.run.steps) for r in result.init] == [(3.0, 0, 20), (3.0, 1, 20)]
    assert result.transformer.batch_size == min(512, result.transformer.n_train // 2)
    assert result.mlp[0].batch_size == result.mlp[0].n_train  # full batch
    assert result.mlp[0].history.array("steps")[-1] == TINY.mlp.steps


def test_mlp_computes_in_float64_and_the_transformer_in_float32(monkeypatch):
    assert grokking.MLPRun().dtype == "float64" and grokking.TransformerRun().dtype == "float32"
    built = []
    for name in ("QuadraticMLP", "DecoderTransformer"):
        cls = getattr(grokking, name)
        monkeypatch.setattr(grokking, name,
                            lambda *a, _cls=cls, **k: built.append(_cls(*a, **k)) or built[-1])
    grokking.train_run(replace(TINY.mlp, steps=2, linear_evaluations=1))
    grokking.train_run(replace(TINY.transformer, steps=2, linear_evaluations=1))
    assert [net.params.dtype for net in built] == [np.float64, np.float32]
    with pytest.raises(ValueError, match="dtype must be one of"):
        grokking.MLPRun(dtype="float16")


def test_runs_that_differ_only_in_their_evaluations_are_trained_once(monkeypatch):
    config = replace(TINY, contrast_fraction=0.2, mlp=replace(TINY.mlp, train_fraction=0.5))
    trained = []
    real = grokking.train_run

    def counting(run, **options):
        trained.append(run)
        return real(run, **options)

    monkeypatch.setattr(grokking, "train_run", counting)
    monkeypatch.setattr(grokking, "phase_sweep", lambda *args, **kwargs: None)
    grokking.run(config)
    assert len(trained) == 1 + 2 + 2 + 2 == len({r.trained_as() for r in trained})
    config = replace(config, contrast_fraction=0.1, init_scales=(1.0,), init_steps=config.mlp.steps)
    trained.clear()
    result = grokking.run(config)  # the initialisation runs at scale 1 are the MLP runs
    assert len(trained) == 1 + 2 + 2 and result.init[0] is result.mlp[0]
    assert (grokking.MLPRun(linear_evaluations=3).trained_as()
            == grokking.MLPRun(dense_evaluations=9).trained_as())


def test_evaluation_steps_dense_then_linear():
    run = grokking.MLPRun(steps=60, dense_evaluations=5, evaluations_per_decade=0, linear_evaluations=6)
    np.testing.assert_array_equal(grokking.evaluation_steps(run), [0, 1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 60])
    only_end = grokking.MLPRun(steps=60, evaluations_per_decade=0, linear_evaluations=1)
    np.testing.assert_array_equal(grokking.evaluation_steps(only_end), [0, 60])
    assert 1 in grokking.evaluation_steps(grokking.MLPRun(steps=60, evaluations_per_decade=3))


def test_estimates_over_seeds_are_median_and_range():
    estimate = grokking.over_seeds([21.0, 25.5, 23.0])
    assert (estimate.value, estimate.low, estimate.high) == (23.0, 21.0, 25.5)
    assert "3 seeds" in estimate.method
    assert grokking.over_seeds([9.0, np.inf, 10.0]).high == np.inf  # a seed that never generalised
    assert np.isnan(grokking.over_seeds([1.0, np.nan]))  # a ratio that does not exist fails its claim


def history_of(train_acc, val_acc, norms):
    steps = list(range(0, 10 * len(train_acc), 10))
    zeros = [0.0] * len(steps)
    return History(steps, zeros, list(train_acc), zeros, list(val_acc), list(norms))


def test_grokking_times_and_ratios_by_hand():
    history = history_of([0.1, 0.995, 1, 1, 1], [0.0, 0.3, 0.6, 0.992, 1], [9, 8, 7, 6, 5])
    record = grokking.RunRecord(grokking.MLPRun(), history, 10, 10, 10)
    assert (record.t_train, record.t_val) == (10.0, 30.0)
    assert record.validation_at_t_train() == 0.3 and record.delay_ratio() == 3.0
    assert record.norm_ratio() == pytest.approx(6 / 8)
    never = grokking.RunRecord(grokking.MLPRun(), history_of([0.5] * 3, [0.1] * 3, [1] * 3), 1, 1, 1)
    assert never.t_train == np.inf and np.isnan(never.norm_ratio())


def test_phase_contrasts_by_hand(result):
    import pandas as pd

    fake = grokking.Result(TINY, result.transformer, [])
    finals = [0.1, 0.995, 0.2, 0.3]  # wd 0: one stays below 50%, one reaches 99%; wd 1: neither
    fake.phase = pd.DataFrame({"weight_decay": [0.0, 0.0, 1.0, 1.0], "train_fraction": [0.2, 0.6] * 2,
                               "final_validation_accuracy": finals})
    np.testing.assert_array_equal(fake.phase_grid(), [[0.1, 0.995], [0.2, 0.3]])
    assert fake.phase_contrasts() == [0.0]


def test_the_phase_sweep_is_the_runs_it_stands_for(result):
    """Each cell of the sweep is the first seed's MLP run at that fraction and weight decay."""
    row = result.phase.iloc[-1]
    run = replace(TINY.phase_base(), weight_decay=row.weight_decay, train_fraction=row.train_fraction)
    alone = grokking.train_run(run).summary()
    assert alone["final_validation_accuracy"] == row.final_validation_accuracy
    assert alone["t_train"] == row.t_train


def test_figures_are_labelled_and_summary_is_json(result):
    for fig in grokking.figures(result).values():
        for ax in fig.axes:
            if ax.get_label() != "<colorbar>":
                assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)
    summary = grokking.summary(result)
    json.dumps(summary)
    assert set(summary) == {"transformer", "mlp", "mlp_medians", "mlp_estimates", "contrast",
                            "final_validation_estimates", "phase_diagram", "initialisation"}
    assert set(summary["final_validation_estimates"]) == {"0.1", "0.5"}


def test_train_run_resumes_through_the_cache(tmp_path):
    run = TINY.transformer
    reference = grokking.train_run(run)
    cache = ResultCache(tmp_path)

    def interrupt(step):
        if step == 17:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grokking.train_run(run, cache=cache, checkpoint_every=5, callback=interrupt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is corrupt here
        resumed = grokking.train_run(run, cache=cache, checkpoint_every=5)
    for name in History.FIELDS:
        np.testing.assert_array_equal(resumed.history.array(name), reference.history.array(name))


@pytest.mark.parametrize("make, match", [
    (lambda: grokking.TransformerRun(width=10, heads=4), "multiple of heads"),
    (lambda: grokking.TransformerRun(operation="x*y"), "operation must be one of"),
    (lambda: grokking.MLPRun(train_fraction=1.2), "train_fraction"),
    (lambda: grokking.MLPRun(betas=(0.9, 1.0)), "betas"),
    (lambda: grokking.MLPRun(lr=0.0), "lr > 0"),
    (lambda: grokking.Config(mlp_seeds=()), "at least one MLP seed"),
    (lambda: grokking.Config(checkpoint_every=-1), "checkpoint_every >= 0"),
    (lambda: grokking.Config(mlp_seeds=(0, 0, 1)), "seeds must differ"),
    (lambda: grokking.Config(contrast_fraction=0.3), "contrast_fraction must lie in"),
    (lambda: grokking.MLPRun(dense_evaluations=-1), "evaluations must be >= 0"),
])
def test_config_rejects_bad_settings(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_cli_runs_grokking_with_a_cache(tmp_path, monkeypatch):
    monkeypatch.setitem(grokking.SCALES, "book", TINY)
    args = ["run", "grokking", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert cli.main(args) == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "summary.json", "transformer.png", "mlp.png", "initialisation.png", "phase_diagram.png"}


def test_scaled_initial_weights_scale_the_initial_norm_exactly():
    """Omnigrok's alpha: every initial weight times alpha, so the norm at step 0 times alpha."""
    plain = grokking.train_run(replace(TINY.mlp, steps=1, linear_evaluations=1))
    scaled = grokking.train_run(replace(TINY.mlp, steps=1, linear_evaluations=1, init_scale=3.0))
    assert scaled.history.parameter_norm[0] == pytest.approx(3 * plain.history.parameter_norm[0], rel=1e-12)
    with pytest.raises(ValueError, match="init_scale must be positive"):
        grokking.MLPRun(init_scale=0.0)
    with pytest.raises(ValueError, match="init_scales must be positive"):
        replace(TINY, init_scales=(-1.0,))


def test_estimates_at_a_scale_that_was_not_run_are_refused(result):
    assert set(result.mlp_estimates(3.0)) == set(result.mlp_estimates())
    with pytest.raises(KeyError, match="no MLP runs at init_scale 7"):
        result.mlp_estimates(7.0)


def test_norm_growth_by_hand():
    history = grokking.History(steps=[0, 5, 9], train_accuracy=[0.0, 1.0, 1.0],
                               validation_accuracy=[0.0, 0.2, 1.0], parameter_norm=[4.0, 6.0, 3.0],
                               train_loss=[1.0, 0.1, 0.1], validation_loss=[1.0, 0.9, 0.1])
    record = grokking.RunRecord(TINY.mlp, history, 10, 10, 10)
    assert (record.t_train, record.t_val) == (5, 9)
    assert record.norm_ratio() == pytest.approx(0.5) and record.norm_growth() == pytest.approx(0.75)


def test_drops_after_memorisation_by_hand():
    history = grokking.History(steps=[0, 5, 9, 12, 20], train_accuracy=[0.0, 1.0, 0.5, 1.0, 0.8],
                               validation_accuracy=[0.0] * 5, parameter_norm=[1.0] * 5,
                               train_loss=[1.0] * 5, validation_loss=[1.0] * 5)
    record = grokking.RunRecord(TINY.mlp, history, 10, 10, 10)
    assert record.t_train == 5 and record.drops_after_t_train() == 2
    assert record.drops_after_t_train(level=0.4) == 0
