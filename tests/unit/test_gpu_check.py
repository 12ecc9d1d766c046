"""tests/gpu_check.py (make gpu-check) without a GPU: it says so, records why, and exits 2."""

import importlib.util
import json
from pathlib import Path

import pytest

from memopt import backend

SCRIPT = Path(__file__).resolve().parents[1] / "gpu_check.py"


def load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
def test_without_a_gpu_the_check_says_so_and_writes_its_record(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    assert load().main(["--out", str(out)]) == 2
    record = json.loads(out.read_text())
    assert record["gpu_present"] is False and "gpu-cuda13" in record["reason"]
    assert "no usable CUDA device" in capsys.readouterr().err


def test_the_check_covers_every_step_the_issue_names():
    module = load()
    assert module.STEPS == ("nvrtc", "gpu-tests", "memcheck", "chapter", "benchmark")
    assert set(module.STEP_FUNCTIONS) == set(module.STEPS)
    assert module.CHAPTER.exists()
