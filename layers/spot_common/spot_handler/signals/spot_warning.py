"""EC2 Spot Instance Interruption Warning: EC2 will stop, hibernate or terminate the instance about 120 s after the
notice's time (the event names no termination time)."""

from __future__ import annotations

from spot_handler.models import NoticeKind
from spot_handler.signals.common import Detail, instance_and_action

KIND = NoticeKind("EC2 Spot Instance Interruption Warning", "aws.ec2", "Spot interruption")


def read_detail(detail: dict, problems: list[str]) -> Detail:
    """`{"instance-id", "instance-action"}`; act on `detail.instance-id`, never on `resources`."""
    return instance_and_action(detail, problems, action_required=True)
