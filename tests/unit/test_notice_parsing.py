"""Events become typed notices at the edge; anything else is a MalformedNotice with a reason a person can act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from spot_handler.models import MalformedNotice
from spot_handler.signals import capacity_reservation, parse_notice, spot_warning

from tests.support.events import load_event


def test_spot_warning_deadline_is_notice_time_plus_two_minutes():
    notice = parse_notice(load_event("spot-interruption-instance-tg.json"))

    assert notice.kind is spot_warning.KIND
    assert notice.instance_id == "i-0a1b2c3d4e5f60001"
    assert notice.action == "terminate"
    assert notice.deadline - notice.noticed_at == timedelta(seconds=120)


def test_capacity_reservation_warning_takes_its_termination_time():
    notice = parse_notice(load_event("capacity-reservation-interruption.json"))

    assert notice.kind is capacity_reservation.KIND
    assert notice.deadline == datetime(2026, 11, 26, 10, 2, tzinfo=UTC)


def test_rebalance_recommendation_has_no_deadline_and_no_action():
    notice = parse_notice(load_event("rebalance-recommendation.json"))

    assert notice.deadline is None
    assert notice.action is None
    assert not notice.is_interruption


def test_json_text_is_accepted_and_unknown_fields_are_kept_quiet():
    event = load_event("spot-interruption-stop.json")
    event["detail"]["new-field-aws-added"] = {"x": 1}
    event["replay-name"] = "replay-1"

    notice = parse_notice(json.dumps(event))

    assert notice.action == "stop"


def test_instance_id_comes_from_detail_not_resources():
    event = load_event("spot-interruption-instance-tg.json")
    event["resources"] = ["arn:aws:ec2:us-east-2:123456789012:instance/i-99999999999999999"]

    assert parse_notice(event).instance_id == "i-0a1b2c3d4e5f60001"


@pytest.mark.parametrize(
    ("mutate", "reason_part"),
    [
        (lambda e: e.update({"source": "aws.s3"}), "source"),
        (lambda e: e.update({"detail-type": "EC2 Instance Launch Successful"}), "detail-type"),
        (lambda e: e["detail"].pop("instance-id"), "instance-id"),
        (lambda e: e["detail"].update({"instance-id": "i-xyz"}), "instance-id"),
        (lambda e: e["detail"].update({"instance-action": "explode"}), "instance-action"),
        (lambda e: e["detail"].pop("instance-action"), "instance-action is missing"),
        (lambda e: e.update({"time": "yesterday"}), "time"),
        (lambda e: e.pop("id"), "id"),
    ],
)
def test_malformed_notices_name_what_is_wrong(mutate, reason_part):
    event = load_event("spot-interruption-instance-tg.json")
    mutate(event)

    with pytest.raises(MalformedNotice) as raised:
        parse_notice(event)

    assert reason_part in raised.value.reason


@pytest.mark.parametrize("body", ["", "not json", "[1, 2]", "null", '{"Records": "x"'])
def test_bodies_that_are_not_events(body):
    with pytest.raises(MalformedNotice):
        parse_notice(body)


def test_sample_malformed_notice_is_rejected():
    with pytest.raises(MalformedNotice) as raised:
        parse_notice(load_event("malformed-notice.json"))

    assert "instance-id" in raised.value.reason
