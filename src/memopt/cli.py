"""The ``memopt`` command: list the book's experiments, run them at book or paper scale, sweep
grids of their cells, and store paper-scale records.

    memopt list
    memopt run sgd --scale paper --device auto --out results/sgd
    memopt sweep grokking --grid weight_decay=0,1 --grid train_fraction=0.2,0.5 --seeds 2
    memopt record grokking --out grokking_record.json

``run`` shows a progress bar, caches the result by configuration hash (``--cache-dir``,
default ``$MEMOPT_CACHE`` or ``~/.cache/memopt``; long runs also checkpoint there and resume),
and writes ``summary.json`` and one PNG per figure into ``--out``. ``sweep`` runs one task per
cell of a grid on Dask (a LocalCluster by default, or ``--scheduler ADDRESS``), caches every
cell as it finishes, and writes ``sweep.csv`` into ``--out`` (see :mod:`memopt.sweep`). Every
mistake on the command line is reported in one line on stderr with exit code 2, before any
work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from memopt import backend, experiments
from memopt.cache import CACHE_VARIABLE, ResultCache, default_root

#: Experiments that compute with NumPy on the host whatever the device: their work is small and
#: sequential, and a GPU would only add transfers. book/gpu.md lists the same chapters.
HOST_ONLY = ("ovg", "convex_memory", "regression_memory", "multiscale", "icl_newton",
             "icl_trained", "icl_architectures",
             "double_descent", "adaptive", "optimizers", "checkpointing",
             "landscape", "initialisation", "sharpness")


class UsageError(ValueError):
    """A mistake on the command line: reported in one line, exit code 2."""


def writable_directory(path: Path, option: str) -> Path:
    """``path`` as a directory this process can write to, created if need be; else
    :class:`UsageError` saying why (checked before any work, so a long run does not end in an
    error about its output)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"{option} {path} cannot be created: a part of it is a file") from None
    except OSError as error:
        raise UsageError(f"{option} {path} cannot be created: {error.strerror}") from None
    try:  # permission bits do not tell for root or on read-only file systems: try it
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UsageError(f"{option} {path} is not writable: {error.strerror}") from None
    return path


def _cache(args) -> ResultCache:
    """The result cache of ``--cache-dir`` (else $MEMOPT_CACHE, else ~/.cache/memopt), checked
    to be a writable directory."""
    if args.cache_dir:
        root = writable_directory(Path(args.cache_dir), "--cache-dir")
        os.environ[CACHE_VARIABLE] = str(root)  # experiments that checkpoint long runs find it by this
    else:
        root = writable_directory(default_root(), f"the cache (${CACHE_VARIABLE} or ~/.cache/memopt)")
    return ResultCache(root)


def _list(_args) -> int:
    width = max(map(len, experiments.EXPERIMENTS))
    for name in experiments.EXPERIMENTS:
        module = experiments.get(name)
        host = "; computes on the host whatever the device" if name in HOST_ONLY else ""
        print(f"{name:<{width}}  {module.DESCRIPTION}  (scales: {', '.join(module.SCALES)}{host})")
    return 0


