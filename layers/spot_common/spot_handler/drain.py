"""Draining: take every interrupted instance out of every target group it serves, one target group at a time.

All instances of a batch that share a target group are removed with one DescribeTargetHealth and one
DeregisterTargets, so a mass reclaim costs calls per target group, not per instance.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from spot_handler.aws import elbv2 as elb
from spot_handler.aws.clients import AWS_ERRORS, describe_error, is_permanent
from spot_handler.budget import DidNotFinish, TimeBudget
from spot_handler.models import TargetGroupDrain, canonical_ip
from spot_handler.planning import InstancePlan
from spot_handler.settings import Settings

MAX_PARALLEL_TARGET_GROUPS = 8
DEADLINE_MARGIN_SECONDS = 10  # a delay lowered to the time left ends this long before the deadline


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class DrainReport:
    drains: dict[str, list[TargetGroupDrain]] = field(default_factory=dict)  # instance id -> one per target group
    sent_at: dict[str, datetime] = field(default_factory=dict)  # instance id -> when its first deregistration went out

    def for_instance(self, instance_id: str) -> list[TargetGroupDrain]:
        return self.drains.get(instance_id, [])


def drain_target_groups(
    elbv2,
    by_group: dict[str, list[InstancePlan]],
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    budget: TimeBudget | None = None,
) -> DrainReport:
    """Deregister the instances of `by_group` ({target group ARN: the plans of the instances to take out of it}) from
    their target groups, target groups in parallel.

    A target group still being drained when the budget runs out is reported as not confirmed; its calls carry on in
    the background (DeregisterTargets is idempotent) but the alert does not wait for them.
    """
    budget = budget or TimeBudget.start()
    report = DrainReport()
    if not by_group:
        return report
    try:  # one call for many target groups: their VPC and target type decide what may be deregistered
        lookup = budget.run("DescribeTargetGroups", elb.describe_target_groups, elbv2, list(by_group))
    except DidNotFinish as exc:
        lookup = elb.TargetGroupLookup({}, dict.fromkeys(by_group, str(exc)))
    workers = min(MAX_PARALLEL_TARGET_GROUPS, len(by_group))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drain")
    futures = {
        arn: pool.submit(_drain_group, elbv2, arn, lookup, members, settings, clock)
        for arn, members in by_group.items()
    }
    pool.shutdown(wait=False)  # never block on a hanging target group: the budget decides how long to wait
    for arn, future in futures.items():
        try:
            drains, sent_at = budget.wait(future, "DescribeTargetHealth/DeregisterTargets")
        except DidNotFinish as exc:
            drains = {p.instance_id: TargetGroupDrain(arn, error=f"not confirmed: {exc}") for p in by_group[arn]}
            sent_at = None
        for plan in by_group[arn]:
            report.drains.setdefault(plan.instance_id, []).append(drains[plan.instance_id])
            if sent_at is not None:
                report.sent_at[plan.instance_id] = min(sent_at, report.sent_at.get(plan.instance_id, sent_at))
    return report


def _drain_group(elbv2, arn: str, lookup: elb.TargetGroupLookup, members: list[InstancePlan], settings, clock):
    group = lookup.found.get(arn)
    target_type = group.target_type if group else None
    drains = {plan.instance_id: TargetGroupDrain(target_group_arn=arn, target_type=target_type) for plan in members}
    for plan in members:
        drains[plan.instance_id].error = _not_ours(plan, group, lookup.missing.get(arn))
        drains[plan.instance_id].permanent = drains[plan.instance_id].error is not None
    members = [plan for plan in members if drains[plan.instance_id].error is None]
    if not members:
        return drains, None
    try:
        registered = elb.registrations(elbv2, arn)
    except AWS_ERRORS as exc:
        reason = describe_error(exc)
        for plan in members:
            drains[plan.instance_id].error = reason
            drains[plan.instance_id].permanent = is_permanent(reason)
        return drains, None

    matches = {plan.instance_id: _registrations_of(plan, registered, target_type) for plan in members}
    if group is None:  # the VPC is unknown: ip registrations are left alone, and the alert says why
        for plan in members:
            if _registrations_of(plan, registered, "ip"):
                drains[plan.instance_id].error = (
                    f"ip targets left registered: the target group's VPC could not be checked "
                    f"({lookup.missing.get(arn)})"
                )
    for instance_id, regs in matches.items():
        drains[instance_id].already_draining = [str(reg) for reg in regs if reg.draining]
    matches = {instance_id: [reg for reg in regs if not reg.draining] for instance_id, regs in matches.items()}
    targets = [reg for regs in matches.values() for reg in regs]
    if not targets:
        for plan in members:
            drains[plan.instance_id].not_registered = not drains[plan.instance_id].already_draining
        return drains, None

    # The delay in force when a target is deregistered is the one it drains with, so lower it first.
    delay_note = _bound_delay(elbv2, arn, settings, time_left(members, clock()))
    sent_at = clock()
    try:
        elb.deregister(elbv2, arn, targets)
        error = None
    except AWS_ERRORS as exc:
        error = describe_error(exc)
    for instance_id, regs in matches.items():
        drain = drains[instance_id]
        drain.delay_seconds, drain.delay_lowered_from, delay_error = delay_note
        if not regs:
            drain.not_registered = not drain.already_draining
        elif error:
            drain.error = error
            drain.permanent = is_permanent(error)
        else:
            drain.deregistered = [str(reg) for reg in regs]
            drain.removed = [reg.as_target() for reg in regs]
        if delay_error and drain.error is None:
            drain.error = f"deregistration delay not lowered ({delay_error})"
    return drains, sent_at


def _not_ours(plan: InstancePlan, group: elb.TargetGroupFacts | None, lookup_error: str | None) -> str | None:
    """Why this target group must not be touched for this instance, or None."""
    if group is None:
        # Not found: nothing to drain there. Any other lookup error still lets the instance id be deregistered (an
        # instance id names one instance in the whole account); ip registrations are then left alone.
        return lookup_error if lookup_error and "TargetGroupNotFound" in lookup_error else None
    if group.target_type not in ("instance", "ip"):
        return f"a {group.target_type} target group: an instance is never registered in it"
    vpc = plan.instance.vpc_id if plan.instance else None
    if group.target_type == "ip" and group.vpc_id and vpc and group.vpc_id != vpc:
        # Two VPCs may share a CIDR: the same address there is another host, which must keep its traffic.
        return f"in {group.vpc_id}, not the instance's {vpc}: its ip targets are another VPC's hosts, left alone"
    return None


def _registrations_of(plan: InstancePlan, registered: list[elb.Registration], target_type: str | None):
    """The registrations that are this instance: its id in instance target groups, its addresses in ip ones."""
    if target_type == "ip":
        addresses = plan.instance.addresses if plan.instance else frozenset()
        return [reg for reg in registered if canonical_ip(reg.target_id) in addresses]
    return [reg for reg in registered if reg.target_id == plan.instance_id]


def delay_bounds(cap: int, time_left: float | None) -> tuple[int, int]:
    """(longest delay left alone, what a longer one is lowered to), for a cap and the time left before a deadline.

    Classic Load Balancers' connection draining follows the same rule (steps/classic_elb.py)."""
    if time_left is None:
        return cap, cap
    return min(cap, int(time_left)), min(cap, max(0, int(time_left - DEADLINE_MARGIN_SECONDS)))


