"""The command line says where a chapter computes: on the device asked for, or on the host for
the chapters that compute with NumPy whatever the device (and book/gpu.md lists the same); it
reports every user mistake in one line on stderr with a non-zero exit before any work starts;
``sweep`` runs grids of cells and ``record`` writes paper-scale records."""

import json
import os
import re
import types
from pathlib import Path

import pytest

from memopt import backend, cli, experiments, sweep

GPU_PAGE = Path(__file__).resolve().parents[2] / "book" / "gpu.md"


class RecordingCache:
    """Stands in for ResultCache: remembers the key a result was cached under."""

    keys: list = []

    def __init__(self, root=None):
        pass

    def load(self, name, config):
        RecordingCache.keys.append(name)
        return None

    def save(self, name, config, value):
        pass


def stub(name):
    return types.SimpleNamespace(NAME=name, DESCRIPTION="stub", SCALES={"book": object()},
                                 run=lambda config, progress=False: {}, summary=lambda result: {},
                                 figures=lambda result: {})


def run(name, monkeypatch, tmp_path, device, *, gpu_present):
    monkeypatch.setattr(experiments, "get", lambda _: stub(name))
    monkeypatch.setattr(cli, "ResultCache", RecordingCache)
    monkeypatch.setattr(backend, "gpu_available", lambda: gpu_present)
    monkeypatch.delenv(backend.DEVICE_VARIABLE, raising=False)
    RecordingCache.keys = []
    code = cli.main(["run", name, "--device", device, "--out", str(tmp_path), "--quiet"])
    return code, RecordingCache.keys


@pytest.mark.parametrize("name", cli.HOST_ONLY)
@pytest.mark.parametrize("gpu_present", [True, False])
def test_host_chapters_say_they_compute_on_the_host(name, gpu_present, monkeypatch, tmp_path, capsys):
    """Bug: double_descent, regression_memory and icl_newton ignore the device, yet the command
    line printed "on gpu" and cached their results under a _gpu key."""
    code, keys = run(name, monkeypatch, tmp_path, "gpu", gpu_present=gpu_present)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "on the host" in err and "on gpu" not in err
    assert keys == [f"{name}_cpu"]


def test_device_chapters_run_on_the_device_asked_for(monkeypatch, tmp_path, capsys):
    code, keys = run("sgd", monkeypatch, tmp_path, "gpu", gpu_present=True)
    assert code == 0
    assert "at book scale on gpu" in capsys.readouterr().err
    assert keys == ["sgd_gpu"]


def test_list_marks_the_host_chapters(capsys):
    assert cli.main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name in experiments.EXPERIMENTS:
        assert ("on the host" in lines[name]) == (name in cli.HOST_ONLY)


def test_the_gpu_page_lists_the_host_chapters():
    """Bug: book/gpu.md omitted three host chapters and said the library never falls back."""
    page = GPU_PAGE.read_text()
    host_list = page[page.index("whatever the device"):page.index("## Setting it up")]
    listed = set(re.findall(r"^\* `([a-z_]+)`", host_list, flags=re.MULTILINE))
    assert listed == set(cli.HOST_ONLY)
    assert "never falls back" not in page


# -- user errors: one line, non-zero exit, before any work --------------------------------------
@pytest.fixture
def counted_runs(monkeypatch, tmp_path):
    """``memopt run sgd`` with a stub experiment that counts its runs; a fresh cache."""
    runs = []
    module = stub("sgd")
    module.run = lambda config, progress=False: runs.append(config) or {}
    module.SCALES = {"book": {"steps": 1}}  # a configuration the cache can key
    monkeypatch.setattr(experiments, "get", lambda _: module)
    monkeypatch.setenv("MEMOPT_CACHE", str(tmp_path / "cache"))
    return runs


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("memopt")
    return lines[0]


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory this process cannot write to: permission bits for a normal user; for root,
    who ignores them, a directory of the kernel's read-only sysfs."""
    if os.geteuid() != 0:
        path = tmp_path / "read_only"
        path.mkdir()
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    path = Path("/sys/kernel")
    if not path.is_dir() or os.access(path, os.W_OK) and _can_create_in(path):
        pytest.skip("no read-only directory available to root here")
    yield path


def _can_create_in(path: Path) -> bool:
    try:
        (path / "memopt-probe").touch()
    except OSError:
        return False
    (path / "memopt-probe").unlink()
    return True


def test_a_read_only_out_is_refused_before_any_work(read_only_dir, counted_runs, capsys):
    assert cli.main(["run", "sgd", "--out", str(read_only_dir), "--quiet"]) == 2
    assert "is not writable" in one_line_error(capsys)
    assert counted_runs == []


def test_an_out_under_a_file_is_refused(tmp_path, counted_runs, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["run", "sgd", "--out", str(tmp_path / "file" / "out"), "--quiet"]) == 2
    assert "cannot be created: a part of it is a file" in one_line_error(capsys)
    assert cli.main(["run", "sgd", "--out", str(tmp_path / "file"), "--quiet"]) == 2
    assert "is a file, not a directory" in one_line_error(capsys)
    assert counted_runs == []


def test_a_bad_cache_dir_is_refused(tmp_path, counted_runs, capsys):
    (tmp_path / "file").write_text("x")
    code = cli.main(["run", "sgd", "--out", str(tmp_path / "out"), "--cache-dir",
                     str(tmp_path / "file" / "cache"), "--quiet"])
    assert code == 2
    assert one_line_error(capsys).startswith("memopt: --cache-dir")
    assert counted_runs == []


