"""Drain step: take the instance out of every ELBv2 target group it serves (drain.py does the work, batched).

The target groups: the ARNs in the instance's target group tag (its key a setting; the original AWS blog sample's key
is read too), and those its Auto Scaling group has attached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spot_handler.drain import drain_target_groups
from spot_handler.models import InstanceFacts, InterruptionNotice, TargetGroupDrain
from spot_handler.planning import Attached, InstancePlan, StepPlan, split_tag_value
from spot_handler.settings import Settings, variable
from spot_handler.steps import StepContext, StepReport
from spot_handler.wording import listing

BLOG_SAMPLE_TAG_KEY = "loadBalancerTargetGroup"  # key used by the original AWS blog sample, accepted as an alias
TARGET_GROUP_ARN = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}"
)


@dataclass(frozen=True)
class TargetGroupsSettings:
    tag_key: str = variable("TARGET_GROUP_TAG_KEY", "TargetGroupArn")

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """The keys read: the configured one, and the blog sample's (once)."""
        return tuple(dict.fromkeys((self.tag_key, BLOG_SAMPLE_TAG_KEY)))


@dataclass(frozen=True)
class TargetGroupsPlan(StepPlan):
    arns: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()  # tag values that are not target group ARNs: named in the alert, never called


NOTHING_PLANNED = TargetGroupsPlan()


class TargetGroupsStep:
    name = "Target groups"
    key = "targetGroups"
    settings = TargetGroupsSettings

    def plan(
        self, instance: InstanceFacts, notice: InterruptionNotice, attached: Attached, settings: Settings
    ) -> TargetGroupsPlan:
        arns: list[str] = []
        rejected: list[str] = []
        keys = settings.step(TargetGroupsSettings).tag_keys
        values = [v for key in keys for v in split_tag_value(instance.tags.get(key, ""))]
        for value in [*values, *attached.target_groups]:
            if not TARGET_GROUP_ARN.fullmatch(value):
                if value not in rejected:
                    rejected.append(value)
            elif value not in arns:
                arns.append(value)
        return TargetGroupsPlan(arns=tuple(arns), rejected=tuple(rejected))

    def applies(self, plan: InstancePlan) -> bool:
        return True  # every alert has this section: it says why nothing was drained, when nothing was

    def run(self, context: StepContext, plans: list[InstancePlan], earlier) -> dict[str, StepReport]:
        settings, clock, budget = context.settings, context.clock, context.budget
        by_group: dict[str, list[InstancePlan]] = {}
        for plan in plans:
            for arn in planned(plan).arns if plan.drain else ():
                by_group.setdefault(arn, []).append(plan)
        drained = drain_target_groups(context.clients.elbv2, by_group, settings, clock, budget)
        return {
            plan.instance_id: target_group_report(
                plan,
                drained.for_instance(plan.instance_id) if plan.drain else [],
                drained.sent_at.get(plan.instance_id),
            )
            for plan in plans
        }


def planned(plan: InstancePlan) -> TargetGroupsPlan:
    """The target groups planned for one instance (none when it was not found or its notice is ignored)."""
    return plan.by_step.get(TargetGroupsStep.key, NOTHING_PLANNED)


def target_group_report(plan: InstancePlan, drains: list[TargetGroupDrain], sent_at=None) -> StepReport:
    failures = [f"target group {d.name}: {d.error}" for d in drains if d.error]
    failures += [f"tag value {v!r} is not a target group ARN" for v in planned(plan).rejected]
    return StepReport(
        step=TargetGroupsStep.name,
        key=TargetGroupsStep.key,
        render=lambda listed: (_lines(plan, drains, listed), [_document(d) for d in drains]),
        failures=failures,
        drain_attempts=len(drains),
        drained=sum(1 for d in drains if d.ok),
        sent_at=sent_at,
        data=drains,
        retry=[f"target group {d.name}: {d.error}" for d in drains if d.unconfirmed],
    )


def _lines(plan: InstancePlan, drains: list[TargetGroupDrain], listed: int) -> list[str]:
    if plan.lookup_error:
        return [f"- nothing drained: the instance could not be looked up ({plan.lookup_error})"]
    if plan.instance is None:
        return ["- nothing drained: the instance was not found"]
    if plan.instance.state == "terminated" and not drains:
        return ["- nothing drained: the instance is already terminated (its load balancers have let it go)"]
    if not plan.drain:
        return ["- not drained: rebalance recommendations only alert (DrainOnRebalance=false)"]
    if not drains:
        return ["- nothing to drain: no target group tag and no Auto Scaling group target groups"]
    lines = []
    for drain in drains:
        kind = f" ({drain.target_type})" if drain.target_type else ""
        lines.append(f"- {drain.name}{kind}")
        if drain.error and not drain.deregistered:
            lines.append(f"    FAILED: {drain.error}")
            continue
        if drain.not_registered:
            lines.append("    was not registered (done)")
        elif drain.deregistered:
            lines.append("    deregistered " + listing(drain.deregistered, listed))
        if drain.already_draining:
            lines.append("    already draining " + listing(drain.already_draining, listed))
        if drain.error:
            lines.append(f"    {drain.error}")
        if drain.delay_lowered_from is not None:
            lines.append(f"    delay lowered {drain.delay_lowered_from} s -> {drain.delay_seconds} s")
        elif drain.delay_seconds is not None and not drain.not_registered:
            lines.append(f"    delay {drain.delay_seconds} s")
    return lines


def _document(d: TargetGroupDrain) -> dict:
    return {
        "arn": d.target_group_arn,
        "name": d.name,
        "targetType": d.target_type,
        "deregisteredCount": len(d.deregistered),
        "deregistered": d.deregistered,
        "alreadyDraining": d.already_draining,
        "notRegistered": d.not_registered,
        "deregistrationDelaySeconds": d.delay_seconds,
        "delayLoweredFromSeconds": d.delay_lowered_from,
        "error": d.error,
    }


def deregistered_by(reports: list[StepReport]) -> tuple[dict[str, list[str]], dict[str, int | None]]:
    """The registrations of one instance draining now ({target group ARN: ["id:port", ...]}): deregistered by this
    step, or found draining (an earlier signal of the same interruption deregistered them); and the delays in force."""
    targets, delays = {}, {}
    for report in reports:
        if report.key != TargetGroupsStep.key:
            continue
        for drain in report.data or []:
            if drain.deregistered or drain.already_draining:
                targets[drain.target_group_arn] = [*drain.deregistered, *drain.already_draining]
                delays[drain.target_group_arn] = drain.delay_seconds
    return targets, delays
