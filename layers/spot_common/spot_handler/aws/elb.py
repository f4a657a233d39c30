"""Classic Load Balancers (Elastic Load Balancing 2012-06-01): the calls that take instances out of one."""

from __future__ import annotations

import threading
import time
import weakref
from typing import NamedTuple

from spot_handler.aws.clients import describe_in_chunks

_DESCRIBE_NAMES_MAX = 20  # DescribeLoadBalancers accepts at most 20 names per call
# As for target group delays (elbv2.py): a timeout once lowered stays lowered, so each execution environment
# remembers what it read or set for a few minutes instead of reading it again in every batch of a mass reclaim.
DRAINING_CACHE_SECONDS = 300.0
_known_draining: weakref.WeakKeyDictionary[object, dict[str, tuple[Draining, float]]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class Draining(NamedTuple):
    """A Classic Load Balancer's connection draining attribute."""

    enabled: bool
    timeout: int | None


class LoadBalancerLookup(NamedTuple):
    registered: dict[str, set[str]]  # load balancer name -> the instance ids registered with it
    missing: dict[str, str]  # load balancer name -> why it could not be described (LoadBalancerNotFound, ...)


def describe_load_balancers(elb, names: list[str]) -> LoadBalancerLookup:
    """The instances registered with each load balancer: one DescribeLoadBalancers for up to 20 names.

    One unknown name fails a whole call (LoadBalancerNotFound), so such a chunk is described again one name at a
    time, to name the one that failed and still describe the others.
    """
    registered, missing = describe_in_chunks(
        lambda chunk: _describe(elb, chunk),
        list(dict.fromkeys(names)),
        _DESCRIBE_NAMES_MAX,
        ("LoadBalancerNotFound", "AccessPointNotFound"),
    )
    return LoadBalancerLookup(registered, missing)


def _describe(elb, names: list[str]) -> dict[str, set[str]]:
    found = {}
    for page in elb.get_paginator("describe_load_balancers").paginate(LoadBalancerNames=names):
        for description in page.get("LoadBalancerDescriptions", []):
            found[description["LoadBalancerName"]] = {i["InstanceId"] for i in description.get("Instances", [])}
    return found


def connection_draining(elb, name: str) -> Draining:
    """The load balancer's connection draining: one DescribeLoadBalancerAttributes, then remembered."""
    with _lock:
        known = _known_draining.get(elb, {}).get(name)
    if known is not None and known[1] > time.monotonic():
        return known[0]
    attributes = elb.describe_load_balancer_attributes(LoadBalancerName=name).get("LoadBalancerAttributes", {})
    draining = attributes.get("ConnectionDraining") or {}
    found = Draining(bool(draining.get("Enabled")), draining.get("Timeout"))
    _remember(elb, name, found)
    return found


def set_draining_timeout(elb, name: str, seconds: int) -> None:
    elb.modify_load_balancer_attributes(
        LoadBalancerName=name,
        LoadBalancerAttributes={"ConnectionDraining": {"Enabled": True, "Timeout": seconds}},
    )
    _remember(elb, name, Draining(True, seconds))


def _remember(elb, name: str, draining: Draining) -> None:
    with _lock:
        _known_draining.setdefault(elb, {})[name] = (draining, time.monotonic() + DRAINING_CACHE_SECONDS)


def deregister(elb, name: str, instance_ids: list[str]) -> None:
    """One DeregisterInstancesFromLoadBalancer for every interrupted instance registered with this load balancer."""
    elb.deregister_instances_from_load_balancer(
        LoadBalancerName=name, Instances=[{"InstanceId": i} for i in instance_ids]
    )


DEREGISTRATION_IN_PROGRESS = "Instance deregistration currently in progress"


def instances_draining(elb, name: str, instance_ids: list[str]) -> set[str]:
    """Which of the instances the load balancer still reports as deregistering (connection draining: `InService`,
    "Instance deregistration currently in progress."); one DescribeInstanceHealth. Once their in-flight requests are
    done, or the timeout ends, they are `OutOfService`, "Instance is not currently registered with the LoadBalancer."
    An instance still plainly InService is still registered: it is reported as draining too (it has not left)."""
    response = elb.describe_instance_health(LoadBalancerName=name, Instances=[{"InstanceId": i} for i in instance_ids])
    return {
        state["InstanceId"]
        for state in response.get("InstanceStates", [])
        if state.get("State") == "InService" and state.get("InstanceId") in instance_ids
    }


def register(elb, name: str, instance_ids: list[str]) -> None:
    """One RegisterInstancesWithLoadBalancer: instances a drain took out of the Classic Load Balancer, back in."""
    elb.register_instances_with_load_balancer(
        LoadBalancerName=name, Instances=[{"InstanceId": i} for i in instance_ids]
    )
