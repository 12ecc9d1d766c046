"""`make reproduce`: do the stored notebooks reproduce under another machine's rounding?

The authors' diagnostic, run by hand, never by `make test` or CI: nbval on the chosen notebooks
(default: every chapter) under each configuration that is safe on this machine, one line per
configuration and notebook:

    CONFIG      NOTEBOOK                          passed P/T  failed F   SECONDSs  [cells that differ]

Configurations:
    perturb        MEMOPT_PERTURB=ulp: every drawn input moved by one unit in its last bit
    prescott       OPENBLAS_CORETYPE=Prescott: OpenBLAS's generic kernels, which run on any x86-64
    haswell-t1/t2  OPENBLAS_CORETYPE=Haswell with 1 and 2 BLAS threads, where the CPU has AVX2

When the environment already sets OPENBLAS_CORETYPE (done on processors where other kernels
crash or compute wrong results), the kernel configurations are skipped and the thread counts
are varied instead: this script never overrides a setting that protects the machine.

    python tests/reproduce.py [--config NAME ...] [NOTEBOOK.ipynb ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBVAL = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/notebooks/sanitize.cfg",
         "-p", "no:cacheprovider", "-q"]


def has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def configurations() -> dict[str, dict[str, str]]:
    """The configurations that are safe here, by name, as environment settings."""
    configs = {"perturb": {"MEMOPT_PERTURB": "ulp"}}
    if os.environ.get("OPENBLAS_CORETYPE"):
        configs["threads-1"] = {"OPENBLAS_NUM_THREADS": "1"}
        configs["threads-2"] = {"OPENBLAS_NUM_THREADS": "2"}
        return configs
    configs["prescott"] = {"OPENBLAS_CORETYPE": "Prescott"}
    if has_avx2():
        configs["haswell-t1"] = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"}
        configs["haswell-t2"] = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "2"}
    return configs


def run(notebook: Path, settings: dict[str, str]) -> tuple[int, int, list[str], float]:
    """nbval on one notebook under ``settings``: (passed, total, failing cells, seconds)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MEMOPT_PERTURB", "OPENBLAS_NUM_THREADS")}
    env.update(settings)
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "junit.xml"
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "pytest", str(notebook), *NBVAL, f"--junitxml={report}"],
                       cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.monotonic() - start
        if not report.exists():
            return 0, 0, ["pytest did not run"], seconds
        cases = ET.parse(report).getroot().iter("testcase")
        failing, total = [], 0
        for case in cases:
            total += 1
            if case.find("failure") is not None or case.find("error") is not None:
                failing.append(case.get("name", "?"))
    return total - len(failing), total, failing, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: every chapter)")
    parser.add_argument("--config", action="append", help="run only these configurations")
    args = parser.parse_args(argv)
    configs = configurations()
    unknown = set(args.config or []) - set(configs)
    if unknown:
        parser.error(f"unknown or unsafe here: {', '.join(sorted(unknown))}; available: {', '.join(configs)}")
    notebooks = args.notebooks or sorted((ROOT / "book").rglob("*.ipynb"))
    missing = [str(n) for n in notebooks if not Path(n).is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set here: kernels are not varied")
    failures = 0
    for name, settings in configs.items():
        if args.config and name not in args.config:
            continue
        for notebook in notebooks:
            passed, total, failing, seconds = run(Path(notebook).resolve(), settings)
            failures += len(failing) or (total == 0)
            shown = Path(notebook).resolve().relative_to(ROOT)
            line = f"{name:<11} {str(shown):<40} passed {passed}/{total}  failed {len(failing)}  {seconds:5.0f}s"
            print(line + (f"  [{', '.join(failing)}]" if failing else ""), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