def time_left(plans: list[InstancePlan], now: datetime) -> float | None:
    """Seconds until the earliest deadline of the instances still ahead (None: no deadline ahead)."""
    ahead = [(p.notice.deadline - now).total_seconds() for p in plans if p.notice.deadline is not None]
    ahead = [seconds for seconds in ahead if seconds > 0]
    return min(ahead) if ahead else None


def _bound_delay(elbv2, arn: str, settings: Settings, time_left: float | None):
    """(delay now in force, delay before it was lowered, error) for the target group.

    A delay longer than MaxDeregistrationDelaySeconds is lowered to it; and a delay that would outlast the instance
    (longer than the time left before its deadline) is lowered to end DEADLINE_MARGIN_SECONDS before it, so the
    connections are drained before the instance goes rather than cut. The delay is the target group's: a group once
    lowered stays lowered, so a mass reclaim lowers it once, not once per batch.
    """
    cap = settings.max_deregistration_delay
    if cap is None:  # never lowered; still read (once per environment), for the alert and the deadline check
        try:
            return elb.deregistration_delay(elbv2, arn), None, None
        except AWS_ERRORS as exc:
            return None, None, describe_error(exc)
    limit, wanted = delay_bounds(cap, time_left)
    try:
        delay = elb.deregistration_delay(elbv2, arn)
        if delay is not None and delay > limit:
            elb.set_deregistration_delay(elbv2, arn, wanted)
            return wanted, delay, None
        return delay, None, None
    except AWS_ERRORS as exc:
        return None, None, describe_error(exc)
