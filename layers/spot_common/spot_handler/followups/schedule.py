"""Sending looks: delayed messages on the handler's own notice queue (SQS DelaySeconds, at most 900 s)."""

from __future__ import annotations

from datetime import datetime

from spot_handler.aws.queue import MAX_DELAY_SECONDS, Delayed, fits, send_delayed
from spot_handler.followups.check import Check, follow_up_body

SHARED_DELAY_SECONDS = 5  # looks due within this of each other travel in one message


def schedule(sqs, queue_url: str, checks: list[Check], now: datetime) -> dict[str, str]:
    """Send the looks as delayed messages (looks due close together share one); {look id: error} of those not sent."""
    if not checks:
        return {}
    if not queue_url:
        return {c.look_id: "follow-up not scheduled: the function has no NOTICE_QUEUE_URL" for c in checks}
    by_delay: dict[int, list[Check]] = {}
    for check in sorted(checks, key=lambda c: c.due):
        delay = int(max(0, min(MAX_DELAY_SECONDS, (check.due - now).total_seconds())))
        by_delay.setdefault(delay - delay % SHARED_DELAY_SECONDS, []).append(check)
    messages: list[tuple[Delayed, list[Check]]] = []
    for delay, group in by_delay.items():
        chunk: list[Check] = []
        for check in group:
            if chunk and not fits(follow_up_body([*chunk, check])):
                messages.append((Delayed(follow_up_body(chunk), delay), chunk))
                chunk = []
            chunk.append(check)
        messages.append((Delayed(follow_up_body(chunk), delay), chunk))
    failed = send_delayed(sqs, queue_url, [message for message, _ in messages])
    return {
        check.look_id: f"follow-up not scheduled: {error}"
        for index, error in failed.items()
        for check in messages[index][1]
    }
