"""Wall time of one sweep grid run one cell after another and on a two-worker Dask
``LocalCluster``, in the same process, and the cost a sweep adds to every cell.

The grid is ``memopt sweep grokking`` over weight decay x training fraction x seed (8 cells)
with a short budget (``--steps``, evaluated only at the start and the end), so the whole
benchmark takes about a minute. Each run starts from an empty cache, so every cell is computed;
the two sides alternate (``--repeats``) and the least time of each counts. The cluster's
start-up (two worker processes that import memopt) is timed apart, and each worker computes one
cell before the timing, so that its first import of the experiment is not counted.

The overhead per cell is timed on a grid of no-op cells: through :func:`memopt.sweep.run_sweep`
(task, transfer of the cell's configuration and result, cache write) on the cluster and one
after another (cache write only), and as bare ``client.submit`` tasks (the scheduler alone).

Then one cell of each supported experiment is timed at the book's and the paper's scale, one
after another in this process (``--no-cell-costs`` skips it), and each chapter's main grid, as
the experiment's configuration defines it, is sized.

The speed-up can reach the number of workers only when the cores are otherwise idle: the
record keeps the 1-minute load average before and after.

    python benchmarks/sweep.py [--steps 40] [--noop-cells 200] [--repeats 2]

writes benchmarks/results/sweep.json and its Markdown, book/_generated/sweep_costs.md, which
``book/scale.md`` includes. ``--render-only`` writes the Markdown again from the stored JSON
without measuring; ``--regrid`` first sizes the chapters' grids again from the current
configurations (keeping the measured seconds per cell), for when a grid changed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _record import machine, write
from tqdm.auto import tqdm

from memopt import sweep
from memopt.cache import ResultCache

RESULTS = Path(__file__).parent / "results" / "sweep.json"
PAGE = Path(__file__).parents[1] / "book" / "_generated" / "sweep_costs.md"
WORKERS = 2


def noop(config) -> dict:
    """A cell that does nothing: what remains of its time is the sweep's own cost."""
    return {"value": 0.0}


def timed(task):
    start = time.perf_counter()
    out = task()
    return time.perf_counter() - start, out


def chapter_grids(scale: str) -> dict[str, dict]:
    """The grids of cells that reproduce each chapter's main sweep at ``scale``, as the
    experiments' configurations define them, with their total number of cells: grokking's
    phase diagram (``Config.phase_grid``), double descent's random Fourier fits
    (``fourier_grid``: draws x clean and noisy labels x widths) and SGD's constant-step and
    mini-batch runs over their seeds. Values are lists, as the JSON record stores them."""
    from memopt.experiments import double_descent, grokking, sgd

    g, d, s = grokking.SCALES[scale], double_descent.SCALES[scale], sgd.SCALES[scale]
    grids = {
        "grokking": [g.phase_grid()],
        "double_descent": [double_descent.fourier_grid(d)],
        # the chapter's constant-step runs use single samples; its mini-batch runs one step
        "sgd": [{"step": s.constant_steps, "seed": s.seeds},
                {"batch_size": s.batch_sizes, "step": (s.batch_step,), "seed": s.seeds}],
    }
    return {name: {"grids": [{key: list(values) for key, values in grid.items()} for grid in parts],
                   "cells": sum(sweep.cell_count(grid) for grid in parts)}
            for name, parts in grids.items()}


#: What one timed cell of each experiment is (the record keeps it beside the seconds).
TIMED = {
    "grokking": "the phase diagram's run (`Config.phase_base()`)",
    "double_descent": "the base fit (`fit_base()`, as many features as training digits) and the sweep's widest",
    "sgd": "one run at the base configuration (single samples)",
}


def timed_configs(scale: str) -> dict[str, object]:
    """The configuration of the cell timed for each experiment at ``scale``."""
    from memopt.experiments import grokking

    return {name: grokking.SCALES[scale].phase_base() if name == "grokking" else sweep.cell_of(name).scales[scale]
            for name in sweep.CELLS}


