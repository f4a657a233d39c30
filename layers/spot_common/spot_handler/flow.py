"""The flow of a batch of interruption notices, in the order the two minutes demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from spot_handler.alert import compose_alert
from spot_handler.aws import AwsClients
from spot_handler.aws.autoscaling import target_groups_of
from spot_handler.aws.clients import describe_error
from spot_handler.aws.ec2 import describe_instances
from spot_handler.aws.notify import publish_alerts
from spot_handler.drain import drain_target_groups, utcnow
from spot_handler.gamelift import checkpoint_game_sessions
from spot_handler.models import InstanceFacts, InterruptionNotice
from spot_handler.outcome import InterruptionOutcome
from spot_handler.planning import InstancePlan, plan_interruption
from spot_handler.settings import Settings

AwsError = (ClientError, BotoCoreError)


@dataclass
class NoticeResult:
    notice: InterruptionNotice
    outcome: InterruptionOutcome | None = None  # None when the notice was ignored (out of scope)
    alert_error: str | None = None  # the alert did not go out: the notice must be delivered again

    @property
    def handled(self) -> bool:
        return self.alert_error is None


def handle_notices(
    notices: list[InterruptionNotice],
    clients: AwsClients,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
) -> list[NoticeResult]:
    """Drain, checkpoint and alert for a batch of notices; one result per notice, in the same order."""
    plans = plan_notices(notices, clients, settings)
    active = [plan for plan in plans if plan.ignored_reason is None]

    drained = drain_target_groups(clients.elbv2, active, settings, clock)  # first: nothing may delay it
    checkpoints = checkpoint_game_sessions(clients, active, settings, clock)  # after deregistration was sent
    outcomes = {
        id(plan): InterruptionOutcome(
            plan=plan,
            drains=drained.for_instance(plan.instance_id) if plan.drain else [],
            seconds_left=drained.seconds_left.get(plan.instance_id),
            gamelift=checkpoints.get(plan.instance_id),
        )
        for plan in active
    }

    alerts = {str(i): compose_alert(outcomes[id(plan)], entry_id=str(i)) for i, plan in enumerate(active)}
    failed = publish_alerts(clients.sns, settings.alert_topic_arn, list(alerts.values()))
    alert_errors = {id(plan): failed.get(str(i)) for i, plan in enumerate(active)}

    return [
        NoticeResult(notice=plan.notice, outcome=outcomes.get(id(plan)), alert_error=alert_errors.get(id(plan)))
        for plan in plans
    ]


def plan_notices(notices: list[InterruptionNotice], clients: AwsClients, settings: Settings) -> list[InstancePlan]:
    """One DescribeInstances (and at most one DescribeAutoScalingGroups) for the whole batch, then a plan each."""
    try:
        instances = describe_instances(clients.ec2, [n.instance_id for n in notices])
    except AwsError as exc:
        reason = describe_error(exc)
        return [InstancePlan(notice=n, instance=None, lookup_error=reason) for n in notices]

    asg_target_groups: dict[str, list[str]] = {}
    asg_error = None
    groups = {i.auto_scaling_group for i in instances.values() if i.auto_scaling_group}
    if settings.discover_asg_target_groups and groups:
        try:
            asg_target_groups = target_groups_of(clients.autoscaling, groups)
        except AwsError as exc:
            asg_error = describe_error(exc)

    plans = []
    for notice in notices:
        instance: InstanceFacts | None = instances.get(notice.instance_id)
        plan = plan_interruption(notice, instance, asg_target_groups, settings)
        if asg_error and instance is not None and instance.auto_scaling_group:
            plan.problems.append(f"Auto Scaling group {instance.auto_scaling_group}: {asg_error}")
        plans.append(plan)
    return plans
