"""Elastic Load Balancing v2: the calls that take an instance out of a target group."""

from __future__ import annotations

import threading
import time
import weakref
from typing import NamedTuple

DELAY_ATTRIBUTE = "deregistration_delay.timeout_seconds"
# A mass reclaim touches the same target groups in batch after batch, and a delay once lowered stays lowered, so
# each execution environment (one client each) remembers the delays it read or set for a few minutes instead of
# reading them again in every batch. The cost: a delay raised again by hand within that time is not lowered until
# the entry expires.
DELAY_CACHE_SECONDS = 300.0
_known_delays: weakref.WeakKeyDictionary[object, dict[str, tuple[int | None, float]]] = weakref.WeakKeyDictionary()
_known_delays_lock = threading.Lock()


class Registration(NamedTuple):
    target_id: str  # an instance id or an IP address
    port: int | None
    availability_zone: str | None = None

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
    """Every registration in the target group (one DescribeTargetHealth), including ones already draining."""
    response = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
    found = []
    for description in response.get("TargetHealthDescriptions", []):
        target = description["Target"]
        if description.get("TargetHealth", {}).get("State") == "draining":
            continue  # already on its way out: deregistering it again changes nothing
        found.append(Registration(target["Id"], target.get("Port"), target.get("AvailabilityZone")))
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