def size_grids(costs: dict) -> dict:
    """``costs`` (experiment -> scale -> entry with ``cell_seconds``) with each entry's grids,
    cell count and cost on one core set from the current configurations: cells times seconds
    per cell, for double descent times its widest cell's seconds (a bound, as its cells grow
    with the width)."""
    out = {}
    for name, scales in costs.items():
        for scale, entry in scales.items():
            entry = {key: value for key, value in entry.items() if not key.startswith("grid")}
            entry.update(chapter_grids(scale)[name])
            rate = entry.get("widest_cell_seconds", entry["cell_seconds"])
            entry["grid_seconds_one_core" + ("_at_most" if "widest" in entry else "")] = round(entry["cells"] * rate)
            out.setdefault(name, {})[scale] = entry
    return out


def cell_costs() -> dict:
    """Seconds of one cell of each experiment here (:data:`TIMED`), at the book's and the
    paper's scale (for double descent also at the chapter's widest sweep point, its dearest
    cell), with each chapter grid's size and its cost on one core at that rate
    (:func:`size_grids`)."""
    from memopt.experiments import double_descent

    warm_up = {"grokking": {"steps": 1}, "double_descent": {"width": 5}, "sgd": {"iterations": 10}}
    for name, tiny in warm_up.items():  # imports, data loading and JIT compilation, untimed
        cell = sweep.cell_of(name)
        sweep.compute_cell(cell, replace(cell.scales["book"], **tiny))
    costs = {}
    timings = [(scale, name, config) for scale in ("book", "paper")
               for name, config in timed_configs(scale).items()]
    for scale, name, config in tqdm(timings, desc="one cell of each experiment"):
        cell = sweep.cell_of(name)
        seconds, _ = timed(lambda: sweep.compute_cell(cell, config))
        entry = {"cell_seconds": round(seconds, 2), "timed": TIMED[name]}
        if name == "double_descent":
            widest = double_descent.SCALES[scale].sizes[-1]
            seconds, _ = timed(lambda: sweep.compute_cell(cell, replace(config, width=widest)))
            entry.update(width=config.width, widest_cell_seconds=round(seconds, 2), widest=widest)
        costs.setdefault(name, {})[scale] = entry
    return size_grids(costs)


