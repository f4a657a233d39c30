"""Which drained instances to restore, and restoring them: on a `running` notice (restore_resumed) and on the look a
rebalance-only drain asked for (restore_unless_interrupted)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from spot_handler.aws import AwsClients
from spot_handler.aws import autoscaling as asg
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.budget import DidNotFinish, TimeBudget
from spot_handler.followups.check import RESTORE, Check
from spot_handler.incidents.records import DrainRecord, mark_restored, read_records, reopen
from spot_handler.outcome import InterruptionOutcome, Outcome
from spot_handler.planning import InstancePlan
from spot_handler.restore.put_back import Restored, put_back
from spot_handler.settings import Settings
from spot_handler.steps import StepReport
from spot_handler.wording import when

logger = Logger(child=True)
STEP, KEY = "Restored", "restored"


def restore_resumed(
    plans: list[InstancePlan], clients: AwsClients, settings: Settings, clock: Callable[[], datetime], budget
) -> list[InterruptionOutcome]:
    """Restore the instances of `running` notices whose last drain the handler made before they came back; one
    outcome (outcome `restored`) per instance restored. Those with nothing to restore cost one read, and no alert."""
    if not settings.restore_drained_instances or not settings.incident_table_name or not plans:
        return []
    try:
        records = budget.run(
            "incident records",
            read_records,
            clients.dynamodb,
            settings.incident_table_name,
            [(p.notice.account, p.instance_id) for p in plans],
        )
    except (*AWS_ERRORS, DidNotFinish) as exc:
        logger.error("restore: records not read", extra={"error": describe_error(exc)})
        return []
    candidates = []
    for plan in plans:
        record = records.get((plan.notice.account, plan.instance_id))
        # EventBridge times are whole seconds: a notice of the drain's own second is not known to be older
        drained = record.last_drained_at.replace(microsecond=0) if record is not None else None
        if record is not None and record.open and record.took_away and plan.notice.noticed_at >= drained:
            candidates.append((plan, record))
    return _restore(candidates, clients, settings, clock, budget)


def restore_unless_interrupted(
    plan: InstancePlan, signal: str, clients: AwsClients, settings: Settings, clock, budget
) -> list[InterruptionOutcome]:
    """A rebalance-only drain's look, RestoreAfterRebalanceMinutes later: restore it if its record's last drain is
    still the rebalance's (an interruption warning, or a late signal, drains it again and is recorded as such), it was
    not put back already, and the instance is running."""
    if not settings.restore_drained_instances or not settings.incident_table_name:
        return []
    key = (plan.notice.account, plan.instance_id)
    records = budget.run("incident records", read_records, clients.dynamodb, settings.incident_table_name, [key])
    record = records.get(key)
    if record is None or not record.open or not record.took_away or record.last_signal != signal:
        return []
    if plan.instance is None or plan.instance.state != "running":
        return []
    return _restore([(plan, record)], clients, settings, clock, budget)


def _restore(candidates, clients: AwsClients, settings: Settings, clock, budget: TimeBudget):
    if not candidates:
        return []
    grouped = [plan.instance_id for plan, _ in candidates if plan.instance and plan.instance.auto_scaling_group]
    try:
        leaving = budget.run("DescribeAutoScalingInstances", asg.terminating, clients.autoscaling, grouped)
    except (*AWS_ERRORS, DidNotFinish) as exc:  # not known: restore none of the group's (never put a leaver back)
        logger.error("restore: Auto Scaling not read", extra={"error": describe_error(exc)})
        leaving = set(grouped)
    outcomes = []
    for plan, record in candidates:
        if plan.instance_id in leaving:
            continue
        marked_at = clock()
        try:
            if not mark_restored(clients.dynamodb, settings.incident_table_name, record, marked_at):
                continue  # restored by someone else, or drained again meanwhile
        except AWS_ERRORS as exc:
            logger.error("restore not claimed", extra={"instance_id": plan.instance_id, "error": describe_error(exc)})
            continue  # nothing done: the record is as it was
        done = put_back(clients, record, plan)
        retry = None
        if done.unrestored is not None:  # what failed is kept, and tried again by a restore look
            try:
                reopened = reopen(clients.dynamodb, settings.incident_table_name, done.unrestored, marked_at)
            except AWS_ERRORS as exc:
                reopened = False
                done.failures.append(f"what failed could not be kept for another try: {describe_error(exc)}")
            retry = _retry_look(plan, record, clock(), settings) if reopened else None
        outcomes.append(InterruptionOutcome(plan, [_report(done, record, retry)], final=Outcome.RESTORED))
    return outcomes


RETRY_SECONDS = 60  # a restore that failed in part is tried again this much later (restore looks, followups/)


def _retry_look(plan: InstancePlan, record: DrainRecord, now: datetime, settings: Settings):
    """The look that puts back what a restore could not: a restore look of the drain's own signal, due shortly."""
    if not settings.notice_queue_url:
        return None
    due = now + timedelta(seconds=RETRY_SECONDS)
    instance = plan.instance
    return Check(
        kind=RESTORE,
        account=plan.notice.account,
        region=plan.notice.region,
        instance_id=plan.instance_id,
        notice_id=record.last_notice_id or plan.notice.notice_id,
        due=due,
        deregistered_at=record.last_drained_at,
        targets={},
        chain=uuid.uuid4().hex,
        detail_type=record.last_signal,
        noticed_at=plan.notice.noticed_at,
        deadline=due,
        availability_zone=instance.availability_zone if instance else None,
        instance_name=instance.name if instance else None,
    )


def _report(done: Restored, record: DrainRecord, retry=None) -> StepReport:
    failures = list(done.failures)
    if done.unrestored is not None:
        failures.append(
            f"tried again at {when(retry.due)}: what failed is kept"
            if retry
            else "not tried again: put it back by hand"
        )
    return StepReport(
        step=STEP,
        key=KEY,
        follow_up=retry,
        render=lambda listed: (
            done.lines(),
            {**done.document(), "drainedBy": record.last_signal, "drainNoticeId": record.last_notice_id},
        ),
        failures=failures,
    )
