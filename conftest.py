"""Session guards: a test run that executed nothing, or nbval that found no notebook, fails.

Without them `pytest` passes when a path typo or a collection change leaves nothing to run,
and CI would be green while checking nothing.
"""

import pytest

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
