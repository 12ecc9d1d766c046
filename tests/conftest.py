"""Fixtures for every test under tests/."""

import pytest


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test made: pyplot keeps them open, and after twenty it warns (an error
    here, since warnings from memopt's modules are errors)."""
    yield
    import matplotlib.pyplot as plt  # noqa: PLC0415

    plt.close("all")
