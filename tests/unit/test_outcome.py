"""What happened for one notice (spot_handler/outcome.py): the one-word status subscribers filter on, the failures
the alert lists, and the margin to the deadline. Written against outcome.py as it stands on main (step reports)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from spot_handler.models import InstanceFacts, TargetGroupDrain
from spot_handler.outcome import InterruptionOutcome
from spot_handler.planning import InstancePlan
from spot_handler.signals import parse_notice
from spot_handler.steps import StepReport

from tests.support.events import load_event

TG = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef"
NOTICE = parse_notice(load_event("spot-interruption-instance-tg.json"))
FACTS = InstanceFacts(NOTICE.instance_id, "running", "c6g.large", "us-east-2a", ("10.0.0.1",), {}, "spot")


def plan(**changes) -> InstancePlan:
    return InstancePlan(**{"notice": NOTICE, "instance": FACTS, "drain": True, **changes})


def drained(attempts: int = 1, took_out: int = 1, failures: tuple[str, ...] = ()) -> StepReport:
    return StepReport(
        "Target groups", "targetGroups", failures=list(failures), drain_attempts=attempts, drained=took_out
    )


CHECKPOINTED = StepReport("GameLift", "gameLift", checkpointed=True)
CHECKPOINT_FAILED = StepReport(
    "GameLift", "gameLift", failures=["fleet f: DescribeGameSessions AccessDenied: no"], checkpointed=True
)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (InterruptionOutcome(plan(lookup_error="DescribeInstances 5xx")), "failed"),
        (InterruptionOutcome(plan(instance=None)), "instance-not-found"),
        (InterruptionOutcome(plan(instance=FACTS._replace(state="terminated"))), "already-terminated"),
        (InterruptionOutcome(plan(drain=False), [drained()]), "alert-only"),
        (InterruptionOutcome(plan()), "nothing-to-drain"),
        (InterruptionOutcome(plan(), [CHECKPOINTED]), "checkpointed"),
        (InterruptionOutcome(plan(), [CHECKPOINT_FAILED]), "failed"),
        (InterruptionOutcome(plan(), [drained()]), "drained"),
        (InterruptionOutcome(plan(), [drained(2, 1, ("target group api: AccessDenied",))]), "partial"),
        (InterruptionOutcome(plan(), [drained()], problems=["alert too large"]), "partial"),
        (InterruptionOutcome(plan(), [drained(1, 0, ("target group web: AccessDenied",))]), "failed"),
    ],
)
def test_status_says_in_one_word_what_happened(outcome, status):
    assert outcome.status == status


def test_failures_are_listed_planning_first_then_each_step_in_order_then_the_rest():
    outcome = InterruptionOutcome(
        plan(lookup_error="DescribeInstances RequestLimitExceeded", problems=["tag value 'web' is not an ARN"]),
        [drained(1, 0, ("target group web: AccessDenied",)), CHECKPOINT_FAILED],
        problems=["alert too large"],
    )

    assert outcome.failures == [
        "instance lookup: DescribeInstances RequestLimitExceeded",
        "tag value 'web' is not an ARN",
        "target group web: AccessDenied",
        "fleet f: DescribeGameSessions AccessDenied: no",
        "alert too large",
    ]


def test_drains_and_the_margin_come_from_the_drain_reports():
    # Given two drain reports: the first request went out 100 s before the 120 s deadline
    sent = NOTICE.noticed_at + timedelta(seconds=20)
    record = TargetGroupDrain(TG, "instance", deregistered=[f"{NOTICE.instance_id}:80"])
    first = StepReport("Target groups", "targetGroups", drain_attempts=1, drained=1, sent_at=sent, data=[record])
    later = StepReport("Classic ELB", "classicLoadBalancers", drain_attempts=1, drained=1, sent_at=sent + timedelta(1))

    outcome = InterruptionOutcome(plan(), [first, later])

    assert outcome.drains == [record]
    assert outcome.seconds_left == 100.0
    assert InterruptionOutcome(plan()).seconds_left is None
