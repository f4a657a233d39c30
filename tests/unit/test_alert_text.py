"""The alert's subject, e-mail text and JSON: what a person and a machine read."""

from __future__ import annotations

import json
from datetime import timedelta

from spot_handler.alerting.first_alert import compose_alert, email_text, subject
from spot_handler.alerting.text import SUBJECT_MAX
from spot_handler.models import InstanceFacts, TargetGroupDrain
from spot_handler.outcome import InterruptionOutcome
from spot_handler.planning import InstancePlan
from spot_handler.signals import parse_notice
from spot_handler.steps.target_groups import TargetGroupsPlan, TargetGroupsStep, target_group_report

from tests.support.events import load_event

ARN = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef"


def outcome(
    name_tag="web-1", drains=None, event="spot-interruption-instance-tg.json", found=True
) -> InterruptionOutcome:
    notice = parse_notice(load_event(event))
    facts = InstanceFacts(
        notice.instance_id, "running", "c6g.large", "us-east-2a", ("10.0.0.1",), {"Name": name_tag}, "spot"
    )
    planned = {TargetGroupsStep.key: TargetGroupsPlan(arns=(ARN,))}
    plan = InstancePlan(notice=notice, instance=facts if found else None, drain=found, by_step=planned)
    sent_at = notice.deadline - timedelta(seconds=97.4)  # deregistration requested 97.4 s before the deadline
    return InterruptionOutcome(plan=plan, reports=[target_group_report(plan, drains or [], sent_at)])


def test_subject_fits_sns_and_has_no_line_breaks_whatever_the_name_tag():
    long_name = "payments-api-blue-green-canary\nsecond line " * 6

    text = subject(outcome(name_tag=long_name))

    assert len(text) <= SUBJECT_MAX < 100
    assert "\n" not in text and "\r" not in text
    assert text.startswith("Spot interruption: i-0a1b2c3d4e5f60001 (payments-api")
    assert text.endswith("terminate in us-east-2a: nothing to drain")


def test_email_names_what_was_drained_and_what_failed():
    drains = [
        TargetGroupDrain(ARN, "instance", ["i-0a1b2c3d4e5f60001:80"], delay_lowered_from=300, delay_seconds=120),
        TargetGroupDrain(
            "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/api/fedcba9876543210",
            error="AccessDenied: not authorized to perform elasticloadbalancing:DeregisterTargets",
        ),
    ]

    body = email_text(outcome(drains=drains))

    assert "Instance  i-0a1b2c3d4e5f60001 (web-1)" in body
    assert "Type      c6g.large, Spot, running" in body
    assert "Deadline  2026-11-26 10:02:00 UTC" in body
    assert "Drained   97 s before the deadline" in body
    assert "    delay lowered 300 s -> 120 s" in body
    assert "- api\n    FAILED: AccessDenied" in body
    assert "Failures (1)\n- target group api: AccessDenied" in body
    # short lines: readable on a phone
    assert max(len(line) for line in body.splitlines()) <= 72


def test_message_carries_text_for_people_and_json_for_machines_with_filterable_attributes():
    alert = compose_alert(outcome(drains=[TargetGroupDrain(ARN, "instance", ["i-0a1b2c3d4e5f60001:80"])]), "0")

    message = json.loads(alert.message)
    # One copy of the JSON: SNS gives "default" to every protocol without a key (sqs, lambda, http, firehose, ...);
    # "https" is the chat message (tests/unit/test_chat_message.py)
    assert set(message) == {"default", "email", "sms", "https"}
    document = json.loads(message["default"])
    assert message["email"].startswith("Spot interruption: EC2 will terminate i-0a1b2c3d4e5f60001")
    assert document["outcome"] == "drained"
    assert document["targetGroups"][0]["deregistered"] == ["i-0a1b2c3d4e5f60001:80"]
    assert alert.attributes == {
        "event_type": "EC2 Spot Instance Interruption Warning",
        "instance_id": "i-0a1b2c3d4e5f60001",
        "availability_zone": "us-east-2a",
        "outcome": "drained",
        "account_id": "123456789012",
        "region": "us-east-2",
    }


def test_unknown_instance_alert_says_what_is_known():
    alert = compose_alert(outcome(found=False), "0")

    assert alert.subject == "Spot interruption: i-0a1b2c3d4e5f60001 terminate in us-east-2: instance not found"
    assert alert.attributes["availability_zone"] == "unknown"
