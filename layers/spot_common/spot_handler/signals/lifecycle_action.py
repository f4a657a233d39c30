"""EC2 Instance-terminate Lifecycle Action: Auto Scaling takes the instance out of service and waits for the
handler's hook (its action completed with CONTINUE once the instance is drained). No deadline of its own: the
instance waits for the hook, whose timeout is the group's."""

from __future__ import annotations

import re

from spot_handler.models import LifecycleAction, NoticeKind, shown
from spot_handler.signals.common import INSTANCE_ID, Detail, text

KIND = NoticeKind(
    "EC2 Instance-terminate Lifecycle Action", "aws.autoscaling", "Auto Scaling termination", warning_seconds=None
)
_TOKEN = re.compile(r"[0-9A-Fa-f-]{36}")  # CompleteLifecycleAction takes 36 characters


def read_detail(detail: dict, problems: list[str]) -> Detail:
    """`{LifecycleActionToken, AutoScalingGroupName, LifecycleHookName, EC2InstanceId, LifecycleTransition,
    NotificationMetadata, Origin, Destination}`."""
    instance_id = detail.get("EC2InstanceId")
    if not (isinstance(instance_id, str) and INSTANCE_ID.fullmatch(instance_id)):
        problems.append(f"detail.EC2InstanceId: not an instance id: {shown(instance_id)}")
    transition = detail.get("LifecycleTransition")
    if transition != "autoscaling:EC2_INSTANCE_TERMINATING":
        problems.append(f"detail.LifecycleTransition: expected a terminating transition, got {shown(transition)}")
    token = detail.get("LifecycleActionToken")
    if not (isinstance(token, str) and _TOKEN.fullmatch(token)):
        problems.append(f"detail.LifecycleActionToken: not a lifecycle action token: {shown(token)}")
    group = text(detail.get("AutoScalingGroupName"), "detail.AutoScalingGroupName", problems, max_length=255)
    hook = text(detail.get("LifecycleHookName"), "detail.LifecycleHookName", problems, max_length=255)
    origin, destination = detail.get("Origin"), detail.get("Destination")
    for where, value in (("detail.Origin", origin), ("detail.Destination", destination)):
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}: expected text, got {shown(value)}")
    if problems:
        return Detail(None)
    return Detail(instance_id, "terminate", None, LifecycleAction(token, group, hook, origin, destination))
