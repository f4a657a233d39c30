"""The chat message every alert carries under "https": a custom notification Amazon Q Developer in chat applications
shows in Slack and Teams (docs/design-notes.md "Chat messages" has the schema and the limits, with their sources)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from spot_handler.alerting.chat import CHAT_MAX_BYTES, chat_message, share_bytes, thread_id, thread_of
from spot_handler.alerting.first_alert import compose_alert
from spot_handler.alerting.follow_up_alert import compose_follow_up_alert
from spot_handler.aws.sns import ALERT_MAX_BYTES, entry_bytes

from tests.support.chat import SCHEMA
from tests.support.outcomes import CASES, outcome, partly_drained, unfinished_look

LIFECYCLE = "lifecycle-terminate.json"


def chat_of(alert) -> dict:
    return json.loads(json.loads(alert.message)["https"])


def all_alerts() -> dict[str, object]:
    alerts = {name: compose_alert(make(), "0") for name, make in CASES.items()}
    alerts["drain-unfinished"] = compose_follow_up_alert(unfinished_look(outcome()), "0")
    for later in ("lifecycle-unconfirmed", "lifecycle-not-completed"):
        alerts[later] = compose_follow_up_alert(unfinished_look(outcome(), outcome=later), "0")
    return alerts


@pytest.fixture(scope="module")
def alerts():
    return all_alerts()


def test_every_outcome_gives_a_custom_notification_within_the_limits(alerts):
    outcomes = set()
    for name, alert in alerts.items():
        message = json.loads(alert.message)["https"]
        chat = json.loads(message)
        jsonschema.validate(chat, SCHEMA)
        assert share_bytes(message) <= CHAT_MAX_BYTES, name
        # what the alert always carried stays within its own bound, and the chat message adds at most its own
        kept = {key: text for key, text in json.loads(alert.message).items() if key != "https"}
        legacy = alert._replace(message=json.dumps(kept))
        assert entry_bytes(legacy) <= ALERT_MAX_BYTES, name
        assert entry_bytes(alert) <= ALERT_MAX_BYTES + CHAT_MAX_BYTES, name
        outcomes.add(chat["metadata"]["additionalContext"]["outcome"])
    # every outcome an alert has today, the follow-up's included
    assert outcomes == {
        "drained",
        "partial",
        "failed",
        "nothing-to-drain",
        "alert-only",
        "instance-not-found",
        "already-terminated",
        "checkpointed",
        "drain-unfinished",
        "lifecycle-unconfirmed",
        "lifecycle-not-completed",
    }


def test_the_message_says_what_the_email_says(alerts):
    # Given an instance drained from one target group and refused by another
    chat = chat_of(alerts["partial"])
    content = chat["content"]

    # Then the title is the subject (one line), and the description names the instance, what was drained and how,
    # what failed and why, and the deadline
    assert content["title"] == (
        "\u26a0\ufe0f Spot interruption: i-0a1b2c3d4e5f60001 (web-1) terminate in us-east-2a: drained with failures"
    )
    description = content["description"]
    assert description.startswith("Spot interruption: EC2 will terminate i-0a1b2c3d4e5f60001 by the deadline.\n")
    assert "Outcome `partial`, 1 failure, deadline 2026-11-26 10:02:00 UTC." in description
    for fact in (
        "Instance  i-0a1b2c3d4e5f60001 (web-1)",
        "- web (instance)\n    deregistered i-0a1b2c3d4e5f60001:80\n    delay lowered 300 s -> 120 s",
        "- target group api: AccessDenied",
        "Deadline  2026-11-26 10:02:00 UTC",
    ):
        assert fact in description
    assert description.count("```") == 2  # the details in one block, whatever they hold
    assert content["nextSteps"] and "by hand" in content["nextSteps"][0]
    assert chat["metadata"]["relatedResources"] == [
        "arn:aws:ec2:us-east-2:123456789012:instance/i-0a1b2c3d4e5f60001",
        "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef",
        "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/api/fedcba9876543210",
    ]
    assert content["keywords"] == ["partial", "us-east-2a", "c6g.large"]


@pytest.mark.parametrize(
    ("case", "steps"),
    [
        ("drained:spot-interruption-instance-tg.json", False),
        ("nothing-to-drain", False),
        ("partial", True),
        ("failed", True),
        ("not-found:spot-interruption-instance-tg.json", True),
        ("rebalance-alert-only", True),
        ("already-terminated", False),
        ("checkpointed", True),
        ("drain-unfinished", True),
    ],
)
def test_next_steps_where_there_is_one(alerts, case, steps):
    assert ("nextSteps" in chat_of(alerts[case])["content"]) is steps


def test_every_message_of_an_incident_lands_in_its_first_alerts_thread(alerts):
    # Given the first alert of a Spot interruption and the drain-unfinished alert its follow-up sent
    first = chat_of(alerts["drained:spot-interruption-instance-tg.json"])
    later = chat_of(alerts["drain-unfinished"])

    # Then both carry one thread id, which anyone holding either JSON alert can compute again
    assert first["metadata"]["threadId"] == later["metadata"]["threadId"]
    assert first["metadata"]["threadId"] == thread_id(
        "123456789012", "i-0a1b2c3d4e5f60001", "interruption", "6e1c3a0e-6b0f-4d7e-9f44-0b1f2f1e1a01"
    )
    document = json.loads(json.loads(alerts["drain-unfinished"].message)["default"])
    assert thread_of(document) == later["metadata"]["threadId"]
    # And another instance, another notice of the same instance (a later incident) or a rebalance recommendation
    # (advice, not the interruption) each have a thread of their own
    others = {
        chat_of(alerts[name])["metadata"]["threadId"]
        for name in ("drained:spot-interruption-ip-tg.json", "drained:rebalance-recommendation.json")
    }
    assert first["metadata"]["threadId"] not in others and len(others) == 2
    assert (
        thread_id("123456789012", "i-0a1b2c3d4e5f60001", "interruption", "another-notice")
        != (first["metadata"]["threadId"])
    )


def test_every_signal_kind_of_one_interruption_shares_the_incident():
    # A Spot warning, a Capacity Reservation warning and a lifecycle action are one interruption; a rebalance is not
    events = ("spot-interruption-instance-tg.json", "capacity-reservation-interruption.json", LIFECYCLE)
    spot, reservation, lifecycle = (outcome(event).plan.notice for event in events)
    rebalance = outcome("rebalance-recommendation.json").plan.notice
    assert spot.incident == reservation.incident == lifecycle.incident == "interruption" != rebalance.incident


def test_text_from_tags_can_neither_ping_a_channel_nor_leave_the_block(alerts):
    chat = chat_of(alerts["hostile-name-tag"])
    text = json.dumps(chat, ensure_ascii=False)

    assert "<!channel>" not in text and "<" not in text
    assert chat["content"]["description"].count("```") == 2
    assert "\u2039!channel> *bold* 'tick'" in chat["content"]["description"]


def test_a_summarized_alert_gives_a_summarized_message(alerts):
    chat = chat_of(alerts["dense-2000x3"])

    assert "Details are too large for one alert: 2000 target groups" in chat["content"]["description"]
    assert chat["metadata"]["relatedResources"] == ["arn:aws:ec2:us-east-2:123456789012:instance/i-0a1b2c3d4e5f60002"]


def test_a_message_whose_details_do_not_fit_keeps_the_first_lines_and_counts_the_rest():
    # Given an e-mail of thousands of lines, some of them text that takes many bytes once escaped twice
    email = "Spot interruption: EC2 will terminate i-0a1b2c3d4e5f60001 by the deadline.\n\n" + "\n".join(
        f'- registration {n} \U0001f525\U0001f525 "quoted" \\ back' for n in range(4000)
    )
    document = json.loads(json.loads(compose_alert(outcome(drains=partly_drained()), "0").message)["default"])

    message = chat_message("Spot interruption: i-0a1b2c3d4e5f60001", email, document)

    chat = json.loads(message)
    jsonschema.validate(chat, SCHEMA)
    assert share_bytes(message) <= CHAT_MAX_BYTES
    lines = chat["content"]["description"].split("\n")
    assert lines[3] == '- registration 0 \U0001f525\U0001f525 "quoted" \\ back'
    kept = sum(1 for line in lines if line.startswith("- registration"))
    assert 10 < kept < 4000
    assert lines[-2] == f"… {4000 - kept} more lines: the e-mail and the JSON alert have them all"
