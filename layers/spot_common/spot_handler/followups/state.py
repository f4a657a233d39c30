"""What is still draining for a batch of looks: one read per target group, Classic Load Balancer and ECS cluster,
whatever the number of looks that ask about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from spot_handler.aws import AwsClients
from spot_handler.aws import ecs as ecs_api
from spot_handler.aws import elb as classic_api
from spot_handler.aws import elbv2 as elb
from spot_handler.aws.clients import AWS_ERRORS, describe_error, error_code
from spot_handler.followups.check import Check
from spot_handler.models import target_group_name


@dataclass
class DrainState:
    """What one look found still draining, and what it could not read."""

    targets: dict[str, list[str]] = field(default_factory=dict)  # target group ARN -> registrations still draining
    classic: list[str] = field(default_factory=list)  # Classic Load Balancers still deregistering the instance
    ecs_tasks: int = 0  # service tasks still on the ECS container instance (set to DRAINING)
    unreadable: list[str] = field(default_factory=list)  # what could not be read, and why
    unread_groups: set[str] = field(default_factory=set)  # target groups whose health could not be read

    @property
    def left(self) -> bool:
        return bool(self.targets or self.classic or self.ecs_tasks)

    def described(self) -> list[str]:
        """What is still draining, in words, for an alert."""
        lines = [
            f"target group {target_group_name(arn)}: {len(regs)} registration(s) draining"
            for arn, regs in sorted(self.targets.items())
        ]
        lines += [f"Classic Load Balancer {name}: connections draining" for name in self.classic]
        if self.ecs_tasks:
            lines.append(f"ECS: {self.ecs_tasks} service task(s) still on the container instance")
        return lines


def read_states(clients: AwsClients, checks: list[Check], now: datetime) -> list[DrainState]:
    """Per look, in order: what of its instance is still draining."""
    states = [DrainState() for _ in checks]
    _target_groups(clients.elbv2, checks, states, now)
    _classic(clients.elb, checks, states)
    _ecs(clients.ecs, checks, states)
    return states


def _target_groups(elbv2, checks: list[Check], states: list[DrainState], now: datetime) -> None:
    wanted: dict[str, set[str]] = {}
    since: dict[str, datetime] = {}
    for check in checks:
        for arn, targets in check.targets.items():
            wanted.setdefault(arn, set()).update(targets)
            since[arn] = max(since.get(arn, check.deregistered_at), check.deregistered_at)
    draining: dict[str, set[str]] = {}
    errors: dict[str, str] = {}
    for arn, targets in wanted.items():
        try:
            draining[arn] = elb.still_draining(elbv2, arn, sorted(targets), since[arn], now)
        except AWS_ERRORS as exc:
            if error_code(exc) == "TargetGroupNotFound":
                draining[arn] = set()  # the group is gone, and its draining with it
            else:
                errors[arn] = describe_error(exc)
    for check, state in zip(checks, states):
        for arn, targets in check.targets.items():
            if arn in errors:
                state.unreadable.append(f"target group {target_group_name(arn)}: {errors[arn]}")
                state.unread_groups.add(arn)
            elif still := [t for t in targets if t in draining.get(arn, ())]:
                state.targets[arn] = still


def _classic(client, checks: list[Check], states: list[DrainState]) -> None:
    by_name: dict[str, set[str]] = {}
    for check in checks:
        for name in check.classic:
            by_name.setdefault(name, set()).add(check.instance_id)
    draining: dict[str, set[str]] = {}
    errors: dict[str, str] = {}
    for name, ids in by_name.items():
        try:
            draining[name] = classic_api.instances_draining(client, name, sorted(ids))
        except AWS_ERRORS as exc:
            if error_code(exc) in ("LoadBalancerNotFound", "AccessPointNotFound"):
                draining[name] = set()  # the load balancer is gone: nothing drains through it
            else:
                errors[name] = describe_error(exc)
    for check, state in zip(checks, states):
        for name in check.classic:
            if name in errors:
                state.unreadable.append(f"Classic Load Balancer {name}: {errors[name]}")
            elif check.instance_id in draining.get(name, ()):
                state.classic.append(name)


def _ecs(client, checks: list[Check], states: list[DrainState]) -> None:
    by_cluster: dict[str, set[str]] = {}
    for check in checks:
        if check.ecs_container_instance:
            by_cluster.setdefault(check.ecs_cluster, set()).add(check.ecs_container_instance)
    found: dict[str, ecs_api.ContainerInstance] = {}
    errors: dict[str, str] = {}
    for cluster, arns in by_cluster.items():
        try:
            found |= ecs_api.tasks_on(client, cluster, sorted(arns))
        except AWS_ERRORS as exc:
            if error_code(exc) != "ClusterNotFoundException":  # a cluster that is gone has no tasks left
                errors[cluster] = describe_error(exc)
    for check, state in zip(checks, states):
        if not check.ecs_container_instance:
            continue
        if check.ecs_cluster in errors:
            state.unreadable.append(f"ECS cluster {check.ecs_cluster}: {errors[check.ecs_cluster]}")
            continue
        instance = found.get(check.ecs_container_instance)
        if instance is None or instance.running_tasks + instance.pending_tasks == 0:
            continue
        # The service tasks still on it, counted by their group (a service's is "service:NAME"): tasks no service
        # owns stay whatever happens (draining does not move them), and one of them ending must not hide a service's.
        try:
            arns = ecs_api.task_arns(client, check.ecs_cluster, instance.arn)
            groups = ecs_api.task_groups(client, check.ecs_cluster, arns) if arns else []
            state.ecs_tasks = sum(1 for _, group in groups if group.startswith("service:"))
        except AWS_ERRORS as exc:
            state.unreadable.append(f"ECS cluster {check.ecs_cluster}: tasks not read ({describe_error(exc)})")
