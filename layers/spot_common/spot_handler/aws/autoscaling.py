"""Auto Scaling: the load balancers attached to the groups that interrupted instances belong to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

_NAMES_MAX = 50  # DescribeAutoScalingGroups accepts at most 50 names per call


class AttachedLoadBalancers(NamedTuple):
    target_groups: dict[str, list[str]]  # group name -> target group ARNs
    classic: dict[str, list[str]]  # group name -> Classic Load Balancer names


def target_groups_of(autoscaling, group_names: Iterable[str]) -> AttachedLoadBalancers:
    """Target group ARNs and Classic Load Balancer names attached to each named Auto Scaling group, from one read of
    the groups (groups that no longer exist are absent)."""
    names = sorted(set(group_names))
    attached = AttachedLoadBalancers({}, {})
    for start in range(0, len(names), _NAMES_MAX):
        paginator = autoscaling.get_paginator("describe_auto_scaling_groups")
        for page in paginator.paginate(AutoScalingGroupNames=names[start : start + _NAMES_MAX]):
            for group in page.get("AutoScalingGroups", []):
                arns = list(group.get("TargetGroupARNs", []))
                classic = list(group.get("LoadBalancerNames", []))
                # Groups attached with the newer traffic-sources API list them there as well.
                for source in group.get("TrafficSources", []):
                    if source.get("Type") == "elbv2" and source.get("Identifier") not in arns:
                        arns.append(source["Identifier"])
                    elif source.get("Type") == "elb" and source.get("Identifier") not in classic:
                        classic.append(source["Identifier"])
                attached.target_groups[group["AutoScalingGroupName"]] = arns
                attached.classic[group["AutoScalingGroupName"]] = classic
    return attached


class HookTimes(NamedTuple):
    heartbeat_timeout: int  # seconds a lifecycle action waits for a heartbeat or completion
    global_timeout: int  # seconds it can be kept waiting at most, heartbeats included


# The hook's defaults when it cannot be described: the shortest heartbeat timeout there is, so heartbeats come
# too often rather than too late.
UNKNOWN_HOOK = HookTimes(heartbeat_timeout=30, global_timeout=3000)


def lifecycle_hooks(autoscaling, hooks: Iterable[tuple[str, str]]) -> dict[tuple[str, str], HookTimes]:
    """Timeouts of each (Auto Scaling group, hook name): one DescribeLifecycleHooks per group."""
    by_group: dict[str, set[str]] = {}
    for group, hook in hooks:
        by_group.setdefault(group, set()).add(hook)
    found = {}
    for group, names in by_group.items():
        response = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group, LifecycleHookNames=sorted(names))
        for hook in response.get("LifecycleHooks", []):
            heartbeat = int(hook.get("HeartbeatTimeout") or 3600)
            found[(group, hook["LifecycleHookName"])] = HookTimes(
                heartbeat, int(hook.get("GlobalTimeout") or min(172_800, 100 * heartbeat))
            )
    return found


def complete_lifecycle_action(autoscaling, group: str, hook: str, token: str, instance_id: str) -> None:
    """CONTINUE: the handler has drained the instance; Auto Scaling may go on terminating (or warm-pooling) it."""
    autoscaling.complete_lifecycle_action(
        AutoScalingGroupName=group,
        LifecycleHookName=hook,
        LifecycleActionToken=token,
        LifecycleActionResult="CONTINUE",
        InstanceId=instance_id,
    )


def record_heartbeat(autoscaling, group: str, hook: str, token: str, instance_id: str) -> None:
    """Keep the lifecycle action waiting for another heartbeat timeout while connections drain."""
    autoscaling.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=group, LifecycleHookName=hook, LifecycleActionToken=token, InstanceId=instance_id
    )


def terminating(autoscaling, instance_ids: list[str]) -> set[str]:
    """Which of the instances Auto Scaling is terminating (lifecycle state Terminating, Terminating:Wait, ...): one
    DescribeAutoScalingInstances per 50. An instance in no group is absent from the answer."""
    found: set[str] = set()
    ids = sorted(set(instance_ids))
    for start in range(0, len(ids), _NAMES_MAX):
        response = autoscaling.describe_auto_scaling_instances(InstanceIds=ids[start : start + _NAMES_MAX])
        for instance in response.get("AutoScalingInstances", []):
            if str(instance.get("LifecycleState", "")).startswith("Terminat"):
                found.add(instance["InstanceId"])
    return found
