"""Two ways in for an interruption warning: the notice queue (every notice, batched) and the lone-notice queue.

EventBridge delivers every notice to the notice queue, whose event source gathers a mass reclaim into few large
batches (template.yaml: Mappings.NoticeBatching.Notices), and a second copy of each interruption warning to the
lone-notice queue, whose event source waits about a second (LoneNotices). An invocation from the lone-notice queue
acts only when its batch holds a single interruption warning: a notice that came alone is out of service without
waiting for the notice queue's window. Anything more is a burst, and the invocation leaves every record of it to the
notice queue's copies, which arrive batched: during a mass reclaim the lone-notice path costs no API call at all.

What keeps the two copies one incident is the idempotency claim (aws/claims.py): the lone path claims the
interruption with its message, and when the notice queue's copy arrives the claim is held by another message, so it
is a duplicate (drained again, which is harmless; not alerted again). When the lone path fails, its claim is
released and the notice queue's copy alerts. The notice queue's copy is the durable one (its rule target has the
dead-letter queue and 20 retries), so leaving a record to it never loses a notice.

Only Spot and Capacity Reservation interruption warnings take the lone path: they are the ones with a two-minute
deadline, and they are one signal each. A terminate lifecycle action completes its action once per signal, so two
copies of it would do that twice; a rebalance recommendation is advice and can wait for a batch. (EC2's signals
share one rule, so a rebalance recommendation reaches the lone-notice queue too, and is left to the batches.)
"""

from __future__ import annotations

from typing import Any

from spot_handler.invocation import is_sqs_batch, read_record
from spot_handler.models import InterruptionNotice, MalformedNotice
from spot_handler.settings import Settings
from spot_handler.signals import capacity_reservation, spot_warning

LONE_KINDS = frozenset({spot_warning.KIND, capacity_reservation.KIND})


def left_to_notice_queue(event: Any, settings: Settings) -> str | None:
    """Why this invocation leaves its records to the notice queue's copies (then it does nothing and reports every
    record handled, so the lone-notice queue drops them), or None when it handles them itself."""
    if not settings.lone_notice_queue_url or not is_sqs_batch(event) or not event["Records"]:
        return None
    lone_queue = _queue_name(settings.lone_notice_queue_url)
    records = event["Records"]
    if not all(_queue_name(_source(r)) == lone_queue for r in records):
        return None  # the notice queue's (a mapping's batch comes from one queue only)
    if not settings.idempotency_table_name:
        return "no idempotency table: nothing would make the two copies one alert"
    if len(records) > 1:
        return f"{len(records)} notices within the lone-notice window: a burst, handled in the notice queue's batches"
    body = records[0].get("body", "") if isinstance(records[0], dict) else ""
    try:
        notice = read_record(body)
    except MalformedNotice:
        return "not a notice: the notice queue's copy is parked with its reason"
    if not isinstance(notice, InterruptionNotice) or notice.kind not in LONE_KINDS:
        return "not an interruption warning: handled in the notice queue's batches"
    if settings.why_not_accepted(notice.account):
        return "an account the hub does not serve: the notice queue's copy is parked with the reason"
    return None


def _source(record: Any) -> str:
    return record.get("eventSourceARN", "") if isinstance(record, dict) else ""


def _queue_name(url_or_arn: str) -> str:
    """The queue's name, from its URL (https://sqs.<region>.amazonaws.com/<account>/<name>) or ARN (...:<name>)."""
    return url_or_arn.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
