"""The Lambda invocation's shape: an SQS batch of notices, or one bare EventBridge event.

Malformed records go to the dead-letter queue with their reason at once (no retries: they would fail again), and
the batch response names only the records whose alert did not go out, so SQS delivers just those again.

Hub and spoke: a batch holds notices of several accounts and regions. They are handled in groups, one per
(account, region), each with the clients that act there (aws/clients.AccountClients: the member role in a member
account), in parallel, so one account's slow or refusing role never holds up another's drains. Alerts, parking,
claims and follow-up scheduling always use the hub's own SNS, SQS and DynamoDB. A notice of an account the hub does
not serve (settings.why_not_accepted) is parked in the dead-letter queue with the reason.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from spot_handler.alert import compose_drain_unfinished
from spot_handler.alerting.events import AlertEvents, EventFailure
from spot_handler.aws import AccountClients, AwsClients
from spot_handler.aws.claims import BatchClaims
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.aws.notify import BatchPublisher, park_in_dead_letter_queue, publish_alerts
from spot_handler.budget import DidNotFinish, TimeBudget
from spot_handler.drain import utcnow
from spot_handler.flow import NoticeResult, handle_notices
from spot_handler.followups import Check, FollowUpReport, handle_follow_ups, is_follow_up, parse_follow_up
from spot_handler.models import InterruptionNotice, MalformedNotice, from_json, parse_notice
from spot_handler.settings import Settings

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


def is_sqs_batch(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get("Records"), list)


MAX_PARALLEL_TARGETS = 8  # (account, region) groups of one batch handled at once
# Follow-ups and parking are waited for until then (from the handler's start; budget.run: a call still running then
# carries on in the background, its records delivered again): the handler answers well inside its 60 s Timeout.
TAIL_SECONDS = 25.0


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
    targets = _Targets(clients, settings, accounts)
    try:
        if is_sqs_batch(event):
            report = _handle_sqs_batch(event["Records"], targets, settings, clock, budget)
        else:
            report = _handle_bare_event(event, targets, settings, clock, budget)
    finally:  # the alerts' events end with the tail, whatever happened: a frozen environment puts nothing
        event_failures = targets.events.finish(budget.started + TAIL_SECONDS)
    report.event_failures = event_failures
    return report


class _Targets:
    """Which clients act on a notice: the hub's own in single-account mode, else those of its (account, region)."""

    def __init__(self, hub: AwsClients, settings: Settings, accounts: AccountClients | None):
        self.hub, self._accounts = hub, accounts if settings.organization_mode else None
        # Every alert of the invocation is put on the hub's event bus too, once SNS has it (alerting/events.py).
        self.events = AlertEvents(hub.events, settings.alert_event_bus_name)

    def clients_for(self, account: str, region: str) -> AwsClients:
        return self.hub if self._accounts is None else self._accounts.for_target(account, region)

    def key(self, account: str, region: str) -> tuple[str, str]:
        return ("", "") if self._accounts is None else (account, region)


