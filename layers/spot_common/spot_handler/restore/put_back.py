"""Putting back what a drain took away (restore/__init__.py says when)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from spot_handler.aws import AwsClients
from spot_handler.aws import ecs as ecs_api
from spot_handler.aws import elb as classic_api
from spot_handler.aws import elbv2 as elb
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.incidents.records import DrainRecord, Registration
from spot_handler.models import target_group_name
from spot_handler.planning import InstancePlan
from spot_handler.steps import classic_elb, target_groups


@dataclass
class Restored:
    """What one restore put back, left alone, or failed to put back."""

    registrations: list[Registration] = field(default_factory=list)
    classic: list[str] = field(default_factory=list)
    ecs: list[tuple[str, str]] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)  # what the user changed meanwhile, with why
    failures: list[str] = field(default_factory=list)
    # what could not be put back, kept to be tried again (restore/run.py)
    unrestored: DrainRecord | None = None

    def lines(self) -> list[str]:
        by_group: dict[str, list[str]] = defaultdict(list)
        for registration in self.registrations:
            by_group[registration.target_group].append(str(registration))
        lines = [f"- target group {target_group_name(arn)}: {', '.join(sorted(t))}" for arn, t in by_group.items()]
        lines += [f"- Classic Load Balancer {name}" for name in self.classic]
        lines += [
            f"- ECS cluster {cluster}: container instance {arn.rsplit('/', 1)[-1]} ACTIVE" for cluster, arn in self.ecs
        ]
        lines += [f"- not put back: {why}" for why in self.left_alone]
        return lines or ["- nothing was left to put back"]

    def document(self) -> dict:
        return {
            "registrations": [
                {
                    "targetGroup": r.target_group,
                    "id": r.target_id,
                    "port": r.port,
                    "availabilityZone": r.availability_zone,
                }
                for r in sorted(self.registrations)
            ],
            "classicLoadBalancers": sorted(self.classic),
            "ecsContainerInstances": [{"cluster": c, "containerInstanceArn": a} for c, a in sorted(self.ecs)],
            "leftAlone": self.left_alone,
        }


def put_back(clients: AwsClients, record: DrainRecord, plan: InstancePlan) -> Restored:
    """Register the record's registrations again in the target groups the instance still maps to, its Classic Load
    Balancers likewise, and its ECS container instance ACTIVE."""
    done = Restored()
    failed_registrations: list[Registration] = []
    failed_classic: list[str] = []
    failed_ecs: list[tuple[str, str]] = []
    named = set(target_groups.planned(plan).arns)
    by_group: dict[str, list[Registration]] = defaultdict(list)
    for registration in record.registrations:
        if registration.target_group in named:
            by_group[registration.target_group].append(registration)
        else:
            done.left_alone.append(
                f"{registration} in target group {target_group_name(registration.target_group)}: no longer named by "
                "the instance's tags or its Auto Scaling group"
            )
    for arn, registrations in by_group.items():
        try:
            elb.register(clients.elbv2, arn, [r.as_target() for r in sorted(registrations)])
            done.registrations += registrations
        except AWS_ERRORS as exc:
            if "TargetGroupNotFound" in describe_error(exc):
                done.left_alone.append(f"target group {target_group_name(arn)}: it no longer exists")
            else:
                done.failures.append(f"target group {target_group_name(arn)}: RegisterTargets: {describe_error(exc)}")
                failed_registrations += registrations
    for name in sorted(record.classic):
        if name not in classic_elb.planned(plan).names:
            done.left_alone.append(f"Classic Load Balancer {name}: no longer named by the instance's tags or group")
            continue
        try:
            classic_api.register(clients.elb, name, [record.instance_id])
            done.classic.append(name)
        except AWS_ERRORS as exc:
            done.failures.append(f"Classic Load Balancer {name}: {describe_error(exc)}")
            failed_classic.append(name)
    for cluster, arn in sorted(record.ecs):
        try:
            failed = ecs_api.set_active(clients.ecs, cluster, [arn])
        except AWS_ERRORS as exc:
            failed = {arn: describe_error(exc)}
        if failed:
            done.failures.append(f"ECS cluster {cluster}: {'; '.join(failed.values())}")
            failed_ecs.append((cluster, arn))
        else:
            done.ecs.append((cluster, arn))
    if failed_registrations or failed_classic or failed_ecs:
        done.unrestored = record._replace(
            registrations=frozenset(failed_registrations), classic=frozenset(failed_classic), ecs=frozenset(failed_ecs)
        )
    return done
