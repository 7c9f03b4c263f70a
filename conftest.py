"""pytest hooks for the whole checkout (nbval's runs of `solutions/` included).

A solution notebook that writes a library warning to its outputs fails its cell: the learner
would read it. Fix the cause (pass the attention mask, use the current API), do not filter it.
The check reads the outputs nbval already collected, so it costs no extra execution.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    outputs = getattr(item, "test_outputs", None)   # an nbval cell, once it has run
    if call.when != "call" or not report.passed or not outputs:
        return
    from helpers import warning_lines
    found = warning_lines(outputs)
    if found:
        report.outcome = "failed"
        report.longrepr = (f"{item.name} wrote warning text to its outputs (fix the cause, do not "
                           "filter it):\n  " + "\n  ".join(found))