# -- the Markdown that book/scale.md includes ------------------------------------------------------
def _seconds(value: float) -> str:
    """Seconds to two significant figures, in decimal notation (no exponent, no trailing zero)."""
    if value == 0:
        return "0"
    digits = 1 - math.floor(math.log10(abs(value)))
    text = f"{round(value, digits):.{max(digits, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _duration(seconds: float) -> str:
    """A duration as a reader takes it in: seconds, minutes or hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _grid_text(grids: list[dict]) -> str:
    """``key (n values) × ...`` for each grid, a key with one value as ``key = value``."""
    def part(key, values):
        return f"{key} = {values[0]:g}" if len(values) == 1 else f"{key} ({len(values)})"

    return " + ".join(" × ".join(part(key, values) for key, values in grid.items()) for grid in grids)


def _load_wording(before: float, cores: int, workers: int) -> str:
    """What the load average before the measurement says about the speed-up."""
    if before >= 0.75 * cores:
        return (f"the machine was busy with other work, so the {workers} workers shared its cores with "
                f"it and the speed-up falls short of what {workers} idle cores give")
    if before >= 0.25 * cores:
        return "other work took part of the cores, so the speed-up may fall short of what idle cores give"
    return "the cores were otherwise idle"


def render_markdown(record: dict) -> str:
    """The cost table and the paragraph on the cluster's speed-up and the sweep's overhead,
    from a record written by :func:`main`: every number comes from ``record``."""
    machine_, seconds, overhead = record["machine"], record["seconds"], record["overhead_per_cell_ms"]
    grid, workers = record["grid"], machine_["workers"]
    lines = ["% Written by `python benchmarks/sweep.py` from benchmarks/results/sweep.json: do not edit.", ""]
    costs = record.get("cell_costs") or {}
    if costs:
        lines += ["| experiment | scale | seconds per cell | chapter's grid | cells | on one core |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name, scales in costs.items():
            for scale, entry in scales.items():
                per_cell = _seconds(entry["cell_seconds"])
                if "widest" in entry:
                    per_cell = (f"{per_cell} (width {entry['width']}), "
                                f"{_seconds(entry['widest_cell_seconds'])} (width {entry['widest']})")
                total = entry.get("grid_seconds_one_core")
                total = (_duration(total) if total is not None
                         else f"at most {_duration(entry['grid_seconds_one_core_at_most'])}")
                lines.append(f"| {name} | {scale} | {per_cell} | {_grid_text(entry['grids'])} "
                             f"| {entry['cells']} | {total} |")
        timed_ = {name: scales[next(iter(scales))].get("timed") for name, scales in costs.items()}
        lines += ["", "Cells timed: " + "; ".join(f"{name}, {what}" for name, what in timed_.items() if what) + ".", ""]
    before, after = machine_["load_average_1min_before"], machine_["load_average_1min"]
    speedup = record["speedup"]
    gain = (f"a speed-up of {speedup:.2f}" if speedup >= 1.05
            else f"no speed-up (the serial time over the cluster's: {speedup:.2f})")
    lines.append(
        f"Measured by `{record['command']}` on {machine_['processor']} with {machine_['cpu_count']} cores: "
        f"the benchmark's grid of {grid['cells']} short {grid['experiment']} cells ({grid['steps']} steps each) "
        f"took {seconds['serial']:.1f} s one after another and {seconds['cluster']:.1f} s on a local cluster of "
        f"{workers} worker processes (the least of {len(seconds['serial_runs'])} runs each; the cluster's "
        f"start-up, {seconds['cluster_startup']:.1f} s, apart): {gain}. "
        f"The sweep added {overhead['run_sweep_on_cluster']:.1f} ms to each cell on the cluster "
        f"(a bare Dask task: {overhead['bare_dask_task']:.1f} ms) and {overhead['run_sweep_serial_cache_only']:.1f} ms "
        f"one after another (the cache write). The 1-minute load average was {before:.1f} before the "
        f"measurement and {after:.1f} after it (which counts the benchmark's own work): {_load_wording(before, machine_['cpu_count'], workers)}.")
    return "\n".join(lines) + "\n"


def write_markdown(record: dict, path: Path = PAGE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(record))
    print(f"wrote {path}")


def stored_record(path: Path = RESULTS) -> dict:
    """The record a previous run wrote, or a one-line exit saying why there is none."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"no record at {path}: run python benchmarks/sweep.py first") from None
    except json.JSONDecodeError as error:
        raise SystemExit(f"{path} is not valid JSON ({error})") from None


