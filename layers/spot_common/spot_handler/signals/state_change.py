"""EC2 Instance State-change Notification: an instance entered a state. Sent for every instance of the account and
region, On-Demand and Spot alike, best effort like the other signals; a rule can filter on `detail.state` but not on
tags. The handler acts on three states:

- `stopping`, `shutting-down`: the **late signal** of an interruption whose warning never came (EC2 sends warnings on
  a best-effort basis). Acted on only for a Spot instance EC2 is taking back (state reason
  `Server.SpotInstanceTermination` or `Server.SpotInstanceShutdown`, read with the batch's one DescribeInstances):
  the same steps as a warning, at once, and an alert `missed-warning`. Anything else (a user's stop, an On-Demand
  terminate) is ignored and costs nothing but that one read.
- `running`: an instance the handler drained is back (a stopped or hibernated Spot instance EC2 started again):
  what it took away is put back (restore/).
"""

from __future__ import annotations

from spot_handler.models import NoticeKind, shown
from spot_handler.signals.common import Detail, instance_and_action

# Its deadline is its own time: the instance is already going.
KIND = NoticeKind("EC2 Instance State-change Notification", "aws.ec2", "Late signal", warning_seconds=0)
LEAVING = ("stopping", "shutting-down")  # the late signal of an interruption
RUNNING = "running"  # a drained instance back: restored
STATES = (*LEAVING, RUNNING)  # the states the rules route (template.yaml)


def read_detail(detail: dict, problems: list[str]) -> Detail:
    """`{"instance-id", "state"}`."""
    read = instance_and_action(detail, problems, action_required=False)
    state = detail.get("state")
    if not (isinstance(state, str) and state in STATES):
        problems.append(f"detail.state: expected one of {', '.join(STATES)}, got {shown(state)}")
    return Detail(read.instance_id, "terminate" if state == "shutting-down" else "stop", None, None, state)


def is_late_signal(notice) -> bool:
    return notice.kind is KIND and notice.state in LEAVING


def is_resume(notice) -> bool:
    return notice.kind is KIND and notice.state == RUNNING
