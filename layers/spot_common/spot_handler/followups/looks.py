"""What one look decides, for each kind: complete a lifecycle action, keep it alive, look again, or say what is left.

A look never sleeps and never waits for anything but its own reads. What it decides that must happen once (the next
look of its chain, an alert) is returned, and done by followups/batch.py only after the look is claimed; what is
harmless twice (completing a lifecycle action, recording a heartbeat) is done here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from spot_handler.aws import autoscaling as asg
from spot_handler.aws.clients import AWS_ERRORS, describe_error, error_code
from spot_handler.followups.check import Check
from spot_handler.followups.state import DrainState
from spot_handler.outcome import Outcome
from spot_handler.wording import when

logger = Logger(child=True)

CHECK_EVERY_SECONDS = 30  # a lifecycle action waiting for its instance to drain is looked at this often
DEADLINE_CHECK_SECONDS = 10  # an interruption's drain is looked at this long before its deadline
EXPIRY_MARGIN_SECONDS = 10  # act this long before a hook's heartbeat or global timeout runs out
RETRY_SECONDS = 5  # a drain that failed is drained again this much later, then twice as late each time, up to
RETRY_MAX_SECONDS = 20
COMPLETION_TRIES = 5  # a completion refused this often (AccessDenied, say) is given up, with an alert
# When what is draining cannot be read, a lifecycle action waits for the longest delay in force (a delay not known:
# AWS's default) plus this, then is completed and the alert says so.
UNREADABLE_MARGIN_SECONDS = 30
DEFAULT_DELAY_SECONDS = 300

DRAIN_UNFINISHED = Outcome.DRAIN_UNFINISHED
LIFECYCLE_UNCONFIRMED = Outcome.LIFECYCLE_UNCONFIRMED
LIFECYCLE_NOT_COMPLETED = Outcome.LIFECYCLE_NOT_COMPLETED
RESTORED = Outcome.RESTORED
RESTORE_RETRY_SECONDS = 60  # a restore look that could not decide (lookup or record not read) looks again this late
RESTORE_TRIES = 5


@dataclass
class Look:
    """What one look found and decided."""

    check: Check  # as this look left it (what it drained again included)
    state: DrainState
    next: Check | None = None  # the next look of its chain, to schedule
    alert: Outcome | None = None  # the outcome of a follow-up alert to send (DRAIN_UNFINISHED, ...)
    why: list[str] = field(default_factory=list)  # what the alert says happened
    completed: bool = False  # the lifecycle action was completed by this look
    heartbeats: int = 0
    finished_in_time: bool = False
    failures: list[str] = field(default_factory=list)
    said: str = ""  # what the look did, in words (the log; the first alert's lifecycle line)
    defect: str | None = None  # the look could not be made (a defect): parked in the DLQ with this reason
    possibly_repeated: bool = False  # its claim is not known: its alert says it may be repeated
    restored: Any = None  # a restore look that put a drain back: its outcome (restore/), the alert it sends


def retry_delay(check: Check) -> int:
    """Seconds until the next drain of what failed: RETRY_SECONDS, doubling with each look of the chain that
    drained again, up to RETRY_MAX_SECONDS."""
    return min(RETRY_MAX_SECONDS, RETRY_SECONDS * 2 ** min(check.tries, 2))


def deadline_look(check: Check, state: DrainState, now: datetime, window: int, gone: bool = False) -> Look:
    """An interruption with a deadline: drain again until confirmed; look once more just before the deadline when
    something may still drain then; at that last look, say what was left (`drain-unfinished`).

    `window`: how late a look may reach the function after it is due (the event source's batching window)."""
    look = Look(check, state)
    deadline = check.deadline
    last_due = on_grid(deadline - timedelta(seconds=DEADLINE_CHECK_SECONDS + window))
    if gone:
        look.said = "the instance is gone: nothing left to drain"
        return look
    if check.redrain:
        retry_at = now + timedelta(seconds=retry_delay(check))
        if retry_at + timedelta(seconds=window) < deadline - timedelta(seconds=DEADLINE_CHECK_SECONDS):
            look.next = check.next_look(retry_at, tries=check.tries + 1)
            look.said = f"drained again at {when(retry_at)}: " + "; ".join(check.redrain)
            return look
        look.alert = DRAIN_UNFINISHED
        look.why = [f"not drained: {failure}" for failure in check.redrain] + state.described()
        look.said = "still failing with no time left for another try"
        return look
    # The last look is the one scheduled for just before the deadline (or any look arriving that late).
    last = max(check.due, now) >= last_due - timedelta(seconds=1)
    advice = not check.signal.interruption  # no deadline: nothing is late
    if state.left and not last and not advice and _may_outlast(check, deadline):
        look.next = check.next_look(last_due)
        look.said = f"draining may outlast the deadline: looked at again at {when(last_due)}"
        return look
    if state.left and last and not advice:
        look.alert = DRAIN_UNFINISHED
        look.why = state.described()
        look.said = "still draining at the deadline"
        return look
    if state.unreadable and not advice:
        if not last:  # not read this time: the look before the deadline still happens
            look.next = check.next_look(last_due)
            look.said = f"draining not read ({'; '.join(state.unreadable)}): looked at again at {when(last_due)}"
            return look
        look.alert = DRAIN_UNFINISHED  # never ends silently: not confirmed is said as such
        look.why = [f"not confirmed at the deadline: {u} could not be read" for u in state.unreadable]
        look.said = "drain not confirmed at its deadline"
        return look
    look.finished_in_time = True
    look.said = "drained; nothing left draining at the deadline"
    return look


def _may_outlast(check: Check, deadline: datetime) -> bool:
    """Whether what drains now could still be draining at the deadline (a delay or timeout not known: yes)."""
    ends = [
        check.deregistered_at + timedelta(seconds=d) for d in [*check.delays.values(), *check.classic.values()] if d
    ]
    unknown = any(d is None for d in check.delays.values())
    return unknown or any(end > deadline for end in ends)


def on_grid(moment: datetime, grid: int = 10) -> datetime:
    """The moment rounded down to a 10 s grid of the clock: the looks of a mass reclaim, whose deadlines fall within
    seconds of each other, come due together and share messages, invocations and reads."""
    return datetime.fromtimestamp(moment.timestamp() // grid * grid, tz=moment.tzinfo)


def lifecycle_look(
    autoscaling, check: Check, state: DrainState, now: datetime, window: int = 0, gone: bool = False
) -> Look:
    """Complete the check's lifecycle action once nothing of its instance drains and nothing failed to drain; when
    the hook's time is about to run out; when the instance is gone; or, when what drains cannot be read, once the
    longest delay in force (plus a margin) is over, saying so. Otherwise keep it alive and look again."""
    look = Look(check, state)
    # The next look is due CHECK_EVERY_SECONDS from now but may arrive up to `window` later: a heartbeat or the
    # completion has to happen now if the hook's time could run out before it.
    every = retry_delay(check) if check.redrain else CHECK_EVERY_SECONDS
    next_look = now + timedelta(seconds=every + window + EXPIRY_MARGIN_SECONDS)
    running_out = check.global_expires is not None and next_look >= check.global_expires
    waiting = bool(state.left or check.redrain)
    if state.unreadable and not waiting and not gone:
        since = check.unreadable_since or now
        check = look.check = dataclasses.replace(check, unreadable_since=since)
        bound = check.deregistered_at + timedelta(seconds=_longest_delay(check) + UNREADABLE_MARGIN_SECONDS)
        if now < bound and not running_out:
            return _keep_alive(autoscaling, look, now, window, every)
        why = "the longest delay in force is over (draining could not be read)"
        look = _complete(autoscaling, look, now, why, window)
        if look.completed:  # said only of an action completed: one not completed yet is tried again first
            look.alert = LIFECYCLE_UNCONFIRMED
            look.why = [
                f"what drains could not be read ({'; '.join(state.unreadable)}) since {when(since)}",
                f"completed once the longest delay in force ({_longest_delay(check)} s) and "
                f"{UNREADABLE_MARGIN_SECONDS} s more had passed since the drain ({when(check.deregistered_at)})",
            ]
        return look
    if gone or not waiting or running_out:
        why = (
            "the instance is already gone"
            if gone
            else "its hook's time is running out"
            if waiting
            else "nothing of it is draining"
        )
        return _complete(autoscaling, look, now, why, window, last_chance=running_out)
    return _keep_alive(autoscaling, look, now, window, every)


def _longest_delay(check: Check) -> int:
    delays = [*check.delays.values(), *check.classic.values()]
    known = [d for d in delays if d is not None]
    return max([*known, DEFAULT_DELAY_SECONDS if len(known) < len(delays) or not delays else 0])


def _complete(autoscaling, look: Look, now: datetime, why: str, window: int = 0, last_chance: bool = False) -> Look:
    check = look.check
    try:
        asg.complete_lifecycle_action(autoscaling, check.group, check.hook, check.token, check.instance_id)
    except AWS_ERRORS as exc:
        if error_code(exc) == "ValidationError":  # "No active Lifecycle Action found": completed or timed out
            return _no_longer_active(look, now)
        error = describe_error(exc)
        look.failures.append(f"{check.instance_id}: CompleteLifecycleAction: {error}")
        tries = check.failed_completions + 1
        if last_chance or tries >= COMPLETION_TRIES:
            look.alert = LIFECYCLE_NOT_COMPLETED
            look.why = [
                f"CompleteLifecycleAction failed {tries} time(s): {error}",
                f"Auto Scaling applies the hook's default result when it times out, by {_expiry(check)}",
            ]
            look.said = f"NOT completed ({error}): the hook's default result applies when it times out"
            return look
        look.check = dataclasses.replace(check, failed_completions=tries)
        _keep_alive(autoscaling, look, now, window, RETRY_SECONDS)
        look.said = look.said or "not completed yet: CompleteLifecycleAction failed, tried again shortly"
        return look
    logger.info(
        "lifecycle action completed",
        extra={"instance_id": check.instance_id, "group": check.group, "result": "CONTINUE", "why": why},
    )
    look.completed = True
    look.said = f"completed with CONTINUE: {why}"
    return look


def _no_longer_active(look: Look, now: datetime) -> Look:
    """The action is not active: completed elsewhere (another signal, a copy of this look), or timed out. Timed out
    means the handler never completed it: said in an alert."""
    check = look.check
    expired = [t for t in (check.heartbeat_expires, check.global_expires) if t is not None and t <= now]
    if expired:
        look.alert = LIFECYCLE_NOT_COMPLETED
        look.why = [
            f"the lifecycle action timed out at {when(min(expired))} before the handler could complete it: "
            "Auto Scaling applied the hook's default result"
        ]
        look.said = "timed out before it could be completed"
    else:
        look.said = "no longer active (completed elsewhere)"
    return look


def _expiry(check: Check) -> str:
    times = [t for t in (check.heartbeat_expires, check.global_expires) if t is not None]
    return when(min(times)) if times else "its timeout"


def _keep_alive(autoscaling, look: Look, now: datetime, window: int, every: int) -> Look:
    """Record a heartbeat if the hook's heartbeat could run out before the next look arrives, and ask for that look:
    `every` seconds from now, or earlier, so that it arrives (up to `window` after it is due) EXPIRY_MARGIN_SECONDS
    before the heartbeat runs out."""
    check = look.check
    next_look = now + timedelta(seconds=every + window + EXPIRY_MARGIN_SECONDS)
    if check.heartbeat_expires is not None and next_look >= check.heartbeat_expires:
        try:
            asg.record_heartbeat(autoscaling, check.group, check.hook, check.token, check.instance_id)
            look.heartbeats += 1
            check = dataclasses.replace(check, heartbeat_expires=now + timedelta(seconds=check.heartbeat_timeout))
        except AWS_ERRORS as exc:
            if error_code(exc) == "ValidationError":  # no longer active: nothing left to wait for
                return _no_longer_active(look, now)
            look.failures.append(f"{check.instance_id}: RecordLifecycleActionHeartbeat: {describe_error(exc)}")
    due = now + timedelta(seconds=every)
    if check.heartbeat_expires is not None:  # a heartbeat timeout shorter than `every` plus the window and margin
        latest = check.heartbeat_expires - timedelta(seconds=window + EXPIRY_MARGIN_SECONDS)
        due = max(now, min(due, latest))
    # What still drains, and what could not be read this time (it may still drain): looked at again
    remaining = {
        arn: regs for arn, regs in check.targets.items() if arn in look.state.targets or arn in look.state.unread_groups
    }
    remaining = {arn: look.state.targets.get(arn, regs) for arn, regs in remaining.items()}
    if not remaining and not look.state.left:
        remaining = check.targets  # nothing read at all: all of it again
    look.next = check.next_look(due, targets=remaining, tries=check.tries + 1 if check.redrain else 0)
    look.said = look.said or (
        "drained again shortly: " + "; ".join(check.redrain) if check.redrain else "waiting for its drain to end"
    )
    return look


def restore_looks(checks: list[Check], restore: Callable[[list[Check]], tuple[dict, dict]] | None, now) -> list[Look]:
    """The restore looks of rebalance-only drains: one that arrives before it is due (one SQS delay is at most 15
    minutes) schedules the next of its chain for the same moment; one due puts the drain back unless an interruption
    followed (flow.restore_after_rebalance), and alerts `restored` when it did. One that could not decide (the
    instance or its record not read) looks again a minute later, RESTORE_TRIES times, then says so in the log."""
    early = [c for c in checks if c.due > now + timedelta(seconds=5)]
    due = [c for c in checks if c not in early]
    looks = [
        Look(c, DrainState(), next=c.next_look(c.due), said=f"restore look waits until {when(c.due)}") for c in early
    ]
    if not due:
        return looks
    if restore is None:
        return looks + [
            Look(c, DrainState(), defect="a restore look reached a handler that cannot restore") for c in due
        ]
    restored, undecided = restore(due)
    for check in due:
        outcome = restored.get(check.look_id)
        look = Look(check, DrainState())
        if outcome is not None:
            look.restored, look.alert = outcome, RESTORED
            look.why = [line.removeprefix("- ") for report in outcome.reports for line in report.view(50)[0]]
            look.failures = list(outcome.failures)
            look.said = "put back: " + "; ".join(look.why)
            retry = next((r.follow_up for r in outcome.reports if r.follow_up is not None), None)
            if retry is not None and check.tries + 1 < RESTORE_TRIES:  # what failed is tried again
                look.next = check.next_look(retry.due, tries=check.tries + 1)
        elif check.look_id in undecided and check.tries + 1 < RESTORE_TRIES:
            retry_at = now + timedelta(seconds=RESTORE_RETRY_SECONDS)
            look.next = check.next_look(retry_at, tries=check.tries + 1)
            look.said = f"restore not decided ({undecided[check.look_id]}): looked at again at {when(retry_at)}"
        elif check.look_id in undecided:
            look.failures = [f"{check.instance_id}: restore not decided: {undecided[check.look_id]}"]
            look.said = "restore given up: " + undecided[check.look_id]
        else:
            look.said = "not restored: interrupted since, not running, being terminated, or put back already"
        looks.append(look)
    return looks