def regrid(record: dict) -> dict:
    """``record`` with its chapters' grids sized again from the current configurations
    (:func:`size_grids`); the seconds per cell stay as measured. An entry from before the
    record named the cell it timed gets the name of the cell timed then: the scale's base cell
    of :mod:`memopt.sweep` (for grokking the chapter's base MLP run)."""
    before = {"grokking": "the chapter's base MLP run (`Config.mlp`, evaluated more often than the phase "
                          "diagram's runs)"}
    costs = {}
    for name, scales in record.get("cell_costs", {}).items():
        for scale, entry in scales.items():
            entry = {"timed": before.get(name, TIMED[name]), **entry}
            if "widest" in entry:
                entry.setdefault("width", sweep.cell_of(name).scales[scale].width)
            costs.setdefault(name, {})[scale] = entry
    return {**record, "cell_costs": size_grids(costs)}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps of each grokking cell")
    parser.add_argument("--noop-cells", type=int, default=200, help="cells of the no-op grid")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each side (the least counts)")
    parser.add_argument("--no-cell-costs", action="store_true",
                        help="skip timing one cell of each experiment at book and paper scale")
    stored = parser.add_mutually_exclusive_group()
    stored.add_argument("--render-only", action="store_true",
                        help=f"measure nothing: write {PAGE.name} again from the stored {RESULTS.name}")
    stored.add_argument("--regrid", action="store_true",
                        help="measure nothing: size the chapters' grids again from the current "
                             "configurations in the stored record, then write the Markdown")
    args = parser.parse_args()
    if args.render_only or args.regrid:
        record = stored_record()
        if args.regrid:
            record = write(regrid(record), RESULTS)
        write_markdown(record)
        return record

    cell = sweep.cell_of("grokking")
    base = replace(cell.scales["book"], steps=args.steps, dense_evaluations=0, linear_evaluations=1)
    grid = {"weight_decay": [0.0, 1.0], "train_fraction": [0.2, 0.5], "seed": [0, 1]}
    noop_cell = replace(sweep.cell_of("sgd"), experiment="noop", compute=noop, columns=("value",))
    noop_grid = {"seed": list(range(args.noop_cells))}
    load_before = os.getloadavg()[0]

    print(f"timing {sweep.cell_count(grid)} cells one after another and on {WORKERS} workers, "
          f"{args.repeats} times each", file=sys.stderr, flush=True)
    serial_times, cluster_times = [], []
    with tempfile.TemporaryDirectory() as root:
        def fresh(name):
            return ResultCache(Path(root) / f"{name}-{len(serial_times)}-{len(cluster_times)}")

        noop_serial_s, _ = timed(lambda: sweep.run_sweep(noop_cell, noop_grid, cache=fresh("noop")))
        start = time.perf_counter()
        with sweep.connect(workers=WORKERS) as client:
            startup_s = time.perf_counter() - start
            # one cell on each worker first: a worker imports the experiment on its first cell
            client.gather([client.submit(sweep.compute_cell, cell, replace(base, steps=1), pure=False)
                           for _ in range(WORKERS)])
            for _ in range(args.repeats):  # alternated, so that a change of load hits both sides
                seconds, serial = timed(lambda: sweep.run_sweep(cell, grid, base=base, cache=fresh("serial")))
                serial_times.append(seconds)
                seconds, parallel = timed(lambda: sweep.run_sweep(cell, grid, base=base, client=client,
                                                                  cache=fresh("cluster")))
                cluster_times.append(seconds)
            noop_cluster_s, _ = timed(lambda: sweep.run_sweep(noop_cell, noop_grid, client=client,
                                                              cache=fresh("noop_cluster")))
            bare_s, _ = timed(lambda: client.gather([client.submit(noop, i, pure=False)
                                                     for i in range(args.noop_cells)]))
    serial_s, cluster_s = min(serial_times), min(cluster_times)
    costs = {} if args.no_cell_costs else cell_costs()
    if not serial.table.equals(parallel.table):
        raise SystemExit("the cluster's table differs from the serial one")
    cells = sweep.cell_count(grid)
    record = write({
        "benchmark": "one sweep grid serial vs on a LocalCluster of 2 worker processes (1 thread each)",
        "command": (f"python benchmarks/sweep.py --steps {args.steps} --noop-cells {args.noop_cells} "
                    f"--repeats {args.repeats}"),
        "grid": {"experiment": "grokking", "cells": cells, "steps": args.steps,
                 **{key: values for key, values in grid.items()}},
        "machine": machine(workers=WORKERS, load_average_1min_before=round(load_before, 2)),
        "seconds": {
            "serial": round(serial_s, 2),
            "cluster": round(cluster_s, 2),
            "serial_runs": [round(t, 2) for t in serial_times],
            "cluster_runs": [round(t, 2) for t in cluster_times],
            "cluster_startup": round(startup_s, 2),
            "serial_per_cell": round(serial_s / cells, 3),
        },
        "speedup": round(serial_s / cluster_s, 2),
        "same_table": True,
        "overhead_per_cell_ms": {
            "run_sweep_on_cluster": round(1e3 * noop_cluster_s / args.noop_cells, 2),
            "run_sweep_serial_cache_only": round(1e3 * noop_serial_s / args.noop_cells, 2),
            "bare_dask_task": round(1e3 * bare_s / args.noop_cells, 2),
        },
        "cell_costs": costs,
    }, RESULTS)
    write_markdown(record)
    return record


if __name__ == "__main__":  # the cluster's workers are spawned: they must not run this again
    main()
