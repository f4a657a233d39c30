"""followups/check.py and followups/looks.py: the look format read strictly, and what a deadline look decides."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from spot_handler.followups import DEADLINE, Check, follow_up_body, parse_checks
from spot_handler.followups.looks import (
    DRAIN_UNFINISHED,
    RETRY_MAX_SECONDS,
    RETRY_SECONDS,
    deadline_look,
    retry_delay,
)
from spot_handler.followups.state import DrainState
from spot_handler.models import MalformedNotice

NOW = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)
ARN = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef"


def look(**changes) -> Check:
    base = Check(
        kind=DEADLINE,
        account="123456789012",
        region="us-east-2",
        instance_id="i-0a1b2c3d4e5f60001",
        notice_id="n-1",
        due=NOW,
        deregistered_at=NOW,
        targets={ARN: ["i-0a1b2c3d4e5f60001:80"]},
        delays={ARN: 120},
        chain="c",
        deadline=NOW + timedelta(seconds=100),
    )
    return dataclasses.replace(base, **changes)


def test_a_look_reads_back_exactly_as_it_was_written():
    original = look(redrain=["target group web: Throttling: Rate exceeded"], classic={"legacy": 120})
    assert parse_checks(follow_up_body([original])) == [original]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("due", "2026-12-07T10:00:00", "checks[0].due: a time without its zone"),
        ("sequence", "1", "checks[0].sequence: expected a whole number"),
        ("sequence", True, "checks[0].sequence: expected a whole number"),
        ("delays", {ARN: "120"}, "checks[0].delays: expected {name: seconds or null}"),
        ("redrain", "x", "checks[0].redrain: expected a list of text"),
        ("detail_type", "EC2 Instance Launch Successful", "checks[0].detail_type: not a signal"),
    ],
)
def test_a_field_that_does_not_fit_is_named(field, value, reason):
    body = follow_up_body([look()])
    body["checks"][0][field] = value
    with pytest.raises(MalformedNotice) as raised:
        parse_checks(body)
    assert raised.value.reason.startswith(reason)


def test_retries_back_off_from_5_to_20_seconds():
    assert [retry_delay(look(tries=n)) for n in range(5)] == [RETRY_SECONDS, 10, 20, RETRY_MAX_SECONDS, 20]


def test_a_failing_drain_is_tried_again_while_a_try_can_arrive_before_the_deadline():
    decided = deadline_look(look(redrain=["target group web: Throttling"]), DrainState(), NOW, window=0)
    assert decided.next is not None and decided.alert is None
    assert decided.next.due == NOW + timedelta(seconds=RETRY_SECONDS)
    assert decided.next.sequence == 1 and decided.next.redrain == ["target group web: Throttling"]


def test_a_drain_still_failing_with_no_time_for_another_try_is_an_unfinished_alert():
    late = look(redrain=["target group web: Throttling"], deadline=NOW + timedelta(seconds=12))
    decided = deadline_look(late, DrainState(), NOW, window=0)
    assert decided.next is None and decided.alert == DRAIN_UNFINISHED
    assert decided.why == ["not drained: target group web: Throttling"]


def test_a_drain_that_may_outlast_the_deadline_is_looked_at_just_before_it_then_alerted_if_still_draining():
    draining = DrainState(targets={ARN: ["i-0a1b2c3d4e5f60001:80"]})
    early = deadline_look(look(), draining, NOW, window=0)
    assert early.next is not None and early.alert is None
    assert (look().deadline - early.next.due).total_seconds() >= 10

    last = deadline_look(early.next, draining, early.next.due, window=0)
    assert last.alert == DRAIN_UNFINISHED and last.next is None


def test_a_drain_over_at_the_last_look_is_finished_in_time():
    decided = deadline_look(look(due=NOW + timedelta(seconds=80)), DrainState(), NOW + timedelta(seconds=80), 0)
    assert decided.finished_in_time and decided.alert is None and decided.next is None