def handle_by_target(
    notices: list[InterruptionNotice], targets: _Targets, settings: Settings, clock, budget
) -> list[NoticeResult]:
    """handle_notices once per (account, region) of the batch, in parallel; the results in the notices' order.

    Grouping keeps calls per target group (one DeregisterTargets serves every instance of a group), and each group
    has one budget bounded by its own deadlines, as a batch of its own would. What is the hub's is done once for the
    batch, not per group: its interruptions are claimed in one DynamoDB transaction per 100 (aws/claims.BatchClaims;
    per-group claims and completions made 120 transactions for 1,000 notices over 5 accounts in `make bench-org`,
    where the batch's claims make 12), and the groups' alerts go out in one stream of PublishBatch requests, whose
    last partial request each group shares with the others (aws/notify.BatchPublisher: 113 requests there, 103 so).

    A group that raises fails only its own notices (they are delivered again, and their messages take their claims
    over): the other groups' alerts are out, and failing their records would have them alerted again.
    """
    groups: dict[tuple[str, str], list[InterruptionNotice]] = {}
    group_of: dict[str, tuple[str, str]] = {}  # interruption -> its group: the (account, region) its first notice names
    for notice in notices:
        # Every signal of one interruption goes to one group, even one naming another region: two groups would each
        # be told they own its claim, and each alert.
        key = group_of.setdefault(notice.interruption_key, targets.key(notice.account, notice.region))
        groups.setdefault(key, []).append(notice)

    def run(group: list[InterruptionNotice], batch_claims=None, publish=None) -> list[NoticeResult]:
        clients = targets.clients_for(group[0].account, group[0].region)
        return handle_notices(group, clients, settings, clock, budget, batch_claims, publish)

    if len(groups) == 1:
        publish = targets.events.after(functools.partial(publish_alerts, targets.hub.sns, settings.alert_topic_arn))
        return _guarded(notices, lambda: run(notices, publish=publish))
    # Claimed before any member role is assumed: the claims are the hub's, and run while the groups drain.
    claims = BatchClaims.start(targets.hub.dynamodb, settings.idempotency_table_name, notices)
    publisher = BatchPublisher(targets.hub.sns, settings.alert_topic_arn, groups=len(groups))

    def handle(numbered: tuple[int, list[InterruptionNotice]]) -> list[NoticeResult]:
        number, group = numbered
        publish = targets.events.after(functools.partial(publisher.publish, number))
        try:
            return _guarded(group, lambda: run(group, claims, publish))
        finally:
            publisher.leave(number)  # a group that failed before alerting must not hold the others' alerts back

    try:
        with ThreadPoolExecutor(min(len(groups), MAX_PARALLEL_TARGETS), thread_name_prefix="target") as pool:
            done = [result for results in pool.map(handle, enumerate(groups.values())) for result in results]
    finally:  # the groups that reported are settled even if another raised
        claims.settle()
    order = {id(notice): i for i, notice in enumerate(notices)}
    return sorted(done, key=lambda r: order[id(r.notice)])


def _guarded(notices: list[InterruptionNotice], handle: Callable[[], list[NoticeResult]]) -> list[NoticeResult]:
    """handle(), or, when it raises, every notice failed with the error named (delivered again): never an error of
    the whole invocation, which would deliver again notices already alerted."""
    try:
        return handle()
    except Exception as exc:  # logged with its traceback; the notices are delivered again
        logger.exception("handling failed", extra={"instances": sorted({n.instance_id for n in notices})[:20]})
        reason = f"handler error ({type(exc).__name__}); delivered again"
        return [NoticeResult(notice=notice, alert_error=reason) for notice in notices]


def _handle_sqs_batch(records: list, targets: _Targets, settings: Settings, clock, budget) -> InvocationReport:
    clients = targets.hub
    report = InvocationReport()
    accepted: list[tuple[str, InterruptionNotice]] = []
    follow_ups: list[tuple[str, list[Check]]] = []
    rejected: list[tuple[str, Any, str, bool]] = []  # (message id, body, reason, malformed: False for foreign)
    for record in records:
        message_id = record.get("messageId") if isinstance(record, dict) else None
        message_id = message_id if isinstance(message_id, str) else ""
        body = record.get("body", "") if isinstance(record, dict) else record
        try:
            read = read_record(body)
        except MalformedNotice as exc:
            rejected.append((message_id, body, exc.reason, True))
            continue
        if isinstance(read, InterruptionNotice):
            foreign = settings.why_not_accepted(read.account)
            if foreign:
                rejected.append((message_id, body, foreign, False))
                report.foreign.append(foreign)
                continue
            accepted.append((message_id, read))
        else:
            follow_ups.append((message_id, read))

    unique: dict[str, InterruptionNotice] = {}
    messages: dict[str, list[str]] = {}  # signal -> every message of the batch that carries it
    for message_id, notice in accepted:
        # One signal, one notice: EventBridge may deliver an event twice, EC2 may send it again with a new id.
        unique.setdefault(notice.signal_key, notice)
        messages.setdefault(notice.signal_key, []).append(message_id)
    unique = {key: notice._replace(deliveries=tuple(messages[key])) for key, notice in unique.items()}
    report.duplicates = len(accepted) - len(unique)
    report.results = handle_by_target(list(unique.values()), targets, settings, clock, budget) if unique else []
    report.duplicates += sum(1 for r in report.results if r.duplicate)
    failed_keys = {r.notice.signal_key for r in report.results if not r.handled}
    report.batch_item_failures += [mid for mid, notice in accepted if notice.signal_key in failed_keys]
    # What comes after the alerts ends by TAIL_SECONDS from the handler's start: an invocation that ran out of time
    # would have its whole batch delivered again, and the notices' messages would take their claims over and alert
    # again (aws/claims.py). What did not finish is delivered again on its own.
    tail = TimeBudget(started=budget.started, work_seconds=TAIL_SECONDS)
    if follow_ups:  # after the notices: looking again at old drains never delays a new one
        try:
            report.follow_ups, failed = tail.run("follow-ups", _follow_up, follow_ups, targets, settings, clock)
        except DidNotFinish as exc:
            logger.error("follow-ups delivered again", extra={"reason": str(exc), "records": len(follow_ups)})
            failed = [message_id for message_id, _ in follow_ups]
        report.batch_item_failures += failed

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


