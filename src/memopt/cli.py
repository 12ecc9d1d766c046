"""The ``memopt`` command: list the book's experiments and run them at book or paper scale.

    memopt list
    memopt run sgd --scale paper --device auto --out results/sgd

``run`` shows a progress bar, caches the result by configuration hash (``--cache-dir``,
default ``$MEMOPT_CACHE`` or ``~/.cache/memopt``; long runs also checkpoint there and resume),
and writes ``summary.json`` and one PNG per figure into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from memopt import backend, experiments
from memopt.cache import CACHE_VARIABLE, ResultCache

#: Experiments that compute with NumPy on the host whatever the device: their work is small and
#: sequential, and a GPU would only add transfers. book/gpu.md lists the same chapters.
HOST_ONLY = ("ovg", "convex_memory", "regression_memory", "multiscale", "icl_newton",
             "double_descent", "adaptive", "checkpointing")


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
        raise ValueError(f"scale must be one of {', '.join(module.SCALES)}, got {args.scale!r}")
    if args.experiment in HOST_ONLY:
        asked = args.device or os.environ.get(backend.DEVICE_VARIABLE, "cpu")
        device = "cpu"  # and its result is cached as a CPU result
        where = f"on the host (this chapter computes with NumPy whatever the device; asked: {asked})"
    else:
        device = backend.resolve_device(args.device)
        where = f"on {device}"
    os.environ[backend.DEVICE_VARIABLE] = device  # the experiment places its data by this
    if args.cache_dir:  # experiments that checkpoint long runs find the cache by this
        os.environ[CACHE_VARIABLE] = str(args.cache_dir)
    config = module.SCALES[args.scale]
    out = Path(args.out or f"results/{args.experiment}-{args.scale}")
    out.mkdir(parents=True, exist_ok=True)
    print(f"memopt: running {args.experiment} at {args.scale} scale {where}", file=sys.stderr)

    def compute():
        return module.run(config, progress=not args.quiet)

    if args.no_cache:
        result = compute()
    else:
        result = ResultCache(args.cache_dir).get_or_compute(f"{args.experiment}_{device}", config, compute)
    (out / "summary.json").write_text(json.dumps(module.summary(result), indent=2) + "\n")
    names = []
    for name, fig in module.figures(result).items():
        fig.savefig(out / f"{name}.png")
        names.append(f"{name}.png")
    print(f"memopt: wrote summary.json, {', '.join(names)} to {out}/", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memopt", description=__doc__.split("\n\n")[0])
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, RuntimeError, KeyError) as error:
        print(f"memopt: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
