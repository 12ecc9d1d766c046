"""Sweeps: the same table on a Dask cluster as one after another, resumption from the cache
after a failure or an interruption, the cells against the chapters' own computations, and
clear errors for bad grids."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memopt import sweep
from memopt.cache import ResultCache

pd = pytest.importorskip("pandas")
distributed = pytest.importorskip("dask.distributed")

# Tiny cells: each computes in well under a second.
TINY = {
    "grokking": (["modulus=11", "width=8", "steps=6", "dense_evaluations=0", "linear_evaluations=2",
                  "weight_decay=0,1", "train_fraction=0.3,0.6"], 2),
    "double_descent": (["n_train=30", "n_validation=10", "width=5,30,90", "label_noise=0,0.2"], 2),
    "sgd": (["n_samples=20", "iterations=200", "step=0.05,0.2", "batch_size=1,4"], 2),
}


def tiny_grid(name):
    cell = sweep.cell_of(name)
    items, seeds = TINY[name]
    return cell, sweep.parse_grid(cell, items, seeds)


# -- a toy cell that counts its computations and can fail ---------------------------------------
@dataclass(frozen=True)
class Toy:
    x: int = 0
    scale: float = 1.0
    seed: int = 0


COMPUTED: list[Toy] = []
FAIL_AT: set[int] = set()
LOCK = threading.Lock()


def toy_compute(config: Toy) -> dict:
    with LOCK:
        COMPUTED.append(config)
    if config.x in FAIL_AT:
        raise ArithmeticError(f"x = {config.x} fails")
    rng = np.random.default_rng([config.seed, config.x])  # the seed decides the result
    return {"value": config.scale * config.x + rng.standard_normal()}


TOY = sweep.Cell("toy", Toy, toy_compute, ("value",), {"book": Toy()}, "a toy cell")
TOY_GRID = {"x": list(range(6)), "seed": [0, 1]}


@pytest.fixture
def toy():
    COMPUTED.clear()
    FAIL_AT.clear()
    yield
    FAIL_AT.clear()


@pytest.fixture(scope="module")
def threads_client():
    """Two workers of one thread in this process: the toy cell's counters are visible here."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None, silence_logs="error") as cluster, \
            distributed.Client(cluster) as client:
        yield client


