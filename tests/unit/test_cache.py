from dataclasses import dataclass

import numpy as np
import pytest

from memopt.cache import CorruptEntryWarning, ResultCache, config_key


@dataclass(frozen=True)
class Config:
    steps: int = 10
    sizes: tuple = (1, 4)


@pytest.fixture
def cache(tmp_path):
    return ResultCache(tmp_path)


def test_round_trip(cache):
    value = {"x": np.arange(5.0), "label": "run"}
    cache.save("exp", Config(), value)
    loaded = cache.load("exp", Config())
    np.testing.assert_array_equal(loaded["x"], value["x"])
    assert loaded["label"] == "run"


def test_key_depends_on_name_and_every_setting():
    keys = {config_key("a", Config()), config_key("b", Config()), config_key("a", Config(steps=11)),
            config_key("a", Config(sizes=(1, 5)))}
    assert len(keys) == 4
    assert config_key("a", Config()) == config_key("a", Config())


def test_get_or_compute_computes_once(cache):
    calls = []

    def compute():
        calls.append(1)
        return 42

    assert cache.get_or_compute("exp", Config(), compute) == 42
    assert cache.get_or_compute("exp", Config(), compute) == 42
    assert len(calls) == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[: len(blob) // 2],                      # truncated
        lambda blob: blob[:-1] + bytes([blob[-1] ^ 0xFF]),         # one flipped byte
        lambda blob: b"not a cache entry at all",                   # overwritten
        lambda blob: b"",                                           # empty
    ],
)
def test_corrupt_entry_is_detected_and_recomputed(cache, damage):
    path = cache.save("exp", Config(), [1, 2, 3])
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(CorruptEntryWarning, match="corrupt"):
        value = cache.get_or_compute("exp", Config(), lambda: "recomputed")
    assert value == "recomputed"
    assert cache.load("exp", Config()) == "recomputed"  # the fresh value replaced the bad one


def test_missing_entry_is_none(cache):
    assert cache.load("exp", Config()) is None


def test_bad_configurations_and_names(cache):
    with pytest.raises(TypeError, match="configurations"):
        config_key("a", {"array": np.zeros(2)})
    with pytest.raises(ValueError, match="identifiers"):
        cache.path("../escape", Config())


def test_default_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMOPT_CACHE", str(tmp_path / "here"))
    assert ResultCache().root == tmp_path / "here"
