"""The Lambda invocation's shape: an SQS batch of notices, or one bare EventBridge event.

Malformed records go to the dead-letter queue with their reason at once (no retries: they would fail again), and
the batch response names only the records whose alert did not go out, so SQS delivers just those again.

Records are read into notices (signals/) and the handler's own follow-up looks (followups/); notices are handled in
one group per (account, region) (account_regions.py), looks after them (followups/batch.py). A notice of an account
the hub does not serve (settings.why_not_accepted) is parked in the dead-letter queue with the reason.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from aws_lambda_powertools import Logger

from spot_handler.account_regions import AccountRegions, handle_by_account_region
from spot_handler.alerting.events import EventFailure
from spot_handler.alerting.first_alert import compose_alert
from spot_handler.alerting.follow_up_alert import compose_follow_up_alert
from spot_handler.aws import AccountClients, AwsClients
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.aws.queue import come_back_in, park_in_dead_letter_queue
from spot_handler.aws.sns import publish_alerts
from spot_handler.budget import TAIL_SECONDS as TAIL
from spot_handler.budget import DidNotFinish, TimeBudget
from spot_handler.drain import utcnow
from spot_handler.flow import NoticeResult, drain_again, handle_missed, restore_after_rebalance
from spot_handler.followups import (
    Check,
    FollowUpContext,
    FollowUpReport,
    LookRecord,
    handle_follow_ups,
    is_follow_up,
    parse_checks,
)
from spot_handler.models import InterruptionNotice, MalformedNotice
from spot_handler.settings import Settings
from spot_handler.signals import from_json, parse_event
from spot_handler.signals.sweep import is_sweep
from spot_handler.sweep.run import SweepReport, sweep

logger = Logger(child=True)


class AlertNotPublished(RuntimeError):
    """A bare invocation whose alert could not be published: raised so the caller retries."""


@dataclass
class InvocationReport:
    results: list[NoticeResult] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # reasons of the malformed records
    foreign: list[str] = field(default_factory=list)  # reasons of the notices of accounts the hub does not serve
    batch_item_failures: list[str] = field(default_factory=list)  # SQS message ids to deliver again
    duplicates: int = 0  # notices of an interruption already alerted (or twice in this batch): nothing done
    follow_ups: FollowUpReport | None = None  # what the follow-up records of the batch did
    event_failures: list[EventFailure] = field(default_factory=list)  # alerts out whose event was not put on the bus
    sweep: SweepReport | None = None  # what a reconciliation sweep found (a scheduled invocation)


def is_sqs_batch(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get("Records"), list)


# Follow-ups and parking are waited for until budget.TAIL_SECONDS (from the handler's start). What has not finished by
# then is not done: Lambda freezes the environment once the handler returns. Such follow-up records are made visible
# again in seconds (COME_BACK_SECONDS), not after the visibility timeout.
TAIL_SECONDS = TAIL
COME_BACK_SECONDS = 5  # a follow-up record that failed comes back this much later, doubling with each receive
COME_BACK_MAX_SECONDS = 60


def handle_invocation(
    event: Any,
    clients: AwsClients,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    budget: TimeBudget | None = None,
    accounts: AccountClients | None = None,
) -> InvocationReport:
    """Handle one invocation. `clients` are the hub's own; `accounts` gives the clients of member accounts and other
    regions (built from `clients` and the default session when not given, and only when settings name members)."""
    budget = budget or TimeBudget.start()
    if settings.organization_mode and accounts is None:
        accounts = AccountClients(clients, settings.hub_account_id, settings.member_role_name, settings.partition)
    where = AccountRegions(clients, settings, accounts)
    try:
        if is_sqs_batch(event):
            report = _handle_sqs_batch(event["Records"], where, settings, clock, budget)
        else:
            report = _handle_bare_event(event, where, settings, clock, budget)
    finally:  # the alerts' events end with the tail, whatever happened: a frozen environment puts nothing
        event_failures = where.events.finish(budget.started + TAIL_SECONDS)
    report.event_failures = event_failures
    return report


class Record(NamedTuple):
    """One SQS record of the batch, as far as the handler needs it."""

    message_id: str
    body: Any
    receipt_handle: str
    receive_count: int


def _records(raw: list) -> list[Record]:
    records = []
    for record in raw:
        record = record if isinstance(record, dict) else {"body": record}
        message_id = record.get("messageId")
        receipt = record.get("receiptHandle")
        attributes = record.get("attributes") if isinstance(record.get("attributes"), dict) else {}
        try:
            count = max(1, int(attributes.get("ApproximateReceiveCount", 1)))
        except (TypeError, ValueError):
            count = 1
        records.append(
            Record(
                message_id if isinstance(message_id, str) else "",
                record.get("body", ""),
                receipt if isinstance(receipt, str) else "",
                count,
            )
        )
    return records


def _handle_sqs_batch(raw: list, where: AccountRegions, settings: Settings, clock, budget) -> InvocationReport:
    clients = where.hub
    report = InvocationReport()
    accepted: list[tuple[str, InterruptionNotice]] = []
    follow_ups: list[tuple[Record, list[Check]]] = []
    rejected: list[tuple[str, Any, str, bool]] = []  # (message id, body, reason, malformed: False for foreign)
    for record in _records(raw):
        try:
            read = read_record(record.body)
        except MalformedNotice as exc:
            rejected.append((record.message_id, record.body, exc.reason, True))
            continue
        if isinstance(read, InterruptionNotice):
            foreign = settings.why_not_accepted(read.account)
            if foreign:
                rejected.append((record.message_id, record.body, foreign, False))
                report.foreign.append(foreign)
                continue
            accepted.append((record.message_id, read))
        else:
            follow_ups.append((record, read))

    # What comes after the alerts ends by TAIL_SECONDS from the handler's start: an invocation that ran out of time
    # would have its whole batch delivered again, and the notices' messages would take their claims over and alert
    # again (idempotency/claims.py).
    tail = TimeBudget(started=budget.started, work_seconds=TAIL_SECONDS)
    # Looks run beside the notices, not behind them: a look due before a heartbeat timeout must not wait for a slow
    # batch of notices (it has the tail); a new drain never waits for a look either (each has its own threads).
    looking = None
    if follow_ups:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="looks")
        looking = pool.submit(_follow_up, follow_ups, where, settings, clock, tail)
        pool.shutdown(wait=False)

    unique: dict[str, InterruptionNotice] = {}
    messages: dict[str, list[str]] = {}  # signal -> every message of the batch that carries it
    for message_id, notice in accepted:
        # One signal, one notice: EventBridge may deliver an event twice, EC2 may send it again with a new id.
        unique.setdefault(notice.signal_key, notice)
        messages.setdefault(notice.signal_key, []).append(message_id)
    unique = {key: notice._replace(deliveries=tuple(messages[key])) for key, notice in unique.items()}
    report.duplicates = len(accepted) - len(unique)
    report.results = handle_by_account_region(list(unique.values()), where, settings, clock, budget) if unique else []
    report.duplicates += sum(1 for r in report.results if r.duplicate)
    failed_keys = {r.notice.signal_key for r in report.results if not r.handled}
    report.batch_item_failures += [mid for mid, notice in accepted if notice.signal_key in failed_keys]
    if looking is not None:
        try:
            report.follow_ups = tail.wait(looking, "follow-ups")
            failed = set(report.follow_ups.failed_records)
        except Exception as exc:
            if not isinstance(exc, DidNotFinish):
                logger.exception("follow-ups failed")
            logger.error("follow-ups delivered again", extra={"reason": str(exc), "records": len(follow_ups)})
            failed = {record.message_id for record, _ in follow_ups}
        again = [record for record, _ in follow_ups if record.message_id in failed]
        report.batch_item_failures += [record.message_id for record in again]
        _come_back_soon(clients, settings, again)

    # Malformed records are parked after the valid ones are handled, so a slow DLQ never delays a drain or an alert.
    for message_id, body, reason, malformed in rejected:
        if malformed:
            report.rejected.append(reason)
        try:
            parked = tail.run("parking", _park, clients, settings, body, reason, origin=f"sqs:{message_id}")
        except DidNotFinish:
            parked = False
        if not parked:
            report.batch_item_failures.append(message_id)  # the queue's redrive policy ends it in the DLQ
    return report


def _come_back_soon(clients: AwsClients, settings: Settings, records: list[Record]) -> None:
    """Follow-up records to deliver again come back in seconds (their look is due before a deadline or a heartbeat
    timeout), not after the queue's visibility timeout; later each time they come back."""
    receipts = {
        r.receipt_handle: min(COME_BACK_MAX_SECONDS, COME_BACK_SECONDS * 2 ** (r.receive_count - 1))
        for r in records
        if r.receipt_handle
    }
    if not receipts or not settings.notice_queue_url:
        return
    failed = come_back_in(clients.sqs, settings.notice_queue_url, receipts)
    if failed:
        logger.error(
            "follow-ups come back after the visibility timeout", extra={"errors": sorted(set(failed.values()))}
        )


