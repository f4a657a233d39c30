"""Follow-ups: look again later without sleeping in the Lambda.

Deregistered targets drain for up to their deregistration delay. To know when they are done, the handler sends
itself a delayed message on its own notice queue (SQS DelaySeconds, at most 900 s) saying what to check. When the
message comes back, one DescribeTargetHealth per target group reads what is still `draining`, and:
- a terminate lifecycle action is completed (CONTINUE) once nothing of its instance is draining, or when the hook's
  own time is about to run out, whichever comes first; a heartbeat is recorded when the wait would outlive the hook's
  heartbeat timeout; otherwise it looks again CHECK_EVERY_SECONDS later;
- a Spot warning, looked at just before its deadline: registrations still draining (connections still open) get a
  second alert, `drain-unfinished`; if everything left in time, a metric and a log line only.

Follow-ups are delivered at least once, like any SQS message: a second copy completes a lifecycle action already
completed (Auto Scaling answers that no such action is active, which is taken as done) or, rarely, repeats a
drain-unfinished alert. The format below is the handler's own; records claiming it that do not fit it are parked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from spot_handler.aws import AwsClients
from spot_handler.aws import autoscaling as asg
from spot_handler.aws import elbv2 as elb
from spot_handler.aws.clients import AWS_ERRORS, describe_error, error_code
from spot_handler.aws.queue import MAX_DELAY_SECONDS, Delayed, fits, send_delayed
from spot_handler.models import MalformedNotice, shown, target_group_name
from spot_handler.wording import iso_utc

logger = Logger(child=True)

SOURCE = "spot-interruption-handler"
DETAIL_TYPE = "Drain follow-up"
CHECK_EVERY_SECONDS = 30  # a lifecycle action waiting for its targets is looked at this often
DEADLINE_CHECK_SECONDS = 10  # a Spot warning's targets are looked at this long before its deadline
EXPIRY_MARGIN_SECONDS = 10  # act this long before a hook's heartbeat or global timeout runs out
RETRY_SECONDS = 10  # a refused completion is tried again this much later
COMPLETION_TRIES = 5  # a completion refused this often (AccessDenied, say) is left to the hook's default result
_SHARED_DELAY_SECONDS = 5  # checks due within this of each other travel in one message


@dataclass
class Check:
    """One thing to look at again: the targets an instance was deregistered from, and what to do then."""

    kind: str  # "lifecycle" or "deadline"
    account: str
    region: str
    instance_id: str
    notice_id: str
    due: datetime  # when to look
    deregistered_at: datetime  # when its targets were deregistered (or found draining), at the latest
    targets: dict[str, list[str]]  # target group ARN -> "id:port" registrations deregistered
    delays: dict[str, int | None] = field(default_factory=dict)  # target group ARN -> delay in force, seconds
    # lifecycle
    group: str = ""
    hook: str = ""
    token: str = ""
    destination: str | None = None
    heartbeat_timeout: int = 0
    heartbeat_expires: datetime | None = None
    global_expires: datetime | None = None
    # deadline
    deadline: datetime | None = None
    availability_zone: str | None = None
    instance_name: str | None = None
    failed_completions: int = 0  # CompleteLifecycleAction calls that failed; it gives up after COMPLETION_TRIES


_TIMES = ("due", "deregistered_at", "heartbeat_expires", "global_expires", "deadline")


def follow_up_body(checks: list[Check]) -> dict:
    return {
        "source": SOURCE,
        "detail-type": DETAIL_TYPE,
        "checks": [
            {k: iso_utc(v) if k in _TIMES else v for k, v in dataclasses.asdict(check).items()} for check in checks
        ],
    }


def is_follow_up(body: object) -> bool:
    return isinstance(body, dict) and body.get("source") == SOURCE


def parse_follow_up(body: dict) -> list[Check]:
    """The checks of a follow-up message, or MalformedNotice naming what does not fit."""
    checks = body.get("checks")
    if body.get("detail-type") != DETAIL_TYPE or not isinstance(checks, list) or not checks:
        raise MalformedNotice(f"checks: a follow-up carries a list of checks, got {shown(checks)}")
    parsed = []
    names = {f.name: f for f in dataclasses.fields(Check)}
    for index, raw in enumerate(checks):
        where = f"checks[{index}]"
        if not isinstance(raw, dict) or set(raw) - set(names):
            raise MalformedNotice(f"{where}: not a check: {shown(raw)}")
        values = {}
        for name, value in raw.items():
            if name in _TIMES and value is not None:
                try:
                    value = datetime.fromisoformat(value)
                except (TypeError, ValueError):
                    raise MalformedNotice(f"{where}.{name}: not a time: {shown(value)}") from None
            values[name] = value
        try:
            check = Check(**values)
        except TypeError as exc:
            raise MalformedNotice(f"{where}: {exc}") from None
        targets_ok = isinstance(check.targets, dict) and all(
            isinstance(v, list) and all(isinstance(t, str) for t in v) for v in check.targets.values()
        )
        if check.kind not in ("lifecycle", "deadline") or not targets_ok:
            raise MalformedNotice(f"{where}.kind/targets: not a check this handler makes: {shown(raw)}")
        if check.kind == "deadline" and check.deadline is None:
            raise MalformedNotice(f"{where}.deadline: missing")
        parsed.append(check)
    return parsed


def schedule(sqs, queue_url: str, checks: list[Check], now: datetime) -> list[str]:
    """Send the checks as delayed messages (checks due close together share one); the errors, if any."""
    if not checks:
        return []
    if not queue_url:
        return ["follow-up not scheduled: the function has no NOTICE_QUEUE_URL"]
    by_delay: dict[int, list[Check]] = {}
    for check in sorted(checks, key=lambda c: c.due):
        delay = int(max(0, min(MAX_DELAY_SECONDS, (check.due - now).total_seconds())))
        by_delay.setdefault(delay - delay % _SHARED_DELAY_SECONDS, []).append(check)
    messages = []
    for delay, group in by_delay.items():
        chunk: list[Check] = []
        for check in group:
            if chunk and not fits(follow_up_body([*chunk, check])):
                messages.append(Delayed(follow_up_body(chunk), delay))
                chunk = []
            chunk.append(check)
        messages.append(Delayed(follow_up_body(chunk), delay))
    try:
        return send_delayed(sqs, queue_url, messages)
    except AWS_ERRORS as exc:
        return [f"follow-up not scheduled: {describe_error(exc)}"]


@dataclass
class FollowUpReport:
    """What the follow-ups of one invocation did: the metrics, the log, the second alerts."""

    completed: list[Check] = field(default_factory=list)  # lifecycle actions completed
    heartbeats: int = 0
    rescheduled: list[Check] = field(default_factory=list)
    finished_in_time: list[Check] = field(default_factory=list)
    unfinished: list[tuple[Check, dict[str, list[str]]]] = field(default_factory=list)  # (check, still draining)
    failures: list[str] = field(default_factory=list)


def handle_follow_ups(
    checks: list[Check], clients: AwsClients, queue_url: str, clock: Callable[[], datetime], delivery_s: int = 0
) -> FollowUpReport:
    """Look at what each check deregistered, then complete, heartbeat, look again later, or report.

    `delivery_s`: how late a follow-up may reach the function after it is due (the batching window)."""
    report = FollowUpReport()
    now = clock()
    draining, unreadable = _still_draining(clients.elbv2, checks, now)
    for check, left, error in zip(checks, draining, unreadable):
        if check.kind == "deadline":
            if error:
                report.failures.append(f"{check.instance_id}: drain not checked at its deadline ({error})")
            elif left:
                report.unfinished.append((check, left))
            else:
                report.finished_in_time.append(check)
            continue
        act_on_lifecycle(clients.autoscaling, check, left, error, now, report, delivery_s)
    report.failures += schedule(clients.sqs, queue_url, report.rescheduled, now)
    return report


def _still_draining(elbv2, checks: list[Check], now: datetime) -> tuple[list[dict[str, list[str]]], list[str | None]]:
    """Per check: {target group: registrations still draining}, and why its targets could not be read (or None).

    At most one DescribeTargetHealth per target group for every check of the batch (aws/elbv2.still_draining).
    """
    wanted: dict[str, set[str]] = {}
    since: dict[str, datetime] = {}
    for check in checks:
        for arn, targets in check.targets.items():
            wanted.setdefault(arn, set()).update(targets)
            since[arn] = max(since.get(arn, check.deregistered_at), check.deregistered_at)
    draining: dict[str, set[str]] = {}
    errors: dict[str, str] = {}
    for arn, targets in wanted.items():
        try:
            draining[arn] = elb.still_draining(elbv2, arn, sorted(targets), since[arn], now)
        except AWS_ERRORS as exc:
            if error_code(exc) == "TargetGroupNotFound":
                draining[arn] = set()  # the group is gone, and its draining with it
            else:
                errors[arn] = describe_error(exc)
    left, unreadable = [], []
    for check in checks:
        still = {arn: [t for t in targets if t in draining.get(arn, ())] for arn, targets in check.targets.items()}
        left.append({arn: targets for arn, targets in still.items() if targets})
        problems = [f"{target_group_name(arn)}: {errors[arn]}" for arn in check.targets if arn in errors]
        unreadable.append("; ".join(problems) or None)
    return left, unreadable


def act_on_lifecycle(
    autoscaling,
    check: Check,
    left: dict,
    error: str | None,
    now: datetime,
    report: FollowUpReport,
    delivery_s: int = 0,
) -> str:
    """Complete the check's lifecycle action, or keep it alive and look again later; what was done, in words.

    `left`: its registrations still draining; `error`: why they could not be read (then they count as draining);
    `delivery_s`: how late the next look may arrive after it is due (the batching window).
    """
    # The next look is due CHECK_EVERY_SECONDS from now but may arrive up to delivery_s later: a heartbeat or the
    # completion has to happen now if the hook's time could run out before it.
    next_look = now + timedelta(seconds=CHECK_EVERY_SECONDS + delivery_s + EXPIRY_MARGIN_SECONDS)
    running_out = check.global_expires is not None and next_look >= check.global_expires
    if (not left and not error) or running_out:
        why = "its hook's time is running out" if left or error else "nothing of it is draining"
        try:
            asg.complete_lifecycle_action(autoscaling, check.group, check.hook, check.token, check.instance_id)
        except AWS_ERRORS as exc:
            if error_code(exc) != "ValidationError":  # "No active Lifecycle Action found": completed or timed out
                report.failures.append(f"{check.instance_id}: CompleteLifecycleAction: {describe_error(exc)}")
                tries = check.failed_completions + 1
                if running_out or tries >= COMPLETION_TRIES:
                    return f"NOT completed ({describe_error(exc)}): the hook's default result applies when it times out"
                retry = dataclasses.replace(check, failed_completions=tries)
                state = _keep_alive(autoscaling, retry, retry.targets, now, report, delivery_s, RETRY_SECONDS)
                return state or "not completed yet: CompleteLifecycleAction failed, tried again shortly"
        logger.info(
            "lifecycle action completed",
            extra={"instance_id": check.instance_id, "group": check.group, "result": "CONTINUE", "why": why},
        )
        report.completed.append(check)
        return f"completed with CONTINUE: {why}"
    remaining = left or check.targets  # unreadable: look at all of them again
    state = _keep_alive(autoscaling, check, remaining, now, report, delivery_s, CHECK_EVERY_SECONDS)
    return state or "waiting for its registrations to leave draining"


def _keep_alive(
    autoscaling, check: Check, targets: dict, now: datetime, report: FollowUpReport, delivery_s: int, every: int
) -> str | None:
    """Record a heartbeat if the hook's heartbeat could run out before the next look arrives, and schedule that look:
    `every` seconds from now, or earlier, so that it arrives (up to delivery_s after it is due) EXPIRY_MARGIN_SECONDS
    before the heartbeat runs out. Returns what happened instead when the action is no longer active."""
    next_look = now + timedelta(seconds=every + delivery_s + EXPIRY_MARGIN_SECONDS)
    if check.heartbeat_expires is not None and next_look >= check.heartbeat_expires:
        try:
            asg.record_heartbeat(autoscaling, check.group, check.hook, check.token, check.instance_id)
            report.heartbeats += 1
            check = dataclasses.replace(check, heartbeat_expires=now + timedelta(seconds=check.heartbeat_timeout))
        except AWS_ERRORS as exc:
            if error_code(exc) == "ValidationError":  # no longer active: nothing left to wait for
                return "no longer active (completed elsewhere, or timed out)"
            report.failures.append(f"{check.instance_id}: RecordLifecycleActionHeartbeat: {describe_error(exc)}")
    due = now + timedelta(seconds=every)
    if check.heartbeat_expires is not None:  # a heartbeat timeout shorter than `every` plus the window and margin
        latest = check.heartbeat_expires - timedelta(seconds=delivery_s + EXPIRY_MARGIN_SECONDS)
        due = max(now, min(due, latest))
    report.rescheduled.append(dataclasses.replace(check, targets=targets, due=due))
    return None
