"""Elastic Load Balancing v2: the calls that take an instance out of a target group."""

from __future__ import annotations

import threading
import time
import weakref
from datetime import datetime
from typing import NamedTuple

from spot_handler.aws.clients import describe_in_chunks

DELAY_ATTRIBUTE = "deregistration_delay.timeout_seconds"
# A mass reclaim touches the same target groups in batch after batch, and a delay once lowered stays lowered, so
# each execution environment (one client each) remembers the delays it read or set for a few minutes instead of
# reading them again in every batch. The cost: a delay raised again by hand within that time is not lowered until
# the entry expires.
DELAY_CACHE_SECONDS = 300.0
_known_delays: weakref.WeakKeyDictionary[object, dict[str, tuple[int | None, float]]] = weakref.WeakKeyDictionary()
_known_delays_lock = threading.Lock()


# A target group's VPC and target type never change: remembered per execution environment for as long as it lives.
_known_groups: weakref.WeakKeyDictionary[object, dict[str, TargetGroupFacts]] = weakref.WeakKeyDictionary()
_DESCRIBE_ARNS_MAX = 20  # ARNs per DescribeTargetGroups: a conservative chunk (the API documents no limit)


class TargetGroupFacts(NamedTuple):
    arn: str
    target_type: str  # instance, ip, lambda or alb
    vpc_id: str | None


class TargetGroupLookup(NamedTuple):
    found: dict[str, TargetGroupFacts]
    missing: dict[str, str]  # ARN -> why it could not be described (not found, access denied, ...)


def describe_target_groups(elbv2, arns: list[str]) -> TargetGroupLookup:
    """VPC and target type of each target group: one DescribeTargetGroups for up to 20 ARNs, then remembered.

    One unknown ARN fails a whole DescribeTargetGroups (TargetGroupNotFound), so such a chunk is described again one
    ARN at a time, to name the ARN that failed and still describe the others. Any other error fails its chunk.
    """
    with _known_delays_lock:
        known = dict(_known_groups.get(elbv2, {}))
    found = {arn: known[arn] for arn in arns if arn in known}
    todo = [arn for arn in dict.fromkeys(arns) if arn not in found]
    described, missing = describe_in_chunks(
        lambda chunk: _describe(elbv2, chunk), todo, _DESCRIBE_ARNS_MAX, ("TargetGroupNotFound",)
    )
    found |= described
    with _known_delays_lock:
        _known_groups.setdefault(elbv2, {}).update(found)
    return TargetGroupLookup(found, missing)


def _describe(elbv2, arns: list[str]) -> dict[str, TargetGroupFacts]:
    described = {}
    for page in elbv2.get_paginator("describe_target_groups").paginate(TargetGroupArns=arns):
        for group in page.get("TargetGroups", []):
            arn = group["TargetGroupArn"]
            described[arn] = TargetGroupFacts(arn, group.get("TargetType", "instance"), group.get("VpcId"))
    return described


class Registration(NamedTuple):
    target_id: str  # an instance id or an IP address
    port: int | None
    availability_zone: str | None = None
    draining: bool = False  # already on its way out: deregistering it again changes nothing

    def as_target(self) -> dict:
        target: dict = {"Id": self.target_id}
        if self.port is not None:
            target["Port"] = self.port
        if self.availability_zone:
            target["AvailabilityZone"] = self.availability_zone
        return target

    def __str__(self) -> str:
        return f"{self.target_id}:{self.port}" if self.port is not None else self.target_id


def registrations(elbv2, target_group_arn: str) -> list[Registration]:
    """Every registration in the target group (one DescribeTargetHealth), ones already draining marked so."""
    response = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
    found = []
    for description in response.get("TargetHealthDescriptions", []):
        target = description["Target"]
        draining = description.get("TargetHealth", {}).get("State") == "draining"
        found.append(Registration(target["Id"], target.get("Port"), target.get("AvailabilityZone"), draining))
    return found


def deregistration_delay(elbv2, target_group_arn: str) -> int | None:
    """The target group's deregistration delay in seconds: one DescribeTargetGroupAttributes, then remembered."""
    with _known_delays_lock:
        known = _known_delays.get(elbv2, {}).get(target_group_arn)
    if known is not None and known[1] > time.monotonic():
        return known[0]
    response = elbv2.describe_target_group_attributes(TargetGroupArn=target_group_arn)
    delay = None
    for attribute in response.get("Attributes", []):
        if attribute["Key"] == DELAY_ATTRIBUTE:
            delay = int(attribute["Value"])
            break
    _remember_delay(elbv2, target_group_arn, delay)
    return delay


def set_deregistration_delay(elbv2, target_group_arn: str, seconds: int) -> None:
    elbv2.modify_target_group_attributes(
        TargetGroupArn=target_group_arn,
        Attributes=[{"Key": DELAY_ATTRIBUTE, "Value": str(seconds)}],
    )
    _remember_delay(elbv2, target_group_arn, seconds)


def _remember_delay(elbv2, target_group_arn: str, delay: int | None) -> None:
    with _known_delays_lock:
        _known_delays.setdefault(elbv2, {})[target_group_arn] = (delay, time.monotonic() + DELAY_CACHE_SECONDS)


def deregister(elbv2, target_group_arn: str, targets: list[Registration]) -> None:
    """One DeregisterTargets for every registration of every interrupted instance in this target group."""
    elbv2.deregister_targets(TargetGroupArn=target_group_arn, Targets=[t.as_target() for t in targets])


# What a full DescribeTargetHealth showed draining, per execution environment and target group. A registration
# deregistered before such a read and not draining in it has left for good, so later looks at it need no call: a
# mass reclaim's follow-ups read each target group about once per environment instead of once per batch.
_drain_reads: weakref.WeakKeyDictionary[object, dict[str, tuple[datetime, frozenset[str]]]] = (
    weakref.WeakKeyDictionary()
)


def still_draining(elbv2, target_group_arn: str, targets: list[str], deregistered_by: datetime, now: datetime):
    """Which of the registrations ("id:port", all deregistered by `deregistered_by`) are still draining."""
    with _known_delays_lock:
        read = _drain_reads.get(elbv2, {}).get(target_group_arn)
    if read is not None and read[0] >= deregistered_by and not read[1] & set(targets):
        return set()
    response = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
    draining = frozenset(
        str(Registration(d["Target"]["Id"], d["Target"].get("Port")))
        for d in response.get("TargetHealthDescriptions", [])
        if d.get("TargetHealth", {}).get("State") == "draining"
    )
    with _known_delays_lock:
        _drain_reads.setdefault(elbv2, {})[target_group_arn] = (now, draining)
    return set(targets) & draining


def register(elbv2, target_group_arn: str, targets: list[dict]) -> None:
    """One RegisterTargets: put registrations back as a drain took them away (Id, Port, AvailabilityZone)."""
    elbv2.register_targets(TargetGroupArn=target_group_arn, Targets=targets)
