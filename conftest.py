"""Session guards, and nbval's comparison of numbers with a stated tolerance.

A test run that executed nothing, or nbval that found no notebook, fails: without that `pytest`
passes when a path typo or a collection change leaves nothing to run, and CI would be green
while checking nothing.

nbval compares a cell's new outputs with the stored ones exactly. A cell tagged
``numbers-within-P%`` (in the chapter's source: ``:tags: [numbers-within-2%]``) prints figures
that cannot be exact on every machine (a float32 training run, whose path depends on the BLAS
kernels); there every number may differ from the stored one by P% of the larger of the two
(or by one unit of its last printed digit), and everything else, the words, the verdicts and
the count of numbers, must still match exactly.
"""

import copy
import re

import pytest

TOLERANCE_TAG = re.compile(r"^numbers-within-(\d+(?:\.\d+)?)%$")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def cell_tolerance(cell) -> float | None:
    """The relative tolerance a cell's tag states (None: compare exactly)."""
    for tag in cell.get("metadata", {}).get("tags", []):
        match = TOLERANCE_TAG.match(tag)
        if match:
            return float(match.group(1)) / 100
    return None


def _last_digit(number: str) -> float:
    """One unit of the last printed digit of ``number`` ("0.405" -> 0.001, "53" -> 1)."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def numbers_match(stored: str, new: str, relative: float) -> bool:
    """The same text around the numbers, and each number within the tolerance."""
    if NUMBER.split(stored) != NUMBER.split(new):
        return False
    for a, b in zip(NUMBER.findall(stored), NUMBER.findall(new)):
        x, y = float(a), float(b)
        allowed = max(relative * max(abs(x), abs(y)), _last_digit(a))
        if abs(x - y) > allowed * (1 + 1e-9):  # the margin absorbs the subtraction's rounding
            return False
    return True


def _within_tolerance(new_outputs, stored_outputs, relative: float) -> list:
    """``new_outputs`` with each text replaced by the stored one where the two match within
    the tolerance, so that nbval's exact comparison then passes; any other difference is left
    for nbval to report."""
    new_outputs = copy.deepcopy(new_outputs)
    for new, stored in zip(new_outputs, stored_outputs):
        if new.get("output_type") != stored.get("output_type"):
            continue
        if "text" in new and "text" in stored and numbers_match(stored["text"], new["text"], relative):
            new["text"] = stored["text"]
        for mime, value in new.get("data", {}).items():
            if not mime.startswith("text/"):
                continue  # images are compared (or not) by nbval itself; base64 is no prose
            reference = stored.get("data", {}).get(mime)
            if isinstance(value, str) and isinstance(reference, str) and value != reference \
                    and numbers_match(reference, value, relative):
                new["data"][mime] = reference
    return new_outputs


def pytest_configure(config):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    exact = IPyNbCell.compare_outputs
    if getattr(exact, "tolerant", False):
        return

    def compare_outputs(self, test, ref, skip_compare=None):
        relative = cell_tolerance(self.cell)
        if relative is not None:
            test = _within_tolerance(test, ref, relative)
        return exact(self, test, ref, skip_compare)

    compare_outputs.tolerant = True
    IPyNbCell.compare_outputs = compare_outputs

_passed = 0
_notebook_cells = 0


def pytest_runtest_logreport(report):
    global _passed, _notebook_cells
    if report.when == "call" and report.passed:
        _passed += 1
        if report.nodeid.split("::")[0].endswith(".ipynb"):
            _notebook_cells += 1


def pytest_sessionfinish(session, exitstatus):
    if exitstatus != pytest.ExitCode.OK or session.config.option.collectonly:
        return
    if _passed == 0:
        print("\nconftest: no test passed in this run; a run that checks nothing fails.")
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
    elif getattr(session.config.option, "nbval", False) and _notebook_cells == 0:
        print("\nconftest: --nbval was given but no notebook cell was executed.")
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test made: pyplot keeps them open, and after twenty it warns (an error
    in the tests, since warnings from memopt's modules are errors)."""
    yield
    import matplotlib.pyplot as plt  # noqa: PLC0415

    plt.close("all")
