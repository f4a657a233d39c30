"""The Lambda invocation's shape: an SQS batch of notices, or one bare EventBridge event.

Malformed records go to the dead-letter queue with their reason at once (no retries: they would fail again), and
the batch response names only the records whose alert did not go out, so SQS delivers just those again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from spot_handler.aws import AwsClients
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.aws.notify import park_in_dead_letter_queue
from spot_handler.budget import TimeBudget
from spot_handler.drain import utcnow
from spot_handler.flow import NoticeResult, handle_notices
from spot_handler.models import InterruptionNotice, MalformedNotice, parse_notice
from spot_handler.settings import Settings

logger = Logger(child=True)


class AlertNotPublished(RuntimeError):
    """A bare invocation whose alert could not be published: raised so the caller retries."""


@dataclass
class InvocationReport:
    results: list[NoticeResult] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # reasons of the malformed records
    batch_item_failures: list[str] = field(default_factory=list)  # SQS message ids to deliver again
    duplicates: int = 0  # notices of an interruption already alerted (or twice in this batch): nothing done


def is_sqs_batch(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get("Records"), list)


def handle_invocation(
    event: Any,
    clients: AwsClients,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    budget: TimeBudget | None = None,
) -> InvocationReport:
    budget = budget or TimeBudget.start()
    if is_sqs_batch(event):
        return _handle_sqs_batch(event["Records"], clients, settings, clock, budget)
    return _handle_bare_event(event, clients, settings, clock, budget)


def _handle_sqs_batch(records: list, clients: AwsClients, settings: Settings, clock, budget) -> InvocationReport:
    report = InvocationReport()
    accepted: list[tuple[str, InterruptionNotice]] = []
    rejected: list[tuple[str, Any, str]] = []  # (message id, body, reason)
    for record in records:
        message_id = record.get("messageId") if isinstance(record, dict) else None
        message_id = message_id if isinstance(message_id, str) else ""
        body = record.get("body", "") if isinstance(record, dict) else record
        try:
            accepted.append((message_id, read_notice(body)))
        except MalformedNotice as exc:
            rejected.append((message_id, body, exc.reason))

    unique: dict[str, InterruptionNotice] = {}
    for _, notice in accepted:
        # One interruption, one notice: EventBridge may deliver an event twice, EC2 may send it again with a new id.
        unique.setdefault(notice.interruption_key, notice)
    report.duplicates = len(accepted) - len(unique)
    report.results = handle_notices(list(unique.values()), clients, settings, clock, budget) if unique else []
    report.duplicates += sum(1 for r in report.results if r.duplicate)
    failed_keys = {r.notice.interruption_key for r in report.results if not r.handled}
    report.batch_item_failures += [mid for mid, notice in accepted if notice.interruption_key in failed_keys]

    # Malformed records are parked after the valid ones are handled, so a slow DLQ never delays a drain or an alert.
    for message_id, body, reason in rejected:
        report.rejected.append(reason)
        if not _park(clients, settings, body, reason, origin=f"sqs:{message_id}"):
            report.batch_item_failures.append(message_id)  # the queue's redrive policy ends it in the DLQ
    return report


def read_notice(body: Any) -> InterruptionNotice:
    """parse_notice, with any failure at all a MalformedNotice: one record must never fail its batch.

    parse_notice names every problem it knows of; the broad except is the net under it for whatever it does not.
    """
    try:
        return parse_notice(body)
    except MalformedNotice:
        raise
    except Exception as exc:  # noqa: BLE001 - parked with the reason instead of failing every record of the batch
        raise MalformedNotice(f"body: could not be read as a notice ({type(exc).__name__})") from None


def _handle_bare_event(event: Any, clients: AwsClients, settings: Settings, clock, budget) -> InvocationReport:
    try:
        notice = read_notice(event)
    except MalformedNotice as exc:
        _park(clients, settings, event, exc.reason, origin="direct-invocation")
        raise
    report = InvocationReport(results=handle_notices([notice], clients, settings, clock, budget))
    report.duplicates = sum(1 for r in report.results if r.duplicate)
    failed = [r for r in report.results if not r.handled]
    if failed:
        raise AlertNotPublished(
            f"alert for {notice.instance_id} (notice {notice.notice_id}) not published: {failed[0].alert_error}"
        )
    return report


def _park(clients: AwsClients, settings: Settings, body: Any, reason: str, origin: str) -> bool:
    """Put a malformed record in the DLQ with its reason. False when that failed (the record must stay in SQS)."""
    logger.warning("malformed notice rejected", extra={"reason": reason, "origin": origin})
    if not settings.dead_letter_queue_url:
        return False
    try:
        park_in_dead_letter_queue(clients.sqs, settings.dead_letter_queue_url, body, reason, origin)
        return True
    except AWS_ERRORS as exc:
        logger.error("could not park malformed notice", extra={"reason": reason, "error": describe_error(exc)})
        return False
