"""Pure planning: from a notice and the facts about its instance to what should be done. No AWS calls here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from spot_handler.models import SPOT_INTERRUPTION_REASONS, InstanceFacts, InterruptionNotice
from spot_handler.settings import Settings

RUNNING = "running"


@dataclass(frozen=True)
class Attached:
    """What an Auto Scaling group has attached, read once per batch (empty: the instance is in no group, discovery is
    off, or DescribeAutoScalingGroups failed)."""

    target_groups: tuple[str, ...] = ()  # ARNs
    classic_load_balancers: tuple[str, ...] = ()  # names


@dataclass(frozen=True, kw_only=True)
class StepPlan:
    """Base of what a step plans for one instance (steps/*.py). `problems`: what it could not use (a tag value that
    names nothing it can act on, say), named in the alert's failures; nothing is called with them."""

    problems: tuple[str, ...] = ()


@dataclass
class InstancePlan:
    """What the handler will do for one notice."""

    notice: InterruptionNotice
    instance: InstanceFacts | None
    drain: bool = False
    ignored_reason: str | None = None  # set when the notice is out of scope: no action, no alert
    lookup_error: str | None = None  # DescribeInstances failed: the instance's tags are unknown
    asg_error: str | None = None  # DescribeAutoScalingGroups failed: the group's load balancers are unknown
    problems: list[str] = field(default_factory=list)  # other failures met while planning, for the alert
    # What each step planned for this instance, by step key (its `plan`); nothing for an ignored notice or an instance
    # not found. A step reads its own entry (steps/*.py `planned`).
    by_step: dict[str, StepPlan] = field(default_factory=dict)

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
    """The values in one tag value (target group ARNs, load balancer names), separated by commas and/or whitespace."""
    return [part for part in re.split(r"[\s,]+", value.strip()) if part]


def attachments(target_groups: dict[str, list[str]], classic: dict[str, list[str]]) -> dict[str, Attached]:
    """{Auto Scaling group: what it has attached}, from DescribeAutoScalingGroups (aws/autoscaling.target_groups_of)."""
    return {
        group: Attached(tuple(target_groups.get(group, ())), tuple(classic.get(group, ())))
        for group in {*target_groups, *classic}
    }


def plan_interruption(
    notice: InterruptionNotice,
    instance: InstanceFacts | None,
    attached: dict[str, Attached],
    settings: Settings,
    steps: Iterable[object],
) -> InstancePlan:
    """Whether a notice is acted on, whether its instance is drained, and what each of `steps` plans for it (those
    with a `plan`). `attached`: what each Auto Scaling group has attached (`attachments`)."""
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

    group = instance.auto_scaling_group
    its = attached.get(group, Attached()) if settings.discover_asg_target_groups and group else Attached()
    for step in steps:
        planner = getattr(step, "plan", None)
        planned = planner(instance, notice, its, settings) if planner else None
        if planned is None:
            continue
        plan.by_step[step.key] = planned
        for problem in planned.problems:
            if problem not in plan.problems:
                plan.problems.append(problem)

    wants_drain = (notice.is_interruption or settings.drain_on_rebalance) and notice.state != RUNNING
    plan.drain = wants_drain and instance.state != "terminated"
    return plan
