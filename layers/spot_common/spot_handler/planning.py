"""Pure planning: from a notice and the facts about its instance to what should be done. No AWS calls here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from spot_handler.models import SPOT_INTERRUPTION_REASONS, InstanceFacts, InterruptionNotice
from spot_handler.settings import Settings

RUNNING = "running"

TARGET_GROUP_ARN = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}"
)
# Classic Load Balancer names: 1-32 letters, digits and hyphens, neither starting nor ending with a hyphen.
CLASSIC_LOAD_BALANCER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?")
# An ECS cluster by name (up to 255 letters, digits, hyphens, underscores) or by ARN.
ECS_CLUSTER = re.compile(r"(?:arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/)?[A-Za-z0-9_-]{1,255}")
GAME_SERVER_GROUP_TAG = "GameLiftGameServerGroup"
FLEET_TAG = "GameLiftFleetId"
COMPUTE_NAME_TAG = "GameLiftComputeName"


@dataclass
class InstancePlan:
    """What the handler will do for one notice."""

    notice: InterruptionNotice
    instance: InstanceFacts | None
    target_group_arns: list[str] = field(default_factory=list)
    rejected_tag_values: list[str] = field(default_factory=list)  # tag values that are not target group ARNs
    drain: bool = False
    ignored_reason: str | None = None  # set when the notice is out of scope: no action, no alert
    lookup_error: str | None = None  # DescribeInstances failed: the instance's tags are unknown
    asg_error: str | None = None  # DescribeAutoScalingGroups failed: the group's load balancers are unknown
    problems: list[str] = field(default_factory=list)  # other failures met while planning, for the alert
    game_server_group: str | None = None
    gamelift_fleet_id: str | None = None
    gamelift_compute_name: str | None = None
    classic_load_balancers: list[str] = field(default_factory=list)  # names, from the tag and the Auto Scaling group
    ecs_cluster: str | None = None  # from the instance's cluster tag (name or ARN); None: discover, if enabled

    @property
    def instance_id(self) -> str:
        return self.notice.instance_id


def _state_change_ignored(notice: InterruptionNotice, instance: InstanceFacts | None) -> str | None:
    """Why a state change is nothing for the handler (it costs no call and no alert then), or None.

    Leaving (stopping, shutting-down): only a Spot instance EC2 is taking back is a late signal of an interruption.
    Running: only an instance there to be restored (whether the handler drained it is read later, restore/)."""
    if instance is None:
        return "instance not found"
    if notice.state == RUNNING:
        if instance.lifecycle != "spot":  # only Spot instances come back from an interruption
            return f"not a Spot instance ({instance.lifecycle})"
        return None if instance.state == RUNNING else f"instance is {instance.state}, not running"
    if instance.lifecycle != "spot" or instance.state_reason not in SPOT_INTERRUPTION_REASONS:
        return f"not a Spot interruption by EC2 ({instance.lifecycle}, {instance.state_reason or 'no state reason'})"
    return None


def split_tag_value(value: str) -> list[str]:
    """Target group ARNs in one tag value, separated by commas and/or whitespace."""
    return [part for part in re.split(r"[\s,]+", value.strip()) if part]


def plan_interruption(
    notice: InterruptionNotice,
    instance: InstanceFacts | None,
    asg_target_groups: dict[str, list[str]],
    settings: Settings,
    asg_classic: dict[str, list[str]] | None = None,
) -> InstancePlan:
    """Decide which load balancers and ECS cluster to drain and which GameLift resources to checkpoint for one
    notice. `asg_target_groups` and `asg_classic` are what each Auto Scaling group has attached."""
    plan = InstancePlan(notice=notice, instance=instance)
    hook = notice.lifecycle.hook_name if notice.lifecycle else None
    if hook is not None and hook != settings.lifecycle_hook_name:
        # The rule filters on the hook name; this catches a direct invocation. Another tool owns that hook.
        plan.ignored_reason = f"lifecycle hook {hook} is not this handler's ({settings.lifecycle_hook_name})"
        return plan
    if settings.scope_tag_key and (instance is None or settings.scope_tag_key not in instance.tags):
        plan.ignored_reason = f"instance has no {settings.scope_tag_key} tag"
        return plan
    if notice.state is not None:  # a state change: acted on only for what the handler must see to
        why = _state_change_ignored(notice, instance)
        if why:
            plan.ignored_reason = why
            return plan
    if instance is None:
        return plan  # unknown or already gone: the alert says what is known

    for key in settings.target_group_tag_keys:
        for value in split_tag_value(instance.tags.get(key, "")):
            _add_target_group(plan, value)
    if settings.discover_asg_target_groups and instance.auto_scaling_group:
        for arn in asg_target_groups.get(instance.auto_scaling_group, []):
            _add_target_group(plan, arn)

    _plan_classic_and_ecs(plan, instance, asg_classic or {}, settings)

    wants_drain = (notice.is_interruption or settings.drain_on_rebalance) and notice.state != RUNNING
    plan.drain = wants_drain and instance.state != "terminated"
    plan.game_server_group = instance.tags.get(GAME_SERVER_GROUP_TAG) or None
    plan.gamelift_fleet_id = instance.tags.get(FLEET_TAG) or None
    if plan.gamelift_fleet_id:
        plan.gamelift_compute_name = instance.tags.get(COMPUTE_NAME_TAG) or instance.instance_id
    return plan


def _plan_classic_and_ecs(
    plan: InstancePlan, instance: InstanceFacts, asg_classic: dict[str, list[str]], settings: Settings
) -> None:
    names = split_tag_value(instance.tags.get(settings.classic_load_balancer_tag_key, ""))
    if settings.discover_asg_target_groups and instance.auto_scaling_group:
        names += asg_classic.get(instance.auto_scaling_group, [])
    for name in names:
        if not CLASSIC_LOAD_BALANCER_NAME.fullmatch(name):
            _note_rejected(plan, f"tag value {name!r} is not a Classic Load Balancer name")
        elif name not in plan.classic_load_balancers:
            plan.classic_load_balancers.append(name)
    cluster = instance.tags.get(settings.ecs_cluster_tag_key, "").strip()
    if cluster and ECS_CLUSTER.fullmatch(cluster):
        plan.ecs_cluster = cluster
    elif cluster:
        _note_rejected(plan, f"tag value {cluster!r} is not an ECS cluster name or ARN")


def _note_rejected(plan: InstancePlan, reason: str) -> None:
    if reason not in plan.problems:  # named in the alert's failures; nothing is called with the value
        plan.problems.append(reason)


def _add_target_group(plan: InstancePlan, value: str) -> None:
    if not TARGET_GROUP_ARN.fullmatch(value):
        if value not in plan.rejected_tag_values:
            plan.rejected_tag_values.append(value)
    elif value not in plan.target_group_arns:
        plan.target_group_arns.append(value)


def needs_checkpoint(plan: InstancePlan) -> bool:
    """GameLift work is done for interruptions (and rebalance when draining early), never for ignored notices."""
    return plan.ignored_reason is None and plan.drain and bool(plan.game_server_group or plan.gamelift_fleet_id)
