"""Drain step: take the instance out of every Classic Load Balancer it serves (tagged, or its Auto Scaling group's).

Batched as target groups are: per load balancer, one DeregisterInstancesFromLoadBalancer for every instance of the
batch registered with it, after one DescribeLoadBalancers for up to 20 load balancers. Traffic stops at once; with
connection draining on, in-flight requests get its timeout, which is lowered to the drain budget first (the same
rule and parameters as a target group's deregistration delay).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from spot_handler.aws import elb
from spot_handler.aws.clients import AWS_ERRORS, describe_error, is_permanent
from spot_handler.budget import DidNotFinish
from spot_handler.drain import delay_bounds, time_left
from spot_handler.models import InstanceFacts, InterruptionNotice
from spot_handler.planning import Attached, InstancePlan, StepPlan, split_tag_value
from spot_handler.settings import Settings, variable
from spot_handler.steps import StepContext, StepReport

MAX_PARALLEL_LOAD_BALANCERS = 8
# Classic Load Balancer names: 1-32 letters, digits and hyphens, neither starting nor ending with a hyphen.
CLASSIC_LOAD_BALANCER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?")


@dataclass(frozen=True)
class ClassicLoadBalancersSettings:
    tag_key: str = variable("CLASSIC_LOAD_BALANCER_TAG_KEY", "LoadBalancerName")


@dataclass(frozen=True)
class ClassicLoadBalancersPlan(StepPlan):
    names: tuple[str, ...] = ()  # from the tag and the Auto Scaling group


NOTHING_PLANNED = ClassicLoadBalancersPlan()


@dataclass
class ClassicDrain:
    """Outcome of draining one instance from one Classic Load Balancer."""

    name: str
    deregistered: bool = False
    not_registered: bool = False
    draining_timeout: int | None = None  # connection draining timeout in force (None: draining off or unknown)
    timeout_lowered_from: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ClassicLoadBalancersStep:
    name = "Classic Load Balancers"
    key = "classicLoadBalancers"
    settings = ClassicLoadBalancersSettings

    def plan(
        self, instance: InstanceFacts, notice: InterruptionNotice, attached: Attached, settings: Settings
    ) -> ClassicLoadBalancersPlan:
        tag_key = settings.step(ClassicLoadBalancersSettings).tag_key
        names: list[str] = []
        problems: list[str] = []
        for name in [*split_tag_value(instance.tags.get(tag_key, "")), *attached.classic_load_balancers]:
            if not CLASSIC_LOAD_BALANCER_NAME.fullmatch(name):
                problem = f"tag value {name!r} is not a Classic Load Balancer name"
                if problem not in problems:
                    problems.append(problem)
            elif name not in names:
                names.append(name)
        return ClassicLoadBalancersPlan(names=tuple(names), problems=tuple(problems))

    def applies(self, plan: InstancePlan) -> bool:
        return plan.drain and bool(planned(plan).names)

    def run(self, context: StepContext, plans: list[InstancePlan], earlier) -> dict[str, StepReport]:
        drains, sent_at = drain_classic_load_balancers(context, plans)
        return {plan.instance_id: classic_report(drains[plan.instance_id], sent_at) for plan in plans}


def planned(plan: InstancePlan) -> ClassicLoadBalancersPlan:
    """The Classic Load Balancers planned for one instance (none when it was not found or its notice is ignored)."""
    return plan.by_step.get(ClassicLoadBalancersStep.key, NOTHING_PLANNED)


def drain_classic_load_balancers(context: StepContext, plans: list[InstancePlan]):
    """({instance id: [ClassicDrain]}, when the first deregistration went out), load balancers in parallel."""
    client, budget = context.clients.elb, context.budget
    by_name: dict[str, list[str]] = {}
    for plan in plans:
        for name in planned(plan).names:
            by_name.setdefault(name, []).append(plan.instance_id)
    try:
        lookup = budget.run("DescribeLoadBalancers", elb.describe_load_balancers, client, list(by_name))
    except DidNotFinish as exc:
        lookup = elb.LoadBalancerLookup({}, dict.fromkeys(by_name, str(exc)))
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_LOAD_BALANCERS, len(by_name)), thread_name_prefix="clb")
    plan_of = {plan.instance_id: plan for plan in plans}
    futures = {
        name: pool.submit(_drain_one, context, name, members, lookup, [plan_of[i] for i in members if i in plan_of])
        for name, members in by_name.items()
        if members
    }
    pool.shutdown(wait=False)  # never block on a hanging load balancer: the budget decides how long to wait
    drains: dict[str, list[ClassicDrain]] = {plan.instance_id: [] for plan in plans}
    first_sent = None
    for name, future in futures.items():
        try:
            outcome, sent_at = budget.wait(future, "DeregisterInstancesFromLoadBalancer")
        except DidNotFinish as exc:
            outcome = {i: ClassicDrain(name, error=f"not confirmed: {exc}") for i in by_name[name]}
            sent_at = None
        for instance_id in by_name[name]:
            drains[instance_id].append(outcome[instance_id])
        if sent_at is not None:
            first_sent = min(first_sent or sent_at, sent_at)
    return drains, first_sent


def _drain_one(context: StepContext, name: str, members: list[str], lookup: elb.LoadBalancerLookup, plans):
    if name not in lookup.registered:
        reason = lookup.missing.get(name, "not described")
        return {i: ClassicDrain(name, error=reason) for i in members}, None
    registered = [i for i in members if i in lookup.registered[name]]
    drains = {i: ClassicDrain(name, not_registered=i not in registered) for i in members}
    if not registered:
        return drains, None
    timeout, lowered_from, timeout_error = _bound_timeout(context, name, time_left(plans, context.clock()))
    sent_at = context.clock()
    try:
        elb.deregister(context.clients.elb, name, registered)
        error = None
    except AWS_ERRORS as exc:
        error = describe_error(exc)
    for instance_id, drain in drains.items():
        drain.draining_timeout, drain.timeout_lowered_from = timeout, lowered_from
        if instance_id in registered:
            drain.deregistered = error is None
            drain.error = error
        if timeout_error and drain.error is None:
            drain.error = f"connection draining timeout not lowered ({timeout_error})"
    return drains, sent_at


def _bound_timeout(context: StepContext, name: str, left: float | None) -> tuple[int | None, int | None, str | None]:
    """(timeout in force, timeout before it was lowered, error); the timeout in force when an instance is
    deregistered is the one it drains with, so this runs first."""
    settings, client = context.settings, context.clients.elb
    try:
        draining = elb.connection_draining(client, name)
        if not draining.enabled:
            return None, None, None
        cap = settings.max_deregistration_delay
        if cap is None:
            return draining.timeout, None, None
        limit, wanted = delay_bounds(cap, left)  # the rule target groups follow (drain.py)
        if (draining.timeout or 0) > limit:
            elb.set_draining_timeout(client, name, wanted)
            return wanted, draining.timeout, None
        return draining.timeout, None, None
    except AWS_ERRORS as exc:
        return None, None, describe_error(exc)


def classic_report(drains: list[ClassicDrain], sent_at=None) -> StepReport:
    return StepReport(
        step=ClassicLoadBalancersStep.name,
        key=ClassicLoadBalancersStep.key,
        render=lambda listed: (_lines(drains), [_document(d) for d in drains]),
        failures=[f"Classic Load Balancer {d.name}: {d.error}" for d in drains if d.error],
        drain_attempts=len(drains),
        drained=sum(1 for d in drains if d.deregistered or (d.not_registered and d.ok)),
        sent_at=sent_at if any(d.deregistered for d in drains) else None,
        data=drains,
        retry=[
            f"Classic Load Balancer {d.name}: {d.error}"
            for d in drains
            if d.error and not d.deregistered and not d.not_registered and not is_permanent(d.error)
        ],
    )


def _lines(drains: list[ClassicDrain]) -> list[str]:
    lines = []
    for drain in drains:
        lines.append(f"- {drain.name}")
        if drain.error and not drain.deregistered:
            lines.append(f"    FAILED: {drain.error}")
            continue
        lines.append("    was not registered (done)" if drain.not_registered else "    deregistered")
        if drain.error:
            lines.append(f"    {drain.error}")
        if drain.timeout_lowered_from is not None:
            lowered = f"{drain.timeout_lowered_from} s -> {drain.draining_timeout} s"
            lines.append(f"    connection draining lowered {lowered}")
        elif drain.draining_timeout is not None and not drain.not_registered:
            lines.append(f"    connection draining {drain.draining_timeout} s")
        elif drain.deregistered:
            lines.append("    connection draining off: requests in flight were cut")
    return lines


def _document(d: ClassicDrain) -> dict:
    return {
        "name": d.name,
        "deregistered": d.deregistered,
        "notRegistered": d.not_registered,
        "connectionDrainingSeconds": d.draining_timeout,
        "connectionDrainingLoweredFromSeconds": d.timeout_lowered_from,
        "error": d.error,
    }
