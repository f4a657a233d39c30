"""The flow of a batch of interruption notices, in the order the two minutes demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from spot_handler.alert import compose_alert
from spot_handler.aws import AwsClients
from spot_handler.aws.autoscaling import target_groups_of
from spot_handler.aws.claims import NoticeClaims
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.aws.ec2 import describe_instances
from spot_handler.aws.notify import publish_alerts
from spot_handler.budget import DidNotFinish, TimeBudget
from spot_handler.drain import drain_target_groups, utcnow
from spot_handler.models import InstanceFacts, InterruptionNotice
from spot_handler.outcome import InterruptionOutcome
from spot_handler.planning import InstancePlan, needs_checkpoint, plan_interruption
from spot_handler.settings import Settings


@dataclass
class NoticeResult:
    notice: InterruptionNotice
    outcome: InterruptionOutcome | None = None  # None when the notice was ignored (out of scope)
    alert_error: str | None = None  # the alert did not go out: the notice must be delivered again
    duplicate: bool = False  # this interruption was already alerted: nothing done, reported success

    @property
    def handled(self) -> bool:
        return self.alert_error is None


def handle_notices(
    notices: list[InterruptionNotice],
    clients: AwsClients,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    budget: TimeBudget | None = None,
) -> list[NoticeResult]:
    """Drain, checkpoint and alert for a batch of notices; one result per notice, in the same order.

    Work before the alert runs within the time budget (budget.py); what did not finish is named in the alert.
    Idempotency (aws/claims.py): draining never waits for the claims, since it is harmless twice. Then an
    interruption already alerted is skipped; one claimed elsewhere, or whose claim is unknown, is not checkpointed or
    alerted here, and is delivered again.
    """
    budget = (budget or TimeBudget.start()).bounded_by([n.deadline for n in notices], clock())
    claims = NoticeClaims.open(clients.dynamodb, settings.idempotency_table_name)
    claiming = claims.start(notices)  # in the background, while the instances are looked up and drained
    plans = plan_notices(notices, clients, settings, budget)
    in_scope = [plan for plan in plans if plan.ignored_reason is None]
    drained = drain_target_groups(clients.elbv2, in_scope, settings, clock, budget)  # first: nothing may delay it

    claimed = claiming.wait(budget)
    active = [plan for plan in in_scope if not claimed.done(plan.notice)]
    owned = [plan for plan in active if claimed.owned(plan.notice)]
    checkpoints, checkpoint_error = _within(  # after deregistration was sent, for the interruptions claimed here
        budget, "GameLift checkpoint", _checkpoint, clients, owned, settings, clock
    )
    outcomes = {
        id(plan): InterruptionOutcome(
            plan=plan,
            drains=drained.for_instance(plan.instance_id) if plan.drain else [],
            seconds_left=drained.seconds_left.get(plan.instance_id),
            gamelift=(checkpoints or {}).get(plan.instance_id),
            problems=[checkpoint_error] if checkpoint_error and needs_checkpoint(plan) else [],
        )
        for plan in active
    }

    alerts, failed = {}, {}
    for i, plan in enumerate(owned):
        try:
            alerts[str(i)] = compose_alert(outcomes[id(plan)], entry_id=str(i))
        except Exception as exc:  # noqa: BLE001 - one alert that cannot be written must not hold back the others
            failed[str(i)] = f"alert could not be composed ({type(exc).__name__}: {exc})"
    failed |= publish_alerts(clients.sns, settings.alert_topic_arn, list(alerts.values()))
    alert_errors = {id(plan): failed.get(str(i)) for i, plan in enumerate(owned)}
    alert_errors |= {id(plan): claimed.why_not_owned(plan.notice) for plan in active if not claimed.owned(plan.notice)}

    results = [
        NoticeResult(
            notice=plan.notice,
            outcome=outcomes.get(id(plan)),
            alert_error=alert_errors.get(id(plan)),
            duplicate=claimed.done(plan.notice),
        )
        for plan in plans
    ]
    claims.settle(claimed, [r.notice for r in results if r.handled], [r.notice for r in results if not r.handled])
    return results


def _checkpoint(clients: AwsClients, plans: list[InstancePlan], settings: Settings, clock) -> dict:
    """GameLift checkpoints; the module is loaded on first use, so fleets without GameLift never pay its import."""
    if not any(needs_checkpoint(plan) for plan in plans):
        return {}
    from spot_handler.gamelift import checkpoint_game_sessions

    return checkpoint_game_sessions(clients, plans, settings, clock)


def _within(budget: TimeBudget, what: str, fn, *args):
    """(fn's result, None), or (None, what did not finish) once the budget is spent."""
    try:
        return budget.run(what, fn, *args), None
    except DidNotFinish as exc:
        return None, str(exc)


def plan_notices(
    notices: list[InterruptionNotice], clients: AwsClients, settings: Settings, budget: TimeBudget | None = None
) -> list[InstancePlan]:
    """One DescribeInstances (and at most one DescribeAutoScalingGroups) for the whole batch, then a plan each."""
    budget = budget or TimeBudget.start()
    try:
        instances = budget.run("DescribeInstances", describe_instances, clients.ec2, [n.instance_id for n in notices])
    except (*AWS_ERRORS, DidNotFinish) as exc:
        reason = describe_error(exc)
        return [InstancePlan(notice=n, instance=None, lookup_error=reason) for n in notices]

    asg_target_groups: dict[str, list[str]] = {}
    asg_error = None
    groups = {i.auto_scaling_group for i in instances.values() if i.auto_scaling_group}
    if settings.discover_asg_target_groups and groups:
        try:
            asg_target_groups = budget.run("DescribeAutoScalingGroups", target_groups_of, clients.autoscaling, groups)
        except (*AWS_ERRORS, DidNotFinish) as exc:
            asg_error = describe_error(exc)

    plans = []
    for notice in notices:
        instance: InstanceFacts | None = instances.get(notice.instance_id)
        plan = plan_interruption(notice, instance, asg_target_groups, settings)
        if asg_error and instance is not None and instance.auto_scaling_group:
            plan.problems.append(f"Auto Scaling group {instance.auto_scaling_group}: {asg_error}")
        plans.append(plan)
    return plans
