"""What the drain steps took out of service for one instance, as a look needs it: what to watch drain, and what
failed in a way worth draining again."""

from __future__ import annotations

from typing import NamedTuple

from spot_handler.models import TargetGroupDrain
from spot_handler.planning import InstancePlan
from spot_handler.steps import StepReport
from spot_handler.steps.classic_elb import ClassicDrain
from spot_handler.steps.ecs import ContainerInstanceDrain


class Drained(NamedTuple):
    targets: dict[str, list[str]]  # target group ARN -> "id:port" registrations draining (deregistered or found so)
    delays: dict[str, int | None]  # target group ARN -> deregistration delay in force
    classic: dict[str, int | None]  # Classic Load Balancer -> connection draining timeout in force (deregistered)
    ecs_cluster: str = ""
    ecs_container_instance: str = ""  # set to DRAINING (or found so) with service tasks on it
    ecs_standalone_tasks: int = 0
    retry: tuple[str, ...] | list[str] = ()  # what failed and is drained again by a follow-up
    gone: bool = False  # the instance is not there any more (or terminated): nothing can drain

    @property
    def waiting(self) -> bool:
        """Something is draining that a lifecycle action must wait for."""
        draining_classic = any(timeout for timeout in self.classic.values())
        return bool(self.targets or draining_classic or self.ecs_container_instance)


def what_drained(plan: InstancePlan, reports: list[StepReport]) -> Drained:
    """Read the drain steps' reports of one instance (steps/target_groups.py, classic_elb.py, ecs.py)."""
    targets: dict[str, list[str]] = {}
    delays: dict[str, int | None] = {}
    classic: dict[str, int | None] = {}
    ecs = ("", "", 0)
    retry = [f"instance lookup: {plan.lookup_error}"] if plan.lookup_error else []
    retry += [plan.asg_error] if plan.asg_error else []
    for report in reports:
        retry += report.retry
        data = report.data if isinstance(report.data, list) else [report.data]
        for item in data:
            if isinstance(item, TargetGroupDrain) and (item.deregistered or item.already_draining):
                targets[item.target_group_arn] = [*item.deregistered, *item.already_draining]
                delays[item.target_group_arn] = item.delay_seconds
            elif isinstance(item, ClassicDrain) and item.deregistered:
                classic[item.name] = item.draining_timeout
            elif isinstance(item, ContainerInstanceDrain) and item.container_instance_arn and item.done:
                if item.services or item.tasks_note:  # service tasks to move (or unknown): wait for them
                    ecs = (item.cluster, item.container_instance_arn, item.standalone_tasks)
    gone = plan.lookup_error is None and (plan.instance is None or plan.instance.state == "terminated")
    return Drained(targets, delays, classic, *ecs, retry=retry, gone=gone)
