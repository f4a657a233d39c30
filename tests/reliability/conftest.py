"""The reliability suite prints its RESULT line as the very last line of pytest's output (after the summary)."""

from __future__ import annotations

import sys


def pytest_unconfigure(config):
    for line in getattr(config, "reliability_result_lines", []):
        print(line, file=sys.__stdout__, flush=True)