def read_record(body: Any) -> InterruptionNotice | list[Check]:
    """A notice, or the looks of one of the handler's own follow-ups; any failure at all is a MalformedNotice: one
    record must never fail its batch. The body is decoded once: a JSON string holding a notice is not a notice.

    The parsers name every problem they know of; the broad except is the net under them for whatever they do not.
    """
    try:
        value = from_json(body)
        return parse_checks(value) if is_follow_up(value) else parse_event(value)
    except MalformedNotice:
        raise
    except Exception as exc:  # noqa: BLE001 - parked with the reason instead of failing every record of the batch
        raise MalformedNotice(f"body: could not be read as a notice ({type(exc).__name__})") from None


def _follow_up(
    records: list[tuple[Record, list[Check]]], where: AccountRegions, settings: Settings, clock, budget: TimeBudget
) -> FollowUpReport:
    """The looks of the batch together (followups/batch.py): one read per target group for all of them, in the
    account and region each names; their second alerts; their next looks."""
    hub = where.hub
    context = FollowUpContext(
        hub=hub,
        clients_for=lambda account, region: where.clients_for(account, region, budget),
        group_of=where.key,
        queue_url=settings.notice_queue_url,
        topic_arn=settings.alert_topic_arn,
        idempotency_table=settings.idempotency_table_name,
        window=settings.notice_batching_window,
        clock=clock,
        budget=budget,
        drain_again=lambda checks, clients: drain_again(checks, clients, settings, clock, budget),
        compose=_compose_look_alert,
        publish=where.events.after(functools.partial(publish_alerts, hub.sns, settings.alert_topic_arn)),
        park=lambda body, reason: _park(hub, settings, body, reason, origin="follow-up"),
        restore=lambda checks, clients: restore_after_rebalance(checks, clients, settings, clock, budget),
    )
    report = handle_follow_ups([LookRecord(r.message_id, checks) for r, checks in records], context)
    for check, outcome in report.alerts:
        logger.warning("follow-up alert", extra={"instance_id": check.instance_id, "outcome": outcome})
    for failure in report.failures:
        logger.error("follow-up failed", extra={"failure": failure})
    return report


