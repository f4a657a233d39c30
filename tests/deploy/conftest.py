"""Prints the rehearsal's DEPLOY line and its timings after the test results (what `make test` adds, measured)."""

from __future__ import annotations

import pytest

_SUMMARY: list[str] = []


@pytest.fixture(scope="session")
def deploy_summary() -> list[str]:
    """Lines the suite adds as it goes; printed in the terminal summary."""
    return _SUMMARY


def pytest_terminal_summary(terminalreporter):
    if _SUMMARY:
        terminalreporter.section("deploy-local")
        for line in _SUMMARY:
            terminalreporter.write_line(line)
