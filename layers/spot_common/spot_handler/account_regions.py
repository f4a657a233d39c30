"""Account-regions: which clients act on a notice, and a batch handled in one group per (account, region).

Hub and spoke: a batch holds notices of several accounts and regions. They are handled in groups, one per
(account, region), each with the clients that act there (aws/clients.AccountClients: the member role in a member
account, assumed within the group's own budget), in parallel, so one account's slow or refusing role never holds up
another's drains. Alerts, claims and follow-up scheduling always use the hub's own SNS, SQS and DynamoDB.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger

from spot_handler.alerting.events import AlertEvents
from spot_handler.alerting.publishing import BatchPublisher
from spot_handler.aws import AccountClients, AwsClients
from spot_handler.aws.sns import publish_alerts
from spot_handler.budget import OWNED_STEPS_RESERVE_SECONDS, TAIL_SECONDS, TimeBudget
from spot_handler.flow import NoticeResult, handle_notices
from spot_handler.idempotency.batch import BatchClaims
from spot_handler.models import InterruptionNotice
from spot_handler.settings import Settings

logger = Logger(child=True)


MAX_PARALLEL_TARGETS = 8  # (account, region) groups of one batch handled at once


class AccountRegions:
    """Which clients act on a notice: the hub's own in single-account mode, else those of its (account, region)."""

    def __init__(self, hub: AwsClients, settings: Settings, accounts: AccountClients | None):
        self.hub, self._accounts = hub, accounts if settings.organization_mode else None
        # Every alert of the invocation is put on the hub's event bus too, once SNS has it (alerting/events.py).
        self.events = AlertEvents(hub.events, settings.alert_event_bus_name)

    def clients_for(self, account: str, region: str, budget: TimeBudget | None = None) -> AwsClients:
        """The clients of an (account, region); a member role is assumed within `budget` (aws/clients.py)."""
        return self.hub if self._accounts is None else self._accounts.for_account_region(account, region, budget)

    def key(self, account: str, region: str) -> tuple[str, str]:
        return ("", "") if self._accounts is None else (account, region)


def handle_by_account_region(
    notices: list[InterruptionNotice], where: AccountRegions, settings: Settings, clock, budget
) -> list[NoticeResult]:
    """handle_notices once per (account, region) of the batch, in parallel; the results in the notices' order.

    Grouping keeps calls per target group (one DeregisterTargets serves every instance of a group), and each group
    has one budget bounded by its own deadlines, as a batch of its own would. What is the hub's is done once for the
    batch, not per group: its interruptions are claimed in one DynamoDB transaction per 100
    (idempotency/claims.BatchClaims; per-group claims and completions made 120 transactions for 1,000 notices over 5
    accounts in `make bench-org`, where the batch's claims make 12), and the groups' alerts go out in one stream of
    PublishBatch requests, whose last partial request each group shares with the others
    (alerting/publishing.BatchPublisher: 113 requests there, 103 so).

    A group that raises fails only its own notices (they are delivered again, and their messages take their claims
    over): the other groups' alerts are out, and failing their records would have them alerted again.
    """
    groups: dict[tuple[str, str], list[InterruptionNotice]] = {}
    group_of: dict[str, tuple[str, str]] = {}  # interruption -> its group: the (account, region) its first notice names
    for notice in notices:
        # Every signal of one interruption goes to one group, even one naming another region: two groups would each
        # be told they own its claim, and each alert.
        key = group_of.setdefault(notice.interruption_key, where.key(notice.account, notice.region))
        groups.setdefault(key, []).append(notice)

    def run(group: list[InterruptionNotice], batch_claims=None, publish=None) -> list[NoticeResult]:
        # The member role is assumed within the group's own budget: a role that is slow or refuses costs only its
        # own account's notices (their alerts say so), never the others' or the invocation's time bound.
        own = budget.bounded_by([n.deadline for n in group], clock())
        # (leaving the owned steps their part: a role answering at the last moment still gets its looks asked for)
        clients = where.clients_for(group[0].account, group[0].region, own.leaving(OWNED_STEPS_RESERVE_SECONDS))
        return handle_notices(group, clients, settings, clock, own, batch_claims, publish)

    if len(groups) == 1:
        publish = where.events.after(functools.partial(publish_alerts, where.hub.sns, settings.alert_topic_arn))
        return _guarded(notices, lambda: run(notices, publish=publish))
    # Claimed before any member role is assumed: the claims are the hub's, and run while the groups drain.
    claims = BatchClaims.start(where.hub.dynamodb, settings.idempotency_table_name, notices)
    publisher = BatchPublisher(where.hub.sns, settings.alert_topic_arn, groups=len(groups))

    def handle(numbered: tuple[int, list[InterruptionNotice]]) -> list[NoticeResult]:
        number, group = numbered
        publish = where.events.after(functools.partial(publisher.publish, number))
        try:
            return _guarded(group, lambda: run(group, claims, publish))
        finally:
            publisher.leave(number)  # a group that failed before alerting must not hold the others' alerts back

    try:
        with ThreadPoolExecutor(min(len(groups), MAX_PARALLEL_TARGETS), thread_name_prefix="target") as pool:
            done = [result for results in pool.map(handle, enumerate(groups.values())) for result in results]
    finally:  # the groups that reported are settled even if another raised
        claims.settle(budget.started + TAIL_SECONDS)
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