def _compose_look_alert(look, entry_id: str, now):
    """A look's alert: a restore's is the `restored` alert a `running` notice sends too; the others are later alerts
    of their incident."""
    if look.restored is not None:
        look.restored.possibly_repeated = look.possibly_repeated
        return compose_alert(look.restored, entry_id=entry_id)
    return compose_follow_up_alert(look, entry_id, now)


def _handle_bare_event(event: Any, where: AccountRegions, settings: Settings, clock, budget) -> InvocationReport:
    clients = where.hub
    if is_sweep(event):
        swept = _sweep(where, settings, clock, budget)
        return InvocationReport(results=swept.missed, sweep=swept)
    try:
        notice = read_record(event)
    except MalformedNotice as exc:
        _park(clients, settings, event, exc.reason, origin="direct-invocation")
        raise
    if not isinstance(notice, InterruptionNotice):  # a follow-up, invoked directly (sam local invoke)
        record = Record("direct-invocation", event, "", 1)
        tail = TimeBudget(started=budget.started, work_seconds=TAIL_SECONDS)
        follow_ups = _follow_up([(record, notice)], where, settings, clock, tail)
        if follow_ups.failed_records:
            raise AlertNotPublished("follow-up not done: " + "; ".join(follow_ups.failures)[:500])
        return InvocationReport(follow_ups=follow_ups)
    foreign = settings.why_not_accepted(notice.account)
    if foreign:  # parked, not raised: delivering it again would not make the account a member
        _park(clients, settings, event, foreign, origin="direct-invocation")
        return InvocationReport(foreign=[foreign])
    report = InvocationReport(results=handle_by_account_region([notice], where, settings, clock, budget))
    report.duplicates = sum(1 for r in report.results if r.duplicate)
    failed = [r for r in report.results if not r.handled]
    if failed:
        raise AlertNotPublished(
            f"alert for {notice.instance_id} (notice {notice.notice_id}) not published: {failed[0].alert_error}"
        )
    return report


def _sweep(where: AccountRegions, settings: Settings, clock, budget: TimeBudget) -> SweepReport:
    """A reconciliation sweep (sweep/) of the hub's own account and every listed member, in the stack's region."""
    hub = where.hub
    accounts = [settings.hub_account_id or "unknown", *sorted(settings.member_accounts - {settings.hub_account_id})]
    publish = where.events.after(functools.partial(publish_alerts, hub.sns, settings.alert_topic_arn))
    report = sweep(
        accounts,
        hub.ec2.meta.region_name,
        hub,
        where.clients_for,
        settings,
        clock,
        budget,
        lambda notices, instances, clients, own: handle_missed(
            notices, instances, clients, settings, clock, own, publish
        ),
    )
    for failure in report.failures:
        logger.error("sweep failed", extra={"failure": failure})
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