def _run(args) -> int:
    module = experiments.get(args.experiment)
    if args.scale not in module.SCALES:
        raise UsageError(f"scale must be one of {', '.join(module.SCALES)}, got {args.scale!r}")
    if args.experiment in HOST_ONLY:
        asked = args.device or os.environ.get(backend.DEVICE_VARIABLE, "cpu")
        device = "cpu"  # and its result is cached as a CPU result
        where = f"on the host (this chapter computes with NumPy whatever the device; asked: {asked})"
    else:
        device = backend.resolve_device(args.device)
        where = f"on {device}"
    out = writable_directory(Path(args.out or f"results/{args.experiment}-{args.scale}"), "--out")
    cache = None if args.no_cache else _cache(args)
    os.environ[backend.DEVICE_VARIABLE] = device  # the experiment places its data by this
    config = module.SCALES[args.scale]
    print(f"memopt: running {args.experiment} at {args.scale} scale {where}", file=sys.stderr)

    name = f"{args.experiment}_{device}"
    result = None if cache is None else cache.load(name, config)
    if result is None:
        result = module.run(config, progress=not args.quiet)
        if cache is not None:
            cache.save(name, config, result)
    else:
        print(f"memopt: result taken from the cache ({cache.path(name, config)})", file=sys.stderr)
    (out / "summary.json").write_text(json.dumps(module.summary(result), indent=2) + "\n")
    names = []
    for name, fig in module.figures(result).items():
        fig.savefig(out / f"{name}.png")
        names.append(f"{name}.png")
    print(f"memopt: wrote summary.json, {', '.join(names)} to {out}/", file=sys.stderr)
    return 0


def _grid_text(grid: dict) -> str:
    return " x ".join(f"{key} ({len(values)})" for key, values in grid.items())


