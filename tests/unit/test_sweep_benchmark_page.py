"""The sweep benchmark's page: ``book/_generated/sweep_costs.md`` is the rendering of the stored
record (so the book never quotes a number the record does not hold), the rendering of a small
hand-made record, and the record's grids against the experiments' current configurations."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memopt.experiments import double_descent, grokking, sgd

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
RECORD = BENCHMARKS / "results" / "sweep.json"
PAGE = ROOT / "book" / "_generated" / "sweep_costs.md"


def _load_benchmark():
    sys.path.insert(0, str(BENCHMARKS))  # the benchmark imports its sibling _record
    try:
        spec = importlib.util.spec_from_file_location("sweep_benchmark", BENCHMARKS / "sweep.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


bench = _load_benchmark()


def small_record(load_before: float = 0.1) -> dict:
    """A record as :func:`main` writes it, with round numbers to check the rendering by hand."""
    return {
        "command": "python benchmarks/sweep.py --steps 40 --noop-cells 200 --repeats 2",
        "grid": {"experiment": "grokking", "cells": 8, "steps": 40},
        "machine": {"processor": "Test CPU", "cpu_count": 2, "workers": 2,
                    "load_average_1min_before": load_before, "load_average_1min": 1.96},
        "seconds": {"serial": 10.0, "cluster": 5.24, "serial_runs": [10.5, 10.0],
                    "cluster_runs": [5.24, 5.3], "cluster_startup": 1.26},
        "speedup": 1.91,
        "overhead_per_cell_ms": {"run_sweep_on_cluster": 7.5, "run_sweep_serial_cache_only": 2.25,
                                 "bare_dask_task": 2.0},
        "cell_costs": {
            "grokking": {"book": {"cell_seconds": 9.46, "timed": "one run", "cells": 12,
                                  "grids": [{"weight_decay": [0.0, 1.0, 5.0],
                                             "train_fraction": [0.1, 0.2, 0.3, 0.5]}],
                                  "grid_seconds_one_core": 114}},
            "double_descent": {"paper": {"cell_seconds": 0.31, "width": 800, "widest_cell_seconds": 5.15,
                                         "widest": 16000, "timed": "two fits", "cells": 2120,
                                         "grids": [{"seed": list(range(20)), "label_noise": [0.0, 0.2],
                                                    "width": list(range(53))}],
                                         "grid_seconds_one_core_at_most": 10918}},
            "sgd": {"book": {"cell_seconds": 0.04, "timed": "one run", "cells": 512,
                             "grids": [{"step": [0.2, 0.05, 0.0125, 0.003125], "seed": list(range(64))},
                                       {"batch_size": [1, 4, 16, 64], "step": [0.1], "seed": list(range(64))}],
                             "grid_seconds_one_core": 330}},
        },
    }


def test_the_committed_page_is_the_rendering_of_the_stored_record():
    record = json.loads(RECORD.read_text())
    assert PAGE.read_text() == bench.render_markdown(record), (
        "book/_generated/sweep_costs.md differs from its record: run python benchmarks/sweep.py --render-only")


def test_the_table_rows_of_a_small_record():
    lines = bench.render_markdown(small_record()).splitlines()
    assert "| experiment | scale | seconds per cell | chapter's grid | cells | on one core |" in lines
    assert "| grokking | book | 9.5 | weight_decay (3) × train_fraction (4) | 12 | 114 s |" in lines
    assert ("| double_descent | paper | 0.31 (width 800), 5.2 (width 16000) "
            "| seed (20) × label_noise (2) × width (53) | 2120 | at most 3.0 h |") in lines
    assert ("| sgd | book | 0.04 | step (4) × seed (64) + batch_size (4) × step = 0.1 × seed (64) "
            "| 512 | 6 min |") in lines
    assert "Cells timed: grokking, one run; double_descent, two fits; sgd, one run." in lines


def test_the_paragraph_quotes_the_record_and_reads_the_load():
    idle = bench.render_markdown(small_record(load_before=0.1))
    for quoted in ("Test CPU with 2 cores", "8 short grokking cells (40 steps each)", "10.0 s one after another",
                   "5.2 s on a local cluster of 2 worker processes", "the least of 2 runs each",
                   "start-up, 1.3 s, apart", "a speed-up of 1.91", "7.5 ms to each cell on the cluster",
                   "a bare Dask task: 2.0 ms", "2.2 ms one after another", "0.1 before the measurement",
                   "2.0 after it", "the cores were otherwise idle"):
        assert quoted in idle
    busy = bench.render_markdown(small_record(load_before=3.0))
    assert "the 2 workers shared its cores" in busy and "otherwise idle" not in busy
    slow = small_record(load_before=3.0) | {"speedup": 0.97}
    assert "no speed-up" in bench.render_markdown(slow)


def test_a_record_without_cell_costs_renders_the_paragraph_alone():
    page = bench.render_markdown(small_record() | {"cell_costs": {}})
    assert "| experiment |" not in page and "Measured by" in page


@given(st.floats(min_value=1e-6, max_value=1e9))
def test_seconds_keep_two_significant_figures(value):
    shown = float(bench._seconds(value))
    assert abs(shown - value) <= 0.05 * value and "e" not in bench._seconds(value)


@pytest.mark.parametrize("scale", ["book", "paper"])
def test_the_record_sizes_the_current_chapter_grids(scale):
    """Cell counts from the experiments' configurations, counted here independently."""
    g, d, s = grokking.SCALES[scale], double_descent.SCALES[scale], sgd.SCALES[scale]
    expected = {
        "grokking": len(g.phase_fractions) * len(g.phase_weight_decays),
        "double_descent": len(d.sizes) * len({0.0, d.label_noise}) * d.draws,
        "sgd": (len(s.constant_steps) + len(s.batch_sizes)) * s.runs,
    }
    costs = json.loads(RECORD.read_text())["cell_costs"]
    assert {name: costs[name][scale]["cells"] for name in expected} == expected
    grids = json.loads(json.dumps(bench.chapter_grids(scale)))
    assert {name: costs[name][scale]["grids"] for name in grids} == {name: grids[name]["grids"] for name in grids}
    assert costs["grokking"][scale]["grids"] == [json.loads(json.dumps(g.phase_grid()))]
    for entry in (costs[name][scale] for name in expected):
        rate = entry.get("widest_cell_seconds", entry["cell_seconds"])
        total = entry.get("grid_seconds_one_core", entry.get("grid_seconds_one_core_at_most"))
        assert total == round(entry["cells"] * rate)


def test_a_missing_record_is_a_one_line_exit(tmp_path):
    with pytest.raises(SystemExit, match="no record at .*run python benchmarks/sweep.py first"):
        bench.stored_record(tmp_path / "sweep.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SystemExit, match="is not valid JSON"):
        bench.stored_record(tmp_path / "bad.json")
