"""The GPU path, checked in one command on a machine with an NVIDIA GPU (``make gpu-check``).

The machines that build the book have no GPU, so what only a device can show is gathered here,
to run in a few minutes (under 5 on a current GPU):

1. ``nvrtc``: CuPy's NVRTC compiles every kernel of ``memopt.kernels`` for float and double;
2. ``gpu-tests``: the tests marked ``gpu`` (every kernel against its CPU twin, with launches of
   one block and of several; the oracles; the SGD chapter on the GPU against the CPU);
3. ``memcheck``: ``compute-sanitizer --tool memcheck`` over the kernel tests, when
   compute-sanitizer is installed (skipped, with the reason, when it is not);
4. ``chapter``: the SGD chapter (``book/stochastic/sgd.md``) executed at book scale with
   ``MEMOPT_DEVICE=gpu`` into a temporary notebook (the stored one is not touched); a claim
   that does not hold fails its cell, and every claim's verdict is recorded;
5. ``benchmark``: ``benchmarks/kernels.py``, every kernel against its NumPy twin.

It writes one JSON record, ``benchmarks/results/gpu_check.json`` (or ``--out``): the device,
the CUDA driver, runtime and NVRTC versions and CuPy's, then each step's status (passed, failed
or skipped), time and the tail of its output. It runs unchanged with CuPy for CUDA 12
(``pip install -e ".[gpu]"``) or CUDA 13 (``pip install -e ".[gpu-cuda13]"``).

    python tests/gpu_check.py [--out PATH] [--skip STEP ...]

Exit status: 0 when every step passed or was skipped, 1 when one failed, 2 without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gpu_check.json"
CHAPTER = ROOT / "book" / "stochastic" / "sgd.md"
STEPS = ("nvrtc", "gpu-tests", "memcheck", "chapter", "benchmark")
#: Seconds each step may take; together well under the 5 minutes promised.
TIMEOUTS = {"gpu-tests": 150, "memcheck": 240, "chapter": 200, "benchmark": 150}
TAIL = 3000  # characters of a step's output kept in the record


def tail(text: str) -> str:
    return text[-TAIL:]


def device_record() -> dict:
    """The GPU and the CUDA stack CuPy runs on (CUDA 12 or 13 alike)."""
    import cupy  # noqa: PLC0415

    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return {
        "gpu": name,
        "compute_capability": f"{props['major']}.{props['minor']}",
        "cuda_driver": runtime.driverGetVersion(),
        "cuda_runtime": runtime.runtimeGetVersion(),
        "nvrtc": ".".join(map(str, cupy.cuda.nvrtc.getVersion())),
        "cupy": cupy.__version__,
        "python": platform.python_version(),
    }


def step_nvrtc() -> dict:
    from memopt import kernels  # noqa: PLC0415

    compiled = []
    for module, functions in kernels.KERNELS.items():
        kernels.cupy_module.cache_clear()  # compile now, not from this process's cache
        raw = kernels.cupy_module(module)
        for function in functions:
            for real in ("float", "double"):
                raw.get_function(f"{function}<{real}>")
                compiled.append(f"{module}/{function}<{real}>")
    return {"status": "passed", "compiled": compiled}


def pytest_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *arguments]


def run(command: list[str], timeout: int, env: dict | None = None) -> dict:
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        return {"status": "failed", "reason": f"timed out after {timeout} s", "output": tail(output)}
    return {"status": "passed" if done.returncode == 0 else "failed", "exit_status": done.returncode,
            "command": " ".join(command), "output": tail(done.stdout + done.stderr)}


def step_gpu_tests() -> dict:
    return run(pytest_command("tests/unit"), TIMEOUTS["gpu-tests"])


def compute_sanitizer() -> str | None:
    """compute-sanitizer on PATH, or in the CUDA toolkit CuPy found."""
    found = shutil.which("compute-sanitizer")
    if found:
        return found
    try:
        import cupy  # noqa: PLC0415

        root = cupy.cuda.get_cuda_path()
    except Exception:  # noqa: BLE001 - no toolkit is a reason to skip, not to fail
        return None
    candidate = Path(root or "") / "bin" / "compute-sanitizer"
    return str(candidate) if root and candidate.exists() else None


def step_memcheck() -> dict:
    sanitizer = compute_sanitizer()
    if sanitizer is None:
        return {"status": "skipped", "reason": "compute-sanitizer is not installed (it comes with the "
                                               "CUDA toolkit, not with CuPy's wheels)"}
    # The kernel tests only (the chapter test adds minutes under the sanitizer and no kernel),
    # with CuPy's memory pool off: an access past an array's end but inside a pooled block
    # would otherwise go unseen.
    arguments = ["-m", "gpu", "-q", "-p", "no:cacheprovider", "tests/unit/test_kernels.py", "-k", "not whole_chapter"]
    code = ("import sys, cupy, pytest; cupy.cuda.set_allocator(None); "
            f"sys.exit(pytest.main({arguments!r}))")
    command = [sanitizer, "--tool", "memcheck", "--error-exitcode", "99", "--leak-check", "no",
               sys.executable, "-c", code]
    result = run(command, TIMEOUTS["memcheck"])
    if result.get("exit_status") == 99:
        result["reason"] = "compute-sanitizer reported memory errors"
    return result


def step_chapter() -> dict:
    """Execute the chapter on the GPU into a temporary copy; its claims decide."""
    import jupytext  # noqa: PLC0415
    from nbclient import NotebookClient  # noqa: PLC0415
    from nbclient.exceptions import CellExecutionError  # noqa: PLC0415

    from memopt.book import claim_records  # noqa: PLC0415
    from memopt.claims import FAIL  # noqa: PLC0415

    notebook = jupytext.read(CHAPTER)
    with tempfile.TemporaryDirectory() as cache:
        os.environ.update({"MEMOPT_DEVICE": "gpu", "MEMOPT_CACHE": cache})  # the kernel inherits them
        try:
            NotebookClient(notebook, timeout=TIMEOUTS["chapter"], record_timing=False,
                           resources={"metadata": {"path": str(CHAPTER.parent)}}).execute()
            status, reason = "passed", None
        except CellExecutionError as error:
            status, reason = "failed", tail(str(error))
        finally:
            os.environ.pop("MEMOPT_DEVICE")
            os.environ.pop("MEMOPT_CACHE")
    claims = [{k: record.get(k) for k in ("claim", "status", "measured", "expected")}
              for record in claim_records(notebook)]
    if any(claim["status"] == FAIL for claim in claims):
        status = "failed"  # check() raises on a failed claim; this covers a cell that caught it
    return {"status": status, "chapter": str(CHAPTER.relative_to(ROOT)), "claims": claims,
            **({"reason": reason} if reason else {})}


def step_benchmark() -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "kernels.json"
        result = run([sys.executable, "benchmarks/kernels.py", "--repeats", "2", "--out", str(out)],
                     TIMEOUTS["benchmark"])
        if out.exists():
            result["record"] = json.loads(out.read_text())
            result.pop("output", None)
    return result


STEP_FUNCTIONS = {"nvrtc": step_nvrtc, "gpu-tests": step_gpu_tests, "memcheck": step_memcheck,
                  "chapter": step_chapter, "benchmark": step_benchmark}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--skip", nargs="*", default=[], choices=STEPS, help="steps to leave out")
    args = parser.parse_args(argv)

    from memopt import backend  # noqa: PLC0415

    record = {"check": "the GPU path (make gpu-check)", "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if not backend.gpu_available():
        record.update(gpu_present=False, reason=(
            "no usable CUDA device: CuPy is missing or sees no GPU. On a machine with an NVIDIA GPU "
            "install CuPy for its CUDA version: .venv/bin/pip install -e '.[gpu]' (CUDA 12) or "
            "-e '.[gpu-cuda13]' (CUDA 13)"))
        print(f"gpu-check: {record['reason']}", file=sys.stderr)
        write(record, args.out)
        return 2
    record.update(gpu_present=True, device=device_record(), steps={})
    start = time.perf_counter()
    for name in STEPS:
        began = time.perf_counter()
        if name in args.skip:
            result = {"status": "skipped", "reason": "--skip"}
        else:
            print(f"gpu-check: {name} ...", file=sys.stderr, flush=True)
            try:
                result = STEP_FUNCTIONS[name]()
            except Exception as error:  # noqa: BLE001 - a step's failure is recorded, the others still run
                result = {"status": "failed", "reason": f"{type(error).__name__}: {error}"}
        result["seconds"] = round(time.perf_counter() - began, 1)
        record["steps"][name] = result
        print(f"gpu-check: {name}: {result['status']} ({result['seconds']} s)"
              + (f": {result['reason']}" if result.get("reason") and result["status"] != "passed" else ""),
              file=sys.stderr, flush=True)
    record["seconds"] = round(time.perf_counter() - start, 1)
    failed = [name for name, result in record["steps"].items() if result["status"] == "failed"]
    record["passed"] = not failed
    write(record, args.out)
    print(f"gpu-check: {'all steps passed or skipped' if not failed else 'FAILED: ' + ', '.join(failed)} "
          f"in {record['seconds']} s; record in {args.out}", file=sys.stderr)
    return 1 if failed else 0


def write(record: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
