"""Prints the e2e suite's timings (sam build, each sam local invoke, total) after the test results."""

from __future__ import annotations

import pytest

_TIMINGS: list[str] = []


@pytest.fixture(scope="session")
def e2e_timings() -> list[str]:
    """Lines the suite adds as it goes; printed in the terminal summary."""
    return _TIMINGS


def pytest_terminal_summary(terminalreporter):
    if _TIMINGS:
        terminalreporter.section("e2e timings")
        for line in _TIMINGS:
            terminalreporter.write_line(line)