def read_record(body: Any) -> InterruptionNotice | list[Check]:
    """A notice, or the checks of one of the handler's own follow-ups; any failure at all is a MalformedNotice: one
    record must never fail its batch.

    The parsers name every problem they know of; the broad except is the net under them for whatever they do not.
    """
    try:
        body = from_json(body)
        return parse_follow_up(body) if is_follow_up(body) else parse_notice(body)
    except MalformedNotice:
        raise
    except Exception as exc:  # noqa: BLE001 - parked with the reason instead of failing every record of the batch
        raise MalformedNotice(f"body: could not be read as a notice ({type(exc).__name__})") from None


def _follow_up(
    records: list[tuple[str, list[Check]]], targets: _Targets, settings: Settings, clock
) -> tuple[FollowUpReport, list[str]]:
    """Handle the follow-ups of the batch together (one DescribeTargetHealth per target group for all of them), in
    the account and region each check names, and publish a second alert for each interruption still draining at its
    deadline. The records whose alert did not go out are delivered again."""
    clients = targets.hub
    checks = [check for _, record_checks in records for check in record_checks]
    by_target: dict[tuple[str, str], list[Check]] = {}
    for check in checks:
        by_target.setdefault(targets.key(check.account, check.region), []).append(check)
    follow_ups = FollowUpReport()
    for target_checks in by_target.values():
        member = targets.clients_for(target_checks[0].account, target_checks[0].region)
        done = handle_follow_ups(
            target_checks, member, settings.notice_queue_url, clock, settings.notice_batching_window
        )
        for name in ("completed", "rescheduled", "finished_in_time", "unfinished", "failures"):
            getattr(follow_ups, name).extend(getattr(done, name))
        follow_ups.heartbeats += done.heartbeats
    looked_at = clock()
    alerts = [
        compose_drain_unfinished(check, left, str(i), looked_at)
        for i, (check, left) in enumerate(follow_ups.unfinished)
    ]
    failed = targets.events.after(functools.partial(publish_alerts, clients.sns, settings.alert_topic_arn))(alerts)
    unsent = {id(follow_ups.unfinished[int(entry)][0]) for entry in failed}
    for check, _ in follow_ups.unfinished:
        logger.warning("drain unfinished at the deadline", extra={"instance_id": check.instance_id})
    for check in follow_ups.finished_in_time:
        logger.info("drain finished before the deadline", extra={"instance_id": check.instance_id})
    for failure in follow_ups.failures:
        logger.error("follow-up failed", extra={"failure": failure})
    return follow_ups, [mid for mid, record_checks in records if any(id(c) in unsent for c in record_checks)]


def _handle_bare_event(event: Any, targets: _Targets, settings: Settings, clock, budget) -> InvocationReport:
    clients = targets.hub
    try:
        notice = read_record(event)
    except MalformedNotice as exc:
        _park(clients, settings, event, exc.reason, origin="direct-invocation")
        raise
    if not isinstance(notice, InterruptionNotice):  # a follow-up, invoked directly (sam local invoke)
        follow_ups, failed = _follow_up([("direct-invocation", notice)], targets, settings, clock)
        if failed:
            raise AlertNotPublished("drain-unfinished alert not published")
        return InvocationReport(follow_ups=follow_ups)
    foreign = settings.why_not_accepted(notice.account)
    if foreign:  # parked, not raised: delivering it again would not make the account a member
        _park(clients, settings, event, foreign, origin="direct-invocation")
        return InvocationReport(foreign=[foreign])
    report = InvocationReport(results=handle_by_target([notice], targets, settings, clock, budget))
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