# -- distributed == serial --------------------------------------------------------------------
@pytest.mark.slow
def test_a_two_worker_cluster_gives_the_serial_table_bit_for_bit(tmp_path):
    """Two worker processes (one thread each) against this process, fresh caches for both."""
    grids = {name: tiny_grid(name) for name in TINY}
    serial = {name: sweep.run_sweep(cell, grid, cache=ResultCache(tmp_path / "serial"))
              for name, (cell, grid) in grids.items()}
    with sweep.connect(workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        parallel = {name: sweep.run_sweep(cell, grid, client=client, cache=ResultCache(tmp_path / "dask"))
                    for name, (cell, grid) in grids.items()}
    for name in TINY:
        assert parallel[name].computed == serial[name].computed == sweep.cell_count(grids[name][1])
        pd.testing.assert_frame_equal(parallel[name].table, serial[name].table, check_exact=True)
        assert np.isfinite(serial[name].table.select_dtypes("number").to_numpy()[:, :1]).all()


def test_table_rows_follow_the_grid_whatever_the_order_of_completion(tmp_path, toy, threads_client):
    result = sweep.run_sweep(TOY, TOY_GRID, client=threads_client, cache=ResultCache(tmp_path))
    assert list(result.table.columns) == ["x", "seed", "value"]
    assert list(zip(result.table.x, result.table.seed)) == [(x, s) for x in range(6) for s in (0, 1)]
    expected = [x + np.random.default_rng([s, x]).standard_normal() for x in range(6) for s in (0, 1)]
    np.testing.assert_array_equal(result.table.value, expected)


# -- resuming ---------------------------------------------------------------------------------
@pytest.mark.parametrize("on_cluster", [False, True], ids=["serial", "cluster"])
def test_a_sweep_with_a_failing_cell_resumes_with_that_cell_only(tmp_path, toy, threads_client, on_cluster):
    client = threads_client if on_cluster else None
    cache = ResultCache(tmp_path)
    FAIL_AT.add(3)
    with pytest.raises(sweep.SweepError, match=r"2 of 12 cells failed .*x = 3 fails"):
        sweep.run_sweep(TOY, TOY_GRID, client=client, cache=cache)
    assert len(COMPUTED) == 12  # the others still ran
    FAIL_AT.clear()
    COMPUTED.clear()
    result = sweep.run_sweep(TOY, TOY_GRID, client=client, cache=cache)
    assert sorted(COMPUTED, key=lambda c: c.seed) == [Toy(x=3, seed=0), Toy(x=3, seed=1)]
    assert (result.from_cache, result.computed) == (10, 2)
    fresh = sweep.run_sweep(TOY, TOY_GRID, cache=ResultCache(tmp_path / "fresh"))
    pd.testing.assert_frame_equal(result.table, fresh.table, check_exact=True)


class Stop(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("on_cluster", [False, True], ids=["serial", "cluster"])
def test_an_interrupted_sweep_recomputes_none_of_its_finished_cells(tmp_path, toy, threads_client, on_cluster):
    client = threads_client if on_cluster else None
    cache = ResultCache(tmp_path)
    stored = []

    def interrupt_after_three(config, row):
        stored.append(config)
        if len(stored) == 3:
            raise Stop

    with pytest.raises(Stop):
        sweep.run_sweep(TOY, TOY_GRID, client=client, cache=cache, on_result=interrupt_after_three)
    assert len(stored) == 3
    COMPUTED.clear()
    result = sweep.run_sweep(TOY, TOY_GRID, client=client, cache=cache)
    assert result.from_cache == 3 and result.computed == 9
    # (a cell still running when the first sweep stopped may finish during the second)
    assert not set(COMPUTED) & set(stored)
    assert result.table.value.notna().all()
    again = sweep.run_sweep(TOY, TOY_GRID, client=client, cache=cache)
    assert (again.from_cache, again.computed) == (12, 0)
    pd.testing.assert_frame_equal(again.table, result.table, check_exact=True)


def test_a_stored_row_with_other_columns_is_recomputed(tmp_path, toy):
    cache = ResultCache(tmp_path)
    cache.save(TOY.cache_name, Toy(x=1), {"old": 0.0})
    result = sweep.run_sweep(TOY, {"x": [1, 2]}, cache=cache)
    assert (result.from_cache, result.computed) == (0, 2)
    assert list(result.table.columns) == ["x", "value"]


def test_a_cell_returning_other_columns_is_an_error(tmp_path):
    bad = replace(TOY, compute=lambda config: {"other": 1.0})
    with pytest.raises(sweep.SweepError, match="expected \\['value'\\]"):
        sweep.run_sweep(bad, {"x": [1]}, cache=ResultCache(tmp_path))


# -- the cells against the chapters ------------------------------------------------------------
def test_the_double_descent_cell_matches_the_chapter_sweep():
    """The chapter fits nested features with an updated factorization; the cell solves one
    width from scratch by SVD, on the same features (a prefix of the draw)."""
    from memopt.experiments import double_descent as dd

    config = dd.Config(n_train=40, n_validation=20, draws=2, grid_points=3, near_threshold=(1.0,),
                       relu=False, ridges=(0.1,), timing_stride=100)
    result = dd.run(config)
    cell = sweep.cell_of("double_descent")
    base = sweep.RandomFeaturesFit(n_train=40, n_validation=20, sigma=config.sigma)
    for draw in range(2):
        for j, width in enumerate(result.sizes):
            if abs(width - 40) < 5:  # ill-conditioned at the threshold: solvers differ there
                continue
            for target, noise in ((dd.CLEAN, 0.0), (dd.NOISY, config.label_noise)):
                row = sweep.compute_cell(cell, replace(base, width=int(width), seed=draw, label_noise=noise))
                curves = result.models[target]
                np.testing.assert_allclose(row["test_loss"], curves.test_loss[draw, j], rtol=1e-7)
                assert row["test_error"] == curves.test_error[draw, j]
                np.testing.assert_allclose(row["norm"], curves.norm[draw, j], rtol=1e-7)
            row = sweep.compute_cell(cell, replace(base, width=int(width), seed=draw, ridge=0.1))
            np.testing.assert_allclose(row["test_loss"], result.ridge[dd.CLEAN, 0.1].test_loss[draw, j], rtol=1e-7)


def test_the_sgd_cell_matches_the_chapters_batched_runs():
    """A run of seed s alone follows run s of the chapter's batch of runs."""
    from memopt.experiments import sgd

    config = sgd.Config(n_samples=30, runs=3, iterations=300, constant_steps=(0.2, 0.05),
                        batch_sizes=(1, 4))
    result = sgd.run(config)
    cell = sweep.cell_of("sgd")
    base = replace(cell.scales["book"], n_samples=30, iterations=300)
    for seed in range(3):
        for alpha, trace in result.constant.items():
            row = sweep.compute_cell(cell, replace(base, step=alpha, seed=seed))
            own = trace.suboptimality(result.f_star)[seed][trace.window(config.floor_window)].mean()
            np.testing.assert_allclose(row["floor"], own, rtol=1e-9)
        row = sweep.compute_cell(cell, replace(base, step=config.batch_step, batch_size=4, seed=seed))
        trace = result.batches[4]
        own = trace.suboptimality(result.f_star)[seed][trace.window(config.floor_window)].mean()
        np.testing.assert_allclose(row["floor"], own, rtol=1e-9)


def test_the_grokking_cell_is_the_chapters_run_summary():
    from memopt.experiments import grokking

    run = grokking.MLPRun(modulus=11, width=8, steps=6, dense_evaluations=0, linear_evaluations=2)
    row = sweep.compute_cell(sweep.cell_of("grokking"), run)
    summary = grokking.train_run(run).summary()
    np.testing.assert_equal(row, {name: summary[name] for name in sweep.GROKKING_COLUMNS})


def test_the_book_base_cells_are_the_chapters():
    from memopt.experiments import double_descent, grokking, sgd

    assert sweep.cell_of("grokking").scales["book"] == grokking.Config().mlp
    assert sweep.cell_of("double_descent").scales["paper"].n_train == double_descent.SCALES["paper"].n_train
    assert sweep.cell_of("sgd").scales["paper"].iterations == sgd.SCALES["paper"].iterations


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("items, message", [
    (["learning_rate=1"], r"unknown grid key 'learning_rate' for grokking; valid keys: modulus, operation, "),
    (["betas=1"], r"unknown grid key 'betas'"),  # a tuple field cannot be swept
    (["steps=ten"], r"grid value steps='ten' is not an int"),
    (["steps=1.5"], r"grid value steps='1.5' is not an int"),
    (["lr=nan"], r"not a finite float"),
    (["steps"], r"--grid takes key=v1,v2,...; got 'steps'"),
    (["steps="], r"--grid takes key=v1,v2"),
    (["steps=1", "steps=2"], r"grid key 'steps' is given twice"),
])
def test_bad_grids_are_named(items, message):
    with pytest.raises(sweep.SweepError, match=message):
        sweep.parse_grid(sweep.cell_of("grokking"), items)


def test_bad_values_name_the_cell_and_the_rule():
    cell = sweep.cell_of("grokking")
    with pytest.raises(sweep.SweepError, match=r"invalid cell \(train_fraction=1.5\): train_fraction must lie in \(0, 1\)"):
        sweep.expand(cell, sweep.parse_grid(cell, ["train_fraction=0.5,1.5"]))
    with pytest.raises(sweep.SweepError, match=r"operation must be one of \['x\+y'"):
        sweep.expand(cell, sweep.parse_grid(cell, ["operation=x^y"]))
    sgd_cell = sweep.cell_of("sgd")
    with pytest.raises(sweep.SweepError, match=r"step must lie in \(0, 1/\(2 mu\)\) = \(0, 0.5\)"):
        sweep.expand(sgd_cell, sweep.parse_grid(sgd_cell, ["step=0.6"]))


def test_seeds_and_experiments_are_checked():
    cell = sweep.cell_of("sgd")
    with pytest.raises(sweep.SweepError, match="not both"):
        sweep.parse_grid(cell, ["seed=1"], seeds=2)
    with pytest.raises(sweep.SweepError, match="--seeds must be >= 1"):
        sweep.parse_grid(cell, [], seeds=0)
    with pytest.raises(sweep.SweepError, match=r"sweepable experiments: grokking, double_descent, sgd"):
        sweep.cell_of("ovg")
    with pytest.raises(sweep.SweepError, match="unknown grid key"):
        sweep.expand(cell, {"colour": ["red"]})


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["x", "scale", "seed"]),
                       st.lists(st.integers(0, 5), min_size=1, max_size=4, unique=True), max_size=3))
def test_the_grid_expands_to_every_combination_in_order(grid):
    configs = sweep.expand(TOY, grid)
    assert len(configs) == sweep.cell_count(grid)
    combos = [tuple(getattr(c, k) for k in grid) for c in configs]
    assert combos == sorted(combos, key=lambda t: tuple(grid[k].index(v) for k, v in zip(grid, t)))
    assert len(set(configs)) == len(configs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=5))
def test_float_values_survive_the_command_line(values):
    grid = sweep.parse_grid(TOY, ["scale=" + ",".join(repr(v) for v in values)])
    assert grid["scale"] == list(dict.fromkeys(values))
