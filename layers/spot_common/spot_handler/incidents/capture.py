"""What one signal's drain of one instance took away, read from the drain steps' reports."""

from __future__ import annotations

from datetime import datetime

from spot_handler.incidents.records import Drain, Registration
from spot_handler.models import TargetGroupDrain
from spot_handler.planning import InstancePlan
from spot_handler.steps import StepReport
from spot_handler.steps.classic_elb import ClassicDrain
from spot_handler.steps.ecs import ContainerInstanceDrain


def drain_of(plan: InstancePlan, reports: list[StepReport], at: datetime, signal: str | None = None) -> Drain:
    """The registrations, Classic Load Balancers and ECS container instance this drain took away (not what it found
    away already), and the delays it lowered."""
    registrations, classic, ecs, delays = [], [], [], []
    for report in reports:
        for item in report.data if isinstance(report.data, list) else [report.data]:
            if isinstance(item, TargetGroupDrain):
                arn = item.target_group_arn
                registrations += [
                    Registration(arn, t["Id"], t.get("Port"), t.get("AvailabilityZone")) for t in item.removed
                ]
                if item.delay_lowered_from is not None and item.delay_seconds is not None:
                    delays.append((arn, item.delay_lowered_from, item.delay_seconds))
            elif isinstance(item, ClassicDrain) and item.deregistered:
                classic.append(item.name)
            elif isinstance(item, ContainerInstanceDrain) and item.draining and item.container_instance_arn:
                ecs.append((item.cluster, item.container_instance_arn))
    notice = plan.notice
    return Drain(
        account=notice.account,
        instance_id=notice.instance_id,
        region=notice.region,
        signal=signal or notice.kind.value,
        drained_at=at,
        registrations=registrations,
        classic=classic,
        ecs=ecs,
        delays=delays,
        notice_id=notice.notice_id,
    )
