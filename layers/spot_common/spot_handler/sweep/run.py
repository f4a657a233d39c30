"""One sweep over every account the handler serves."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools import Logger

from spot_handler.aws import AwsClients
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.aws.ec2 import interrupted_spot_instances
from spot_handler.budget import DidNotFinish, TimeBudget
from spot_handler.incidents.records import mark_missed, read_records, release_missed
from spot_handler.models import InstanceFacts, InterruptionNotice
from spot_handler.settings import Settings
from spot_handler.signals.sweep import MISSED

logger = Logger(child=True)
MAX_PARALLEL_ACCOUNTS = 8


@dataclass
class SweepReport:
    accounts: int = 0
    interrupted: int = 0  # Spot instances EC2 took back that the sweep saw
    missed: list = field(default_factory=list)  # flow.NoticeResult of each interruption alerted as missed
    failures: list[str] = field(default_factory=list)


def sweep(
    accounts: list[str],
    region: str,
    hub: AwsClients,
    clients_for: Callable[[str, str, TimeBudget], AwsClients],
    settings: Settings,
    clock: Callable[[], datetime],
    budget: TimeBudget,
    handle_missed: Callable,
) -> SweepReport:
    """Look in every account (in parallel, within the budget); alert and drain what no interruption covered.

    `handle_missed(notices, instances, clients, budget)` drains and alerts them (flow.handle_missed)."""
    report = SweepReport(accounts=len(accounts))
    if not settings.incident_table_name:
        report.failures.append("no incident table (INCIDENT_TABLE_NAME): nothing tells a missed interruption apart")
        return report
    pool = ThreadPoolExecutor(min(MAX_PARALLEL_ACCOUNTS, len(accounts)) or 1, thread_name_prefix="sweep")
    futures = [
        (
            account,
            pool.submit(_sweep_account, account, region, hub, clients_for, settings, clock, budget, handle_missed),
        )
        for account in accounts
    ]
    pool.shutdown(wait=False)
    for account, future in futures:
        try:
            seen, results = budget.wait(future, f"sweep of account {account}")
        except (*AWS_ERRORS, DidNotFinish) as exc:
            report.failures.append(f"account {account}: {describe_error(exc)}")
            continue
        report.interrupted += seen
        report.missed += results
    return report


def _sweep_account(account, region, hub, clients_for, settings, clock, budget, handle_missed):
    clients = clients_for(account, region, budget)
    found = interrupted_spot_instances(clients.ec2)
    if not found:
        return 0, []
    records = read_records(hub.dynamodb, settings.incident_table_name, [(owner, f.instance_id) for owner, f in found])
    now = clock()
    missed: list[tuple[str, InstanceFacts]] = []
    for owner, facts in found:
        record = records.get((owner, facts.instance_id))
        if record is not None and record.open:
            continue  # an interruption the handler handled (or a sweep already alerted)
        if mark_missed(hub.dynamodb, settings.incident_table_name, owner, facts.instance_id, region, now):
            missed.append((owner, facts))
    if not missed:
        return len(found), []
    notices = [
        InterruptionNotice(
            notice_id=f"sweep-{uuid.uuid4()}",
            kind=MISSED,
            instance_id=facts.instance_id,
            action="terminate" if facts.state in ("shutting-down", "terminated") else "stop",
            noticed_at=now,
            deadline=now,
            region=region,
            account=owner,
        )
        for owner, facts in missed
    ]
    logger.warning("missed interruptions found", extra={"instances": [f.instance_id for _, f in missed][:20]})
    try:
        results = handle_missed(notices, {f.instance_id: f for _, f in missed}, clients, budget)
    except BaseException:
        _release(hub, settings, notices, now)
        raise
    _release(hub, settings, [r.notice for r in results if not r.handled], now)
    return len(found), results


def _release(hub: AwsClients, settings: Settings, notices: list[InterruptionNotice], at: datetime) -> None:
    """The missed interruptions whose alert did not go out are found again by the next sweep."""
    for notice in notices:
        try:
            release_missed(hub.dynamodb, settings.incident_table_name, notice.account, notice.instance_id, at)
        except AWS_ERRORS as exc:
            error = describe_error(exc)
            logger.error("missed mark not released", extra={"instance_id": notice.instance_id, "error": error})
