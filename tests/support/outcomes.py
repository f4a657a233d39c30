"""Outcomes and follow-up checks built from the sample events with fixed facts: the same alert every run.

The alert's unit tests (text, size, chat, the before/after comparison of tests/unit/test_alert_unchanged.py) take
their cases from here, so each case is one name and one recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from spot_handler.aws import gamelift as gl
from spot_handler.followups import Check, Look
from spot_handler.followups.state import DrainState
from spot_handler.models import InstanceFacts, TargetGroupDrain
from spot_handler.outcome import InterruptionOutcome
from spot_handler.planning import InstancePlan
from spot_handler.signals import parse_notice
from spot_handler.steps.target_groups import TargetGroupsPlan, TargetGroupsStep, target_group_report

from tests.support.events import load_event

WEB = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef"
API = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/api/fedcba9876543210"

# Every sample event that is one notice (sqs-batch.json holds several; malformed-notice.json is none).
NOTICE_EVENTS = (
    "capacity-reservation-interruption.json",
    "lifecycle-other-hook.json",
    "lifecycle-terminate.json",
    "lifecycle-warm-pool.json",
    "rebalance-recommendation.json",
    "spot-interruption-classic-elb.json",
    "spot-interruption-ecs-container-instance.json",
    "spot-interruption-gamelift-fleet-compute.json",
    "spot-interruption-gamelift-fleetiq.json",
    "spot-interruption-hibernate.json",
    "spot-interruption-instance-tg.json",
    "spot-interruption-ip-tg.json",
    "spot-interruption-stop.json",
    "spot-interruption-two-target-groups.json",
    "spot-interruption-unknown-instance.json",
)


def outcome(
    event: str = "spot-interruption-instance-tg.json",
    drains: list[TargetGroupDrain] | None = None,
    name_tag: str | None = "web-1",
    found: bool = True,
    drain: bool = True,
    instance_type: str = "c6g.large",
    zone: str = "us-east-2a",
    lookup_error: str | None = None,
    state: str = "running",
) -> InterruptionOutcome:
    """The outcome of one sample notice: its instance found (or not) and drained from `drains`, the first drain
    request (if any) sent 97.4 s before the deadline (or the notice time + 22.6 s for a notice without one)."""
    notice = parse_notice(load_event(event))
    tags = {"Name": name_tag} if name_tag is not None else {}
    facts = InstanceFacts(notice.instance_id, state, instance_type, zone, ("10.0.0.1",), tags, "spot")
    plan = InstancePlan(
        notice=notice,
        instance=facts if found else None,
        by_step={TargetGroupsStep.key: TargetGroupsPlan(arns=tuple(d.target_group_arn for d in drains or []))},
        drain=found and drain,
        lookup_error=lookup_error,
    )
    sent_at = (notice.deadline or notice.noticed_at + timedelta(seconds=120)) - timedelta(seconds=97.4)
    sent_at = sent_at if drains and plan.drain else None  # no request, no time it was sent
    return InterruptionOutcome(plan=plan, reports=[target_group_report(plan, drains or [], sent_at)])


def drained(instance: str = "i-0a1b2c3d4e5f60001") -> list[TargetGroupDrain]:
    return [TargetGroupDrain(WEB, "instance", [f"{instance}:80"], delay_lowered_from=300, delay_seconds=120)]


def partly_drained(instance: str = "i-0a1b2c3d4e5f60001") -> list[TargetGroupDrain]:
    return [
        *drained(instance),
        TargetGroupDrain(API, error="AccessDenied: not authorized to perform elasticloadbalancing:DeregisterTargets"),
    ]


def dense(groups: int, registrations: int) -> InterruptionOutcome:
    """An instance in `groups` ip target groups with `registrations` registrations each: an alert past SNS's size."""
    drains = [
        TargetGroupDrain(
            f"arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/pods-{g}/{g:016x}",
            "ip",
            [f"10.{g % 250}.{r // 250}.{r % 250}:8080" for r in range(registrations)],
            delay_seconds=30,
        )
        for g in range(groups)
    ]
    return outcome("spot-interruption-ip-tg.json", drains, name_tag=None, instance_type="m7g.16xlarge")


