"""One batch of follow-up looks: look (in each account and region), claim what must happen once, then do it.

Order, and why:
1. Every look drains again what failed, reads what still drains, and decides (followups/looks.py). Completing a
   lifecycle action and recording a heartbeat happen there: harmless twice.
2. Looks that must schedule their chain's next look or send an alert are claimed in the idempotency table (one
   transaction per 100, idempotency/claims.py): a second copy of a look (SQS delivers at least once; a chain
   continued twice continues with the same next look) finds the claim taken and does nothing.
3. The next looks are sent, then the alerts (an alert is the one thing not harmless twice, so it goes last: a look
   whose scheduling failed is tried again whole, and has sent nothing yet).
4. A look whose work failed (SNS refused its alert, its next look was not sent, its account's group ran out of time)
   has its claim released and is sent again as itself a few seconds later, with the alert it decided; after
   RESEND_TRIES it is parked in the dead-letter queue with the reason. When even that send fails, its record is
   reported failed and made visible again in seconds (ChangeMessageVisibility), not after the visibility timeout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from aws_lambda_powertools import Logger

from spot_handler.aws import AwsClients
from spot_handler.aws.sns import OutgoingAlert
from spot_handler.budget import DidNotFinish, TimeBudget
from spot_handler.followups.check import DEADLINE, RESTORE, Check, follow_up_body, look_claim
from spot_handler.followups.drained import Drained
from spot_handler.followups.looks import DRAIN_UNFINISHED, Look, deadline_look, lifecycle_look, restore_looks
from spot_handler.followups.schedule import schedule
from spot_handler.followups.state import DrainState, read_states
from spot_handler.idempotency.claims import NoticeClaims
from spot_handler.idempotency.results import Claim

logger = Logger(child=True)

SENDING_RESERVE_SECONDS = 3.0  # of the tail, left to sending the next looks and the alerts after the claims
RESEND_TRIES = 8  # a look whose work failed is sent again this often (5 s, then doubling up to a minute)
RESEND_SECONDS = 5
RESEND_MAX_SECONDS = 60
MAX_PARALLEL_GROUPS = 8


class LookRecord(NamedTuple):
    """One follow-up record of the batch: its SQS message and the looks it carries."""

    message_id: str
    checks: list[Check]


@dataclass
class FollowUpReport:
    """What the follow-ups of one invocation did: the metrics, the log, the records to deliver again."""

    completed: list[Check] = field(default_factory=list)  # lifecycle actions completed
    heartbeats: int = 0
    rescheduled: list[Check] = field(default_factory=list)  # next looks sent
    finished_in_time: list[Check] = field(default_factory=list)
    unfinished: list[Check] = field(default_factory=list)  # drain-unfinished alerts sent
    alerts: list[tuple[Check, str]] = field(default_factory=list)  # every follow-up alert sent, with its outcome
    redrained: list[Check] = field(default_factory=list)  # looks that drained again what had failed
    duplicates: int = 0  # copies of a look already handled: nothing done
    resent: list[Check] = field(default_factory=list)  # looks whose work failed, sent again
    parked: list[str] = field(default_factory=list)  # looks given up on, parked in the DLQ with the reason
    failures: list[str] = field(default_factory=list)
    failed_records: list[str] = field(default_factory=list)  # message ids to deliver again (soon)


@dataclass
class FollowUpContext:
    """What the looks of a batch act with."""

    hub: AwsClients  # SQS (looks), SNS (alerts), DynamoDB (claims) are always the hub's
    clients_for: Callable[[str, str], AwsClients]  # the clients that act in an (account, region)
    group_of: Callable[[str, str], tuple[str, str]]  # the (account, region) group a look belongs to
    queue_url: str
    topic_arn: str
    idempotency_table: str
    window: int  # how late a look may reach the function after it is due (the batching window)
    clock: Callable[[], datetime]
    budget: TimeBudget
    drain_again: Callable[[list[Check], AwsClients], list[Drained]]  # flow.drain_again
    compose: Callable[[Look, str, datetime], OutgoingAlert]  # alert.compose_follow_up_alert
    publish: Callable[[list[OutgoingAlert]], dict[str, str]]
    park: Callable[[Any, str], bool]  # a body and its reason into the DLQ; False when that failed
    # flow.restore_after_rebalance: the due restore looks put back, ({look id: outcome}, {look id: why undecided})
    restore: Callable[[list[Check], AwsClients], tuple[dict[str, Any], dict[str, str]]] | None = None


def handle_follow_ups(records: list[LookRecord], context: FollowUpContext) -> FollowUpReport:
    report = FollowUpReport()
    checks: dict[str, Check] = {}
    carriers: dict[str, list[str]] = {}  # look id -> the messages of this batch that carry it
    for record in records:
        for check in record.checks:
            if check.look_id in checks and record.message_id in carriers[check.look_id]:
                continue
            report.duplicates += check.look_id in checks
            checks.setdefault(check.look_id, check)
            carriers.setdefault(check.look_id, []).append(record.message_id)
    report.redrained = [c for c in checks.values() if c.redrain]
    looks, failed = _look(list(checks.values()), context, report)
    for look in [look for look in looks if look.defect]:  # ends in the DLQ with its reason, never silently
        parked = context.park(follow_up_body([look.check]), look.defect)
        report.parked += [look.defect] if parked else []
        failed |= set() if parked else {look.check.look_id}
    looks = [look for look in looks if not look.defect]
    done = _act(looks, carriers, context, report)
    failed |= {look_id for look_id, ok in done.items() if not ok}
    failed_records = {m for look_id in failed for m in carriers[look_id]}
    report.failed_records = [r.message_id for r in records if r.message_id in failed_records]
    return report


def _look(checks: list[Check], context: FollowUpContext, report: FollowUpReport) -> tuple[list[Look], set[str]]:
    """Every look, per (account, region) in parallel within the budget; (looks, ids of the looks that failed)."""
    groups: dict[tuple[str, str], list[Check]] = {}
    for check in checks:
        groups.setdefault(context.group_of(check.account, check.region), []).append(check)
    pool = ThreadPoolExecutor(min(MAX_PARALLEL_GROUPS, len(groups)) or 1, thread_name_prefix="look")
    futures = [(group, pool.submit(_look_at_group, group, context)) for group in groups.values()]
    pool.shutdown(wait=False)  # the budget decides how long to wait for each
    looks: list[Look] = []
    failed: set[str] = set()
    for group, future in futures:
        try:
            looks += context.budget.wait(future, "follow-up looks")
        except Exception as exc:
            if not isinstance(exc, DidNotFinish):
                logger.exception("follow-up looks failed", extra={"instances": [c.instance_id for c in group][:20]})
            report.failures += [f"{c.instance_id}: look not finished ({type(exc).__name__}: {exc})" for c in group]
            failed |= {c.look_id for c in group}
    for look in looks:
        report.completed += [look.check] if look.completed else []
        report.heartbeats += look.heartbeats
        report.finished_in_time += [look.check] if look.finished_in_time else []
        report.failures += look.failures
        logger.info("follow-up look", extra={"instance_id": look.check.instance_id, "look": look.said})
    return looks, failed


def _look_at_group(checks: list[Check], context: FollowUpContext) -> list[Look]:
    clients = context.clients_for(checks[0].account, checks[0].region)
    now = context.clock()
    decided = [c for c in checks if c.alert_outcome]  # sent again with the alert it had decided
    restoring = [c for c in checks if not c.alert_outcome and c.kind == RESTORE]
    checks = [c for c in checks if not c.alert_outcome and c.kind != RESTORE]
    gone: set[str] = set()
    redraining = [c for c in checks if c.redrain]
    if redraining:
        drained = dict(zip([c.look_id for c in redraining], context.drain_again(redraining, clients)))
        checks = [_merged(c, drained[c.look_id], now) if c.look_id in drained else c for c in checks]
        gone = {look_id for look_id, d in drained.items() if d.gone}
    states = read_states(clients, checks, now)
    looks = [
        Look(c, DrainState(targets=c.targets), alert=c.alert_outcome, why=list(c.alert_why), said="alert sent again")
        for c in decided
    ]
    looks += restore_looks(restoring, lambda due: context.restore(due, clients), now) if restoring else []
    for check, state in zip(checks, states):
        try:
            if check.kind == DEADLINE:
                looks.append(deadline_look(check, state, now, context.window, gone=check.look_id in gone))
            else:
                autoscaling = clients.autoscaling
                looks.append(lifecycle_look(autoscaling, check, state, now, context.window, gone=check.look_id in gone))
        except Exception as exc:
            logger.exception("follow-up look failed", extra={"instance_id": check.instance_id})
            looks.append(Look(check, state, defect=f"look could not be made ({type(exc).__name__}: {exc})"[:600]))
    return looks


def _merged(check: Check, drained: Drained, now: datetime) -> Check:
    """The look after draining again: what drains now added to what drained before; what still fails."""
    return dataclasses.replace(
        check,
        targets={**check.targets, **drained.targets},
        delays={**check.delays, **drained.delays},
        classic={**check.classic, **drained.classic},
        ecs_cluster=drained.ecs_cluster or check.ecs_cluster,
        ecs_container_instance=drained.ecs_container_instance or check.ecs_container_instance,
        ecs_standalone_tasks=drained.ecs_standalone_tasks or check.ecs_standalone_tasks,
        redrain=list(drained.retry),
        # the first drain's time: a delay runs from when it began (a retry that finds it draining does not restart it)
        deregistered_at=check.deregistered_at if check.targets or check.classic else now,
    )


def _act(looks: list[Look], carriers: dict[str, list[str]], context: FollowUpContext, report: FollowUpReport):
    """Claim the looks that schedule or alert, then do that; {look id: done} for them (failed ones sent again)."""
    acting = [look for look in looks if look.next is not None or look.alert]
    if not acting:
        return {}
    claims = NoticeClaims.open(context.hub.dynamodb, context.idempotency_table)
    items = {look.check.look_id: look_claim(look.check, tuple(carriers[look.check.look_id])) for look in acting}
    # Waited for within the budget less what sending needs after it: a hanging table never eats the tail.
    claimed = claims.start(list(items.values())).wait(context.budget.leaving(SENDING_RESERVE_SECONDS))
    ok: dict[str, bool] = {}
    doing = []
    for look in acting:
        state = claimed.state(items[look.check.look_id])
        if state is Claim.DONE:
            report.duplicates += 1
        elif state is Claim.BUSY:  # another receive of this message is at it: it comes back when that one is over
            ok[look.check.look_id] = False
        else:
            # not known to be claimed (the table failed or did not answer): its alert says it may be repeated
            look.possibly_repeated = state is Claim.UNKNOWN
            doing.append(look)
    now = context.clock()
    unsent = _schedule(context, [look.next for look in doing if look.next], now)
    errors = {
        look.check.look_id: unsent[look.next.look_id] for look in doing if look.next and look.next.look_id in unsent
    }
    alerting = [look for look in doing if look.alert and look.check.look_id not in errors]
    alerts, composed = [], {}
    for i, look in enumerate(alerting):
        try:
            alerts.append(context.compose(look, str(i), now))
            composed[str(i)] = look
        except Exception as exc:
            logger.exception("follow-up alert not composed", extra={"instance_id": look.check.instance_id})
            errors[look.check.look_id] = f"alert not composed ({type(exc).__name__})"
    unsent = _publish(context, alerts)
    for entry, error in unsent.items():
        errors[composed[entry].check.look_id] = f"alert not published: {error}"
    succeeded, failed = [], []
    for look in doing:
        error = errors.get(look.check.look_id)
        (failed if error else succeeded).append(look)
        if error:
            report.failures.append(f"{look.check.instance_id}: {error}")
            continue
        report.rescheduled += [look.next] if look.next else []
        if look.alert:
            report.alerts.append((look.check, look.alert))
            report.unfinished += [look.check] if look.alert == DRAIN_UNFINISHED else []
    claims.settle(
        claimed,
        [items[look.check.look_id] for look in succeeded],
        [items[look.check.look_id] for look in failed],
        until=context.budget.started + context.budget.work_seconds,
    )
    ok |= {look.check.look_id: True for look in succeeded}
    ok |= _send_again(failed, errors, context, report)
    return ok


def _schedule(context: FollowUpContext, checks: list[Check], now: datetime) -> dict[str, str]:
    """schedule() within the budget: {look id: error} of the looks not sent."""
    if not checks:
        return {}
    try:
        return context.budget.run("follow-up scheduling", schedule, context.hub.sqs, context.queue_url, checks, now)
    except DidNotFinish as exc:
        return {check.look_id: str(exc) for check in checks}


def _publish(context: FollowUpContext, alerts: list[OutgoingAlert]) -> dict[str, str]:
    """The alerts published within the budget: {entry id: error} of those not sent (or not known to be)."""
    if not alerts:
        return {}
    try:
        return context.budget.run("follow-up alerts", context.publish, alerts)
    except DidNotFinish as exc:
        return {alert.entry_id: str(exc) for alert in alerts}


def _send_again(failed: list[Look], errors: dict[str, str], context: FollowUpContext, report: FollowUpReport):
    """Send each failed look again as itself (the alert it decided with it), or park it once it has been tried
    RESEND_TRIES times; {look id: whether that worked}."""
    now = context.clock()
    again, ok = [], {}
    for look in failed:
        check, error = look.check, errors[look.check.look_id]
        if check.attempt + 1 >= RESEND_TRIES:
            reason = f"follow-up gave up after {check.attempt + 1} tries: {error}"[:900]
            parked = context.park(follow_up_body([check]), reason)
            ok[check.look_id] = parked
            report.parked += [reason] if parked else []
            logger.error("follow-up parked", extra={"instance_id": check.instance_id, "reason": reason})
            continue
        delay = min(RESEND_MAX_SECONDS, RESEND_SECONDS * 2**check.attempt)
        resend = dataclasses.replace(check, attempt=check.attempt + 1, due=now + timedelta(seconds=delay))
        if look.alert:
            resend = dataclasses.replace(
                resend, alert_outcome=look.alert, alert_why=look.why, targets=look.state.targets or check.targets
            )
        again.append(resend)
    unsent = _schedule(context, again, now)
    for check in again:
        ok[check.look_id] = check.look_id not in unsent
        report.resent += [check] if check.look_id not in unsent else []
    return ok