def _stop_on_sigterm():
    """Make SIGTERM (how batch systems end a job) stop a sweep like Ctrl-C: the cluster shuts
    down and the command says how many cells are cached. Returns the function that undoes it."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave the signal alone
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _sweep(args) -> int:
    from memopt import sweep  # noqa: PLC0415  (pandas and dask load only for a sweep)

    try:
        import pandas as pd  # noqa: F401, PLC0415
    except ImportError:
        raise UsageError("memopt sweep needs pandas: pip install 'memopt[sweep]'") from None
    cell = sweep.cell_of(args.experiment)
    if args.scale not in cell.scales:
        raise UsageError(f"scale must be one of {', '.join(cell.scales)}, got {args.scale!r}")
    grid = sweep.parse_grid(cell, args.grid or [], args.seeds)
    count = sweep.cell_count(grid)
    if count > args.max_cells and not args.yes:
        raise UsageError(f"the grid has {count} cells ({_grid_text(grid)}), more than --max-cells "
                         f"{args.max_cells}; pass --yes to run it")
    base = cell.scales[args.scale]
    sweep.expand(cell, grid, base)  # every cell valid before any work
    out = writable_directory(Path(args.out or f"results/sweep-{args.experiment}"), "--out")
    cache = _cache(args)
    progress = not args.quiet
    print(f"memopt: sweeping {count} cells of {args.experiment} ({cell.description}) at "
          f"{args.scale} scale: {_grid_text(grid) or 'one cell'}", file=sys.stderr)

    def run(client):
        return sweep.run_sweep(cell, grid, base=base, client=client, cache=cache, progress=progress)

    stop = _stop_on_sigterm()
    start = time.perf_counter()
    try:
        if not sweep.missing_cells(cell, grid, base, cache):  # nothing to compute: no cluster
            result = run(None)
        elif args.scheduler or sweep.dask_available():
            if not sweep.dask_available():
                raise UsageError("--scheduler needs dask: pip install 'memopt[sweep]'")
            with sweep.connect(args.scheduler, args.workers, args.timeout) as client:
                workers = len(client.scheduler_info()["workers"])
                where = f"the scheduler at {args.scheduler}" if args.scheduler else "a local cluster"
                print(f"memopt: computing on {where} ({workers} workers now)", file=sys.stderr)
                result = run(client)
        else:
            print("memopt: dask is not installed, so the cells run one after another here "
                  "(pip install 'memopt[sweep]' to run them in parallel)", file=sys.stderr)
            result = run(None)
    except KeyboardInterrupt:
        done = count - sweep.missing_cells(cell, grid, base, cache)
        print(f"memopt: interrupted; {done} of {count} cells are cached, and the same command "
              "computes only the others", file=sys.stderr)
        return 130
    finally:
        stop()
    result.table.to_csv(out / "sweep.csv", index=False)
    with open(out / "sweep.json", "w") as handle:
        json.dump({"experiment": args.experiment, "scale": args.scale, "grid": grid,
                   "base": dataclasses.asdict(base), "columns": list(result.table.columns)}, handle, indent=1)
    print(result.table.to_string(index=False))
    print(f"memopt: {count} cells: {result.from_cache} from the cache, {result.computed} computed "
          f"in {time.perf_counter() - start:.1f} s; wrote sweep.csv and sweep.json to {out}/", file=sys.stderr)
    return 0


def _record(args) -> int:
    module = experiments.get(args.experiment)
    if not hasattr(module, "paper_record"):
        with_record = [name for name in experiments.EXPERIMENTS
                       if hasattr(experiments.get(name), "paper_record")]
        raise UsageError(f"{args.experiment} has no paper-scale record; experiments with one: "
                         f"{', '.join(with_record)}")
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name such as {out / 'record.json'}")
    writable_directory(out.parent, "the directory of --out")
    _cache(args)
    record = module.paper_record(progress=not args.quiet)
    record["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"memopt: wrote the {args.experiment} record to {out}", file=sys.stderr)
    return 0


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (not the usage block before them)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="memopt", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the experiments").set_defaults(handler=_list)
    run = commands.add_parser("run", help="run one experiment")
    run.add_argument("experiment", choices=list(experiments.EXPERIMENTS))
    run.add_argument("--scale", default="book", help="book (as in the notebook) or paper (larger)")
    run.add_argument("--device", choices=backend.DEVICES, default=None,
                     help="cpu, gpu or auto (default: $MEMOPT_DEVICE, else cpu)")
    run.add_argument("--out", help="directory for summary.json and figures")
    run.add_argument("--cache-dir", help="where results are cached")
    run.add_argument("--no-cache", action="store_true", help="recompute even if a result is cached")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_run)

    sweep = commands.add_parser(
        "sweep", help="run a grid of an experiment's cells on Dask, each cell cached",
        description="One task per cell of the grid, on a Dask LocalCluster (one worker process "
                    "per core) or the scheduler at --scheduler; every finished cell is cached, so "
                    "running the same command again computes only the missing cells.")
    sweep.add_argument("experiment", help="grokking, double_descent or sgd")
    sweep.add_argument("--grid", action="append", metavar="KEY=V1,V2,...",
                       help="values of one field of the cell's configuration (repeatable)")
    sweep.add_argument("--seeds", type=_positive(int), metavar="N", help="seeds 0 .. N-1 for every cell")
    sweep.add_argument("--scale", default="book",
                       help="the configuration the grid starts from: book (the chapter's) or paper")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=_positive(int), metavar="K",
                       help="worker processes of the local cluster (default: one per core)")
    sweep.add_argument("--timeout", type=_positive(float), default=10.0, metavar="SECONDS",
                       help="how long to try to reach --scheduler (default 10)")
    sweep.add_argument("--out", help="directory for sweep.csv and sweep.json")
    sweep.add_argument("--cache-dir", help="where cells are cached")
    sweep.add_argument("--max-cells", type=_positive(int), default=100, metavar="M",
                       help="refuse a larger grid unless --yes (default 100)")
    sweep.add_argument("--yes", action="store_true", help="run a grid larger than --max-cells")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=_sweep)

    record = commands.add_parser("record", help="compute and store an experiment's paper-scale record")
    record.add_argument("experiment", choices=list(experiments.EXPERIMENTS))
    record.add_argument("--out", required=True, metavar="FILE.json", help="where to write the record")
    record.add_argument("--cache-dir", help="where long runs checkpoint")
    record.add_argument("--quiet", action="store_true", help="no progress bar")
    record.set_defaults(handler=_record)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, RuntimeError, KeyError) as error:  # UsageError and SweepError among them
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"memopt: {message}", file=sys.stderr)
        return 2
    except OSError as error:  # a disk that fills or goes away during a run: still one line
        print(f"memopt: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