def checkpointed() -> InterruptionOutcome:
    """A GameLift compute's instance, its (one) game session checkpointed, in no target group."""
    from spot_handler.gamelift.report import CheckpointReport, GameSessionCheckpoint
    from spot_handler.steps import StepReport

    base = outcome("spot-interruption-gamelift-fleet-compute.json", name_tag="game-1")
    notice = base.plan.notice
    session = gl.GameSession(
        game_session_id="arn:aws:gamelift:us-east-2::gamesession/fleet-123/gsess-1",
        name="arena-7",
        fleet_id="fleet-123",
        fleet_arn="arn:aws:gamelift:us-east-2:123456789012:fleet/fleet-123",
        location="custom-location-1",
        compute_name=notice.instance_id,
        status="ACTIVE",
        player_session_creation_policy="ACCEPT_ALL",
        ip_address="10.0.0.1",
        port=7777,
    )
    report = CheckpointReport(
        instance_id=notice.instance_id,
        table_name="game-checkpoints",
        fleet_id="fleet-123",
        compute_name=notice.instance_id,
        game_sessions=[GameSessionCheckpoint(session, players_denied=True, roster_read=True, stored=True)],
        captured_at=notice.noticed_at,
        account=notice.account,
    )
    step = StepReport(
        step="GameLift",
        key="gameLift",
        render=lambda listed: (report.summary_lines(listed), report.document()),
        checkpointed=True,
    )
    return type(base)(plan=base.plan, reports=[*base.reports, step])


def unfinished_check(outcome_: InterruptionOutcome, still_draining: int = 2) -> tuple[Check, dict[str, list[str]]]:
    """The deadline check the first alert of `outcome_` scheduled, and what it found still draining."""
    notice, instance = outcome_.plan.notice, outcome_.plan.instance
    draining = {WEB: [f"{notice.instance_id}:{8080 + n}" for n in range(still_draining)]}
    check = Check(
        kind="deadline",
        account=notice.account,
        region=notice.region,
        instance_id=notice.instance_id,
        notice_id=notice.notice_id,
        due=notice.deadline - timedelta(seconds=20),
        deregistered_at=notice.noticed_at + timedelta(seconds=22),
        targets=draining,
        delays={WEB: 300},
        deadline=notice.deadline,
        availability_zone=instance.availability_zone if instance else None,
        instance_name=instance.name if instance else None,
    )
    return check, draining


def unfinished_look(outcome_: InterruptionOutcome, still_draining: int = 2, outcome: str = "drain-unfinished"):
    """The look of unfinished_check that found its registrations still draining at the deadline, and decided the
    follow-up alert `outcome`."""
    check, draining = unfinished_check(outcome_, still_draining)
    why = [f"target group web: {len(draining[WEB])} registration(s) draining"]
    return Look(check, DrainState(targets=draining), alert=outcome, why=why)


# name -> the outcome of that case: every kind of sample notice, and the states an alert says something different in.
CASES: dict[str, Callable[[], InterruptionOutcome]] = {
    **{f"drained:{event}": (lambda e=event: outcome(e, drained())) for event in NOTICE_EVENTS},
    **{f"not-found:{event}": (lambda e=event: outcome(e, found=False)) for event in NOTICE_EVENTS},
    "partial": lambda: outcome(drains=partly_drained()),
    "failed": lambda: outcome(drains=partly_drained()[1:]),
    "nothing-to-drain": lambda: outcome(),
    "lookup-failed": lambda: outcome(found=False, lookup_error="RequestLimitExceeded: Request limit exceeded."),
    "rebalance-alert-only": lambda: outcome("rebalance-recommendation.json", drain=False),
    "already-terminated": lambda: outcome(state="terminated"),
    "checkpointed": checkpointed,
    "hostile-name-tag": lambda: outcome(drains=drained(), name_tag="<!channel> *bold* `tick`\u0007 \U0001f525" * 8),
    "dense-1x5000": lambda: dense(1, 5000),
    "dense-50x750": lambda: dense(50, 750),
    "dense-2000x3": lambda: dense(2000, 3),
}
