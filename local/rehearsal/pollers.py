"""The rehearsal's bounded waits: until the deployed function has drained what was seeded and its alert reached the
subscriber queue, and what each outcome was when the wait ended."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from local.account import AccountBuilder
from local.rehearsal.seeders import SeededHookFleet, SeededSpotInstance

WAIT_SECONDS = 180  # for the notice to be handled: the first invocation starts the function's container
# For the lifecycle action: the follow-up that completes it is delayed 30 s (followups.CHECK_EVERY_SECONDS).
LIFECYCLE_WAIT_SECONDS = 150


@dataclass
class WatchedTarget:
    """An instance registered in a target group, read before the event and when the wait ended."""

    instance_id: str
    target_group_arn: str
    registered_before: list[str]
    registered_after: list[str]

    @property
    def drained(self) -> bool:
        """The instance was registered before the event and is not any more (targets read "id:port")."""
        return registered(self.registered_before, self.instance_id) and not registered(
            self.registered_after, self.instance_id
        )


@dataclass
class NoticeOutcome(WatchedTarget):
    deregistration_delay_after: int
    alert: dict | None  # the SNS envelope the subscriber queue received, Message parsed into "document"
    seconds: float


@dataclass
class LifecycleOutcome(WatchedTarget):  # the target group is attached to the Auto Scaling group
    group: str
    hook: str
    token: str
    completed: bool  # Auto Scaling has no active action with the token any more
    follow_ups_delayed: int  # the notice queue's ApproximateNumberOfMessagesDelayed, at most, while it waited
    alert: dict | None
    seconds: float

    @property
    def handled(self) -> bool:
        """Drained, and the action completed, or waiting for the drain with its follow-up on the way."""
        return self.drained and (self.completed or self.follow_ups_delayed >= 1)


def registered(targets: list[str], instance_id: str) -> bool:
    """Targets read "id:port"."""
    return any(t.split(":")[0] == instance_id for t in targets)


def wait_for_drain(
    builder: AccountBuilder,
    seeded: SeededSpotInstance,
    sqs,
    subscriber: str,
    started: float,
    wait_seconds: float = WAIT_SECONDS,
) -> NoticeOutcome:
    """Until the instance is deregistered (in builder's account) and its alert is in the `subscriber` queue."""
    alert = None
    registered_after = seeded.registered_before
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        registered_after = builder.registered(seeded.target_group_arn)
        alert = alert or alert_for(sqs, subscriber, seeded.instance_id)
        if alert and not registered(registered_after, seeded.instance_id):
            break
        time.sleep(1)
    seconds = time.perf_counter() - started
    return NoticeOutcome(
        instance_id=seeded.instance_id,
        target_group_arn=seeded.target_group_arn,
        registered_before=seeded.registered_before,
        registered_after=registered_after,
        deregistration_delay_after=builder.deregistration_delay(seeded.target_group_arn),
        alert=alert,
        seconds=seconds,
    )


def wait_for_lifecycle_action(
    builder: AccountBuilder,
    fleet: SeededHookFleet,
    token: str,
    sqs,
    subscriber: str,
    notice_queue_url: str,
    started: float,
    wait_seconds: float = LIFECYCLE_WAIT_SECONDS,
) -> LifecycleOutcome:
    """Until the instance is drained and the action completed or waiting with a follow-up delayed on the notice
    queue (the lifecycle step never completes at once what is still draining), and its alert has arrived."""
    autoscaling = builder.client("autoscaling")
    alert, completed, delayed = None, False, 0
    registered_after = fleet.registered_before
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        registered_after = builder.registered(fleet.target_group_arn)
        alert = alert or alert_for(sqs, subscriber, fleet.instance_id)
        delayed = max(delayed, _delayed(sqs, notice_queue_url))
        completed = lifecycle_completed(autoscaling, fleet.group, fleet.hook, token, fleet.instance_id)
        if completed and alert and not registered(registered_after, fleet.instance_id):
            break
        time.sleep(2)
    return LifecycleOutcome(
        group=fleet.group,
        hook=fleet.hook,
        token=token,
        instance_id=fleet.instance_id,
        target_group_arn=fleet.target_group_arn,
        registered_before=fleet.registered_before,
        registered_after=registered_after,
        completed=completed,
        follow_ups_delayed=delayed,
        alert=alert,
        seconds=time.perf_counter() - started,
    )


def lifecycle_completed(autoscaling, group: str, hook: str, token: str, instance_id: str) -> bool:
    """True once the action is no longer active: a heartbeat for it is refused, as AWS refuses it. (A heartbeat
    for an active action only extends it; completing it to find out would do the function's work.)"""
    try:
        autoscaling.record_lifecycle_action_heartbeat(
            AutoScalingGroupName=group, LifecycleHookName=hook, LifecycleActionToken=token, InstanceId=instance_id
        )
    except autoscaling.exceptions.ClientError as refused:
        if "No active Lifecycle Action" in str(refused):
            return True
        raise
    return False


def alert_for(sqs, queue_url: str, instance_id: str) -> dict | None:
    """The alert for the instance, if the subscriber queue has it: the SNS envelope, its Message parsed."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    for message in messages.get("Messages", []):
        envelope = json.loads(message["Body"])
        envelope["document"] = json.loads(envelope["Message"])  # the "default" key of the JSON message structure
        if envelope["document"].get("instanceId") == instance_id:
            return envelope
    return None


def _delayed(sqs, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])[
        "Attributes"
    ]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])


def function_logs(logs, function_name: str, limit: int = 60) -> str:
    """The deployed function's log lines in the emulated CloudWatch Logs (shown when a notice is not handled)."""
    group = f"/aws/lambda/{function_name}"
    try:
        events = logs.filter_log_events(logGroupName=group, limit=limit)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return f"(no log group {group})"
    return "\n".join(e["message"].rstrip() for e in events)
