"""Auto Scaling: the target groups attached to the groups that interrupted instances belong to."""

from __future__ import annotations

from collections.abc import Iterable

_NAMES_MAX = 50  # DescribeAutoScalingGroups accepts at most 50 names per call


def target_groups_of(autoscaling, group_names: Iterable[str]) -> dict[str, list[str]]:
    """Target group ARNs attached to each named Auto Scaling group (groups that no longer exist are absent)."""
    names = sorted(set(group_names))
    attached: dict[str, list[str]] = {}
    for start in range(0, len(names), _NAMES_MAX):
        paginator = autoscaling.get_paginator("describe_auto_scaling_groups")
        for page in paginator.paginate(AutoScalingGroupNames=names[start : start + _NAMES_MAX]):
            for group in page.get("AutoScalingGroups", []):
                arns = list(group.get("TargetGroupARNs", []))
                # Groups attached with the newer traffic-sources API list them there as well.
                for source in group.get("TrafficSources", []):
                    if source.get("Type") == "elbv2" and source.get("Identifier") not in arns:
                        arns.append(source["Identifier"])
                attached[group["AutoScalingGroupName"]] = arns
    return attached
