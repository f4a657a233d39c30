"""EC2 Instance Rebalance Recommendation: advice that the instance is at elevated risk of interruption. An incident
of its own, alerted; drained only with DrainOnRebalance. No deadline."""

from __future__ import annotations

from spot_handler.models import NoticeKind
from spot_handler.signals.common import Detail, instance_and_action

KIND = NoticeKind(
    "EC2 Instance Rebalance Recommendation",
    "aws.ec2",
    "Rebalance recommendation",
    interruption=False,
    warning_seconds=None,
)


def read_detail(detail: dict, problems: list[str]) -> Detail:
    """`{"instance-id"}` only."""
    return instance_and_action(detail, problems, action_required=False)
