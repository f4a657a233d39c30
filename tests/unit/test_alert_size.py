"""One alert always fits SNS, and PublishBatch requests are cut by size as well as by count."""

from __future__ import annotations

import json

from spot_handler.alerting.first_alert import LISTED_MAX, compose_alert
from spot_handler.aws.sns import ALERT_MAX_BYTES, PUBLISH_REQUEST_MAX_BYTES, OutgoingAlert, entry_bytes, publish_batches
from spot_handler.models import InstanceFacts, TargetGroupDrain
from spot_handler.outcome import InterruptionOutcome
from spot_handler.planning import InstancePlan
from spot_handler.signals import parse_notice
from spot_handler.steps.target_groups import TargetGroupsPlan, TargetGroupsStep, target_group_report

from tests.support.events import load_event


def dense_outcome(groups: int, registrations: int) -> InterruptionOutcome:
    notice = parse_notice(load_event("spot-interruption-ip-tg.json"))
    facts = InstanceFacts(notice.instance_id, "running", "m7g.16xlarge", "us-east-2a", ("10.0.0.1",), {}, "spot")
    drains = [
        TargetGroupDrain(
            f"arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/pods-{g}/{g:016x}",
            "ip",
            [f"10.{g % 250}.{r // 250}.{r % 250}:8080" for r in range(registrations)],
            delay_seconds=30,
        )
        for g in range(groups)
    ]
    planned = TargetGroupsPlan(arns=tuple(d.target_group_arn for d in drains))
    plan = InstancePlan(notice=notice, instance=facts, by_step={TargetGroupsStep.key: planned})
    plan.drain = True
    return InterruptionOutcome(plan=plan, reports=[target_group_report(plan, drains, notice.deadline)])


def test_a_hundred_registrations_are_summarized_with_exact_counts():
    alert = compose_alert(dense_outcome(groups=1, registrations=100), "0")

    document = json.loads(json.loads(alert.message)["default"])
    [group] = document["targetGroups"]
    assert group["deregisteredCount"] == 100
    assert len(group["deregistered"]) == LISTED_MAX and group["deregisteredOmitted"] == 100 - LISTED_MAX
    assert "and 80 more (100 in all)" in json.loads(alert.message)["email"]


def test_any_number_of_registrations_and_target_groups_fits_one_alert():
    for groups, registrations in ((1, 5000), (50, 750), (2000, 3)):
        outcome = dense_outcome(groups, registrations)

        alert = compose_alert(outcome, "0")

        assert entry_bytes(alert) <= ALERT_MAX_BYTES, (groups, registrations)
        document = json.loads(json.loads(alert.message)["default"])
        assert document["outcome"] == "drained"
        listed = document["targetGroups"]
        assert len(listed) + document.get("targetGroupsOmitted", 0) == groups
        assert all(group["deregisteredCount"] == registrations for group in listed)


def alert_of(size: int, entry_id: str) -> OutgoingAlert:
    return OutgoingAlert(entry_id, "Spot interruption", "x" * size, {"outcome": "drained"})


def test_batches_are_cut_by_size_and_by_count():
    big = [alert_of(60_000, str(i)) for i in range(10)]
    small = [alert_of(100, str(i)) for i in range(25)]

    big_batches = publish_batches(big)
    small_batches = publish_batches(small)

    assert [len(b) for b in small_batches] == [10, 10, 5]
    assert all(sum(entry_bytes(a) for a in batch) < PUBLISH_REQUEST_MAX_BYTES for batch in big_batches)
    assert [a.entry_id for batch in big_batches for a in batch] == [str(i) for i in range(10)]
    assert len(big_batches) == 3