def test_run_says_when_its_result_came_from_the_cache(tmp_path, counted_runs, capsys):
    args = ["run", "sgd", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert cli.main(args) == 0
    assert "from the cache" not in capsys.readouterr().err
    assert cli.main(args) == 0
    assert "result taken from the cache" in capsys.readouterr().err
    assert len(counted_runs) == 1


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "no_such_chapter"])
    assert exit_.value.code == 2
    assert "invalid choice" in one_line_error(capsys)


# -- sweep ------------------------------------------------------------------------------------
TINY_MLP = ["--grid", "modulus=11", "--grid", "width=8", "--grid", "steps=5",
            "--grid", "dense_evaluations=0", "--grid", "linear_evaluations=1"]


@pytest.mark.parametrize("args, message", [
    (["--grid", "colour=red"], "unknown grid key 'colour' for grokking; valid keys: modulus,"),
    (["--grid", "train_fraction=0.5,2"], "invalid cell (train_fraction=2.0): train_fraction must lie in (0, 1)"),
    (["--grid", "steps=1,2,3", "--grid", "seed=0,1,2,3", "--max-cells", "10"],
     "the grid has 12 cells (steps (3) x seed (4)), more than --max-cells 10; pass --yes to run it"),
    (["--seeds", "0"], "must be > 0"),
    (["--scale", "huge"], "scale must be one of book, paper"),
])
def test_sweep_refuses_bad_grids_before_any_work(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "run_sweep", lambda *a, **k: pytest.fail("the sweep started"))
    with pytest.raises(SystemExit) if args[0] == "--seeds" else _no_exit() as raised:
        code = cli.main(["sweep", "grokking", *args, "--out", str(tmp_path / "out"),
                         "--cache-dir", str(tmp_path / "c")])
    code = raised.value.code if raised else code
    assert code == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "out").exists() or args[0] == "--seeds"


class _no_exit:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_sweep_refuses_an_unknown_experiment(tmp_path, capsys):
    assert cli.main(["sweep", "ovg", "--out", str(tmp_path)]) == 2
    assert "sweepable experiments: grokking, double_descent, sgd" in one_line_error(capsys)


def test_sweep_refuses_an_unreachable_scheduler_quickly(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    code = cli.main(["sweep", "grokking", *TINY_MLP, "--scheduler", "tcp://127.0.0.1:1",
                     "--timeout", "1", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"),
                     "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("memopt: cannot reach the Dask scheduler at tcp://127.0.0.1:1 "
                                            "within 1 s (OSError)")


def test_sweep_without_dask_runs_serially_and_resumes_from_the_cache(tmp_path, capsys, monkeypatch):
    pytest.importorskip("pandas")
    monkeypatch.setattr(sweep, "dask_available", lambda: False)
    args = ["sweep", "grokking", *TINY_MLP, "--grid", "weight_decay=0,1", "--seeds", "2",
            "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert "dask is not installed" in err
    assert "4 cells: 0 from the cache, 4 computed in" in err
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert list(table.columns[:7]) == ["modulus", "width", "steps", "dense_evaluations",
                                       "linear_evaluations", "weight_decay", "seed"]
    assert len(table) == 4 and "final_validation_accuracy" in out
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["grid"]["seed"] == [0, 1]
    assert cli.main(args) == 0
    assert "4 cells: 4 from the cache, 0 computed in" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "sweep.csv"), table)


# -- record -----------------------------------------------------------------------------------
def test_record_writes_the_record_with_its_date(tmp_path, monkeypatch, capsys):
    from memopt.experiments import grokking

    calls = []
    monkeypatch.setattr(grokking, "paper_record", lambda progress=False: calls.append(progress) or {"seconds": 1.5})
    out = tmp_path / "records" / "grokking.json"
    assert cli.main(["record", "grokking", "--out", str(out), "--quiet",
                     "--cache-dir", str(tmp_path / "c")]) == 0
    record = json.loads(out.read_text())
    assert calls == [False]
    assert record["seconds"] == 1.5
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["date"])
    assert out.read_text().startswith('{\n "seconds"')  # indent=1


def test_record_of_an_experiment_without_one_names_those_with_one(tmp_path, capsys):
    assert cli.main(["record", "sgd", "--out", str(tmp_path / "r.json")]) == 2
    assert one_line_error(capsys) == "memopt: sgd has no paper-scale record; experiments with one: icl_trained, icl_architectures, grokking"


def test_record_refuses_an_unwritable_out_before_training(tmp_path, monkeypatch, capsys):
    from memopt.experiments import grokking

    monkeypatch.setattr(grokking, "paper_record", lambda progress=False: pytest.fail("trained"))
    (tmp_path / "file").write_text("x")
    assert cli.main(["record", "grokking", "--out", str(tmp_path / "file" / "r.json")]) == 2
    assert "is a file, not a directory" in one_line_error(capsys)
    assert cli.main(["record", "grokking", "--out", str(tmp_path)]) == 2
    assert "is a directory" in one_line_error(capsys)


def test_an_interrupted_sweep_says_what_is_cached(tmp_path, capsys, monkeypatch):
    pytest.importorskip("pandas")
    monkeypatch.setattr(sweep, "dask_available", lambda: False)

    def interrupted(cell, grid, *, cache, on_result=None, **options):
        real_run_sweep(cell, {**grid, "seed": [0]}, cache=cache, **options)  # one cell stored
        raise KeyboardInterrupt

    real_run_sweep = sweep.run_sweep
    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    args = ["sweep", "grokking", *TINY_MLP, "--seeds", "3", "--out", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert cli.main(args) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "memopt: interrupted; 1 of 3 cells are cached, and the same command computes only the others")
    monkeypatch.setattr(sweep, "run_sweep", real_run_sweep)
    assert cli.main(args) == 0
    assert "3 cells: 1 from the cache, 2 computed" in capsys.readouterr().err
