"""EC2 Capacity Reservation Instance Interruption Warning: the instance's Capacity Reservation is interrupted. The
event names the termination time, which is its deadline; `resources` may be a string (the documentation's
example), which nothing here reads."""

from __future__ import annotations

from spot_handler.models import NoticeKind
from spot_handler.signals.common import Detail, instance_and_action

KIND = NoticeKind(
    "EC2 Capacity Reservation Instance Interruption Warning", "aws.ec2", "Capacity Reservation interruption"
)


def read_detail(detail: dict, problems: list[str]) -> Detail:
    """`{"instance-id", "instance-action": "terminate", "instance-termination-time", "azId"}`."""
    return instance_and_action(detail, problems, action_required=True)
