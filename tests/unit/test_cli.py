"""The command line says where a chapter computes: on the device asked for, or on the host for
the chapters that compute with NumPy whatever the device (and book/gpu.md lists the same)."""

import re
import types
from pathlib import Path

import pytest

from memopt import backend, cli, experiments

GPU_PAGE = Path(__file__).resolve().parents[2] / "book" / "gpu.md"


class RecordingCache:
    """Stands in for ResultCache: remembers the key a result was cached under."""

    keys: list = []

    def __init__(self, root=None):
        pass

    def get_or_compute(self, name, config, compute):
        RecordingCache.keys.append(name)
        return compute()


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
