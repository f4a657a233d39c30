"""The time budget of one invocation (spot_handler/budget.py): pure arithmetic over the clock, plus one thread."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from spot_handler.budget import (
    MIN_WORK_SECONDS,
    PUBLISH_RESERVE_SECONDS,
    WORK_SECONDS,
    DidNotFinish,
    TimeBudget,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_a_full_lambda_timeout_leaves_the_default_work_budget():
    # A 60 s context: 60 - 35 s publish reserve is more than the 10 s of work, so work keeps its 10 s
    assert TimeBudget.start(remaining_ms=60_000).work_seconds == WORK_SECONDS
    assert TimeBudget.start().work_seconds == WORK_SECONDS


def test_little_time_left_in_the_invocation_shortens_work_but_never_below_the_floor():
    # 40 s left: 5 s of work before the publish reserve
    assert TimeBudget.start(remaining_ms=40_000).work_seconds == pytest.approx(40 - PUBLISH_RESERVE_SECONDS)
    # 10 s left: less than the reserve, still the minimum to drain
    assert TimeBudget.start(remaining_ms=10_000).work_seconds == MIN_WORK_SECONDS


def test_the_earliest_deadline_ahead_bounds_the_work_with_a_margin():
    budget = TimeBudget(started=time.monotonic(), work_seconds=WORK_SECONDS)

    # Deadlines 8 s and 60 s ahead: work ends 5 s before the nearer one (3 s, within the rounding of elapsed time)
    bounded = budget.bounded_by([NOW + timedelta(seconds=60), NOW + timedelta(seconds=8), None], NOW)

    assert bounded.work_seconds == pytest.approx(3.0, abs=0.1)
    assert bounded.started == budget.started


def test_deadlines_already_past_or_far_away_change_nothing_and_the_floor_holds():
    budget = TimeBudget(started=time.monotonic(), work_seconds=WORK_SECONDS)

    assert budget.bounded_by([NOW - timedelta(seconds=1), None], NOW) == budget
    assert budget.bounded_by([NOW + timedelta(minutes=5)], NOW).work_seconds == WORK_SECONDS
    assert budget.bounded_by([NOW + timedelta(seconds=1)], NOW).work_seconds == MIN_WORK_SECONDS


def test_remaining_counts_down_from_the_start_and_stops_at_zero():
    assert TimeBudget(started=time.monotonic() - 4, work_seconds=10).remaining() == pytest.approx(6, abs=0.1)
    assert TimeBudget(started=time.monotonic() - 20, work_seconds=10).remaining() == 0.0


def test_run_returns_what_the_work_returns():
    budget = TimeBudget.start(work_seconds=1)

    assert budget.run("adding", lambda a, b: a + b, 2, b=3) == 5


def test_work_still_running_when_the_budget_ends_is_named_for_the_alert():
    # Given work that waits for a release that comes only after the budget
    release = threading.Event()
    budget = TimeBudget.start(work_seconds=0.2)

    # When it is run within the budget
    started = time.monotonic()
    with pytest.raises(DidNotFinish) as stopped:
        budget.run("DescribeTargetHealth of web", release.wait, 5)
    release.set()

    # Then the caller is back when the budget ends, with a message naming the work and the budget
    assert time.monotonic() - started < 2
    assert str(stopped.value) == "DescribeTargetHealth of web did not finish within 0 s"
