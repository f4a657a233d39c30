"""Lambda entry point: Powertools wiring around spot_handler.invocation.handle_invocation, nothing more."""

from __future__ import annotations

import gc

# Importing the handler creates objects that live as long as the execution environment (modules, classes,
# functions). The cyclic garbage collector would sweep them again and again while they are being created and in every
# collection after, finding no garbage. So it is off for the imports, and what they created is frozen (never swept,
# never collected). In the runtime container the init's CPU time fell by 10 ms, and by 18 ms counting the first
# collection after it, which no longer sweeps them (bench/README.md, cold start). Disabling alone does not do it: it
# moves the sweeping to the first collection after the imports (8 ms more than doing nothing).
gc.disable()
try:
    from typing import TYPE_CHECKING, Any

    from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
    from aws_lambda_powertools.metrics import MetricUnit
    from spot_handler.aws import default_account_clients, default_clients
    from spot_handler.budget import TimeBudget
    from spot_handler.invocation import InvocationReport, handle_invocation
    from spot_handler.lanes import left_to_notice_queue
    from spot_handler.outcome import Outcome
    from spot_handler.settings import get_settings
    from spot_handler.signals import capacity_reservation, spot_warning
finally:
    gc.freeze()
    gc.enable()

if TYPE_CHECKING:  # annotations only: not imported at cold start
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the handler's only outbound calls are boto3's
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    budget = TimeBudget.start(remaining_ms=context.get_remaining_time_in_millis())  # the alert's clock starts here
    # Until a line names its own notice, it carries the bare event's id, or for a batch the invocation's request id.
    logger.set_correlation_id(event_id_of(event) or context.aws_request_id)
    settings = get_settings()
    left = left_to_notice_queue(event, settings)
    if left:  # a burst on the lone-notice queue: the notice queue's copies arrive batched (spot_handler/lanes.py)
        logger.info("left to the notice queue", extra={"records": len(event["Records"]), "reason": left})
        metrics.add_metric(name="NoticesLeftToBatches", unit=MetricUnit.Count, value=len(event["Records"]))
        return {"batchItemFailures": []}
    accounts = None
    if settings.organization_mode:  # member roles' credentials kept for the execution environment
        accounts = default_account_clients(settings.hub_account_id, settings.member_role_name, settings.partition)
    report = handle_invocation(event, default_clients(), settings, budget=budget, accounts=accounts)
    record_metrics(report)
    record_interruptions(report, by_account=settings.organization_mode)
    log_results(report)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.batch_item_failures]}


def event_id_of(event: Any) -> str | None:
    """The EventBridge id of a bare (non-SQS) event, if it has one: the correlation id of its log lines."""
    if isinstance(event, dict) and "Records" not in event and isinstance(event.get("id"), str):
        return event["id"][:128]
    return None


def record_metrics(report: InvocationReport) -> None:
    received = len(report.results) + len(report.rejected) + len(report.foreign)
    metrics.add_metric(name="NoticesReceived", unit=MetricUnit.Count, value=received)
    metrics.add_metric(name="MalformedNotices", unit=MetricUnit.Count, value=len(report.rejected))
    metrics.add_metric(name="ForeignAccountNotices", unit=MetricUnit.Count, value=len(report.foreign))
    metrics.add_metric(name="DuplicatesSuppressed", unit=MetricUnit.Count, value=report.duplicates)
    deregistered = failures = alert_failures = 0
    late = {Outcome.MISSED_WARNING: 0, Outcome.MISSED: 0, Outcome.RESTORED: 0}
    for result in report.results:
        if result.outcome is None:
            continue
        if result.outcome.final in late and result.handled:
            late[result.outcome.final] += 1
        deregistered += sum(len(d.deregistered) for d in result.outcome.drains)
        failures += len(result.outcome.failures)
        alert_failures += 0 if result.handled else 1
        if result.outcome.possibly_repeated:
            metrics.add_metric(name="AlertsPossiblyRepeated", unit=MetricUnit.Count, value=1)
        if result.outcome.seconds_left is not None:
            metrics.add_metric(name="SecondsLeftAtDrain", unit=MetricUnit.Seconds, value=result.outcome.seconds_left)
            if result.outcome.seconds_left < 0:
                metrics.add_metric(name="DeadlineMissed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="TargetsDeregistered", unit=MetricUnit.Count, value=deregistered)
    # Interruptions no warning reached the handler for: caught by their state change, or only by the sweep.
    metrics.add_metric(name="MissedWarnings", unit=MetricUnit.Count, value=late[Outcome.MISSED_WARNING])
    metrics.add_metric(name="MissedInterruptions", unit=MetricUnit.Count, value=late[Outcome.MISSED])
    metrics.add_metric(name="InstancesRestored", unit=MetricUnit.Count, value=late[Outcome.RESTORED])
    if report.follow_ups is not None:
        follow_ups = report.follow_ups
        metrics.add_metric(name="LifecycleActionsCompleted", unit=MetricUnit.Count, value=len(follow_ups.completed))
        metrics.add_metric(name="LifecycleHeartbeats", unit=MetricUnit.Count, value=follow_ups.heartbeats)
        metrics.add_metric(name="DrainUnfinished", unit=MetricUnit.Count, value=len(follow_ups.unfinished))
        metrics.add_metric(name="DrainFinishedInTime", unit=MetricUnit.Count, value=len(follow_ups.finished_in_time))
        metrics.add_metric(name="FollowUpFailures", unit=MetricUnit.Count, value=len(follow_ups.failures))
        metrics.add_metric(name="DrainsRetried", unit=MetricUnit.Count, value=len(follow_ups.redrained))
        metrics.add_metric(name="FollowUpsParked", unit=MetricUnit.Count, value=len(follow_ups.parked))
        unconfirmed = sum(1 for _, outcome in follow_ups.alerts if outcome != Outcome.DRAIN_UNFINISHED)
        metrics.add_metric(name="LifecycleActionsUnconfirmed", unit=MetricUnit.Count, value=unconfirmed)
    metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=failures)
    metrics.add_metric(name="AlertPublishFailures", unit=MetricUnit.Count, value=alert_failures)
    metrics.add_metric(name="AlertEventFailures", unit=MetricUnit.Count, value=len(report.event_failures))


# EC2 taking capacity back. A terminate lifecycle action alone may be Auto Scaling's own scale-in, and a rebalance
# recommendation is advice: neither says a pool is being reclaimed.
RECLAIMS = (spot_warning.KIND, capacity_reservation.KIND)


def record_interruptions(report: InvocationReport, by_account: bool) -> None:
    """`Interruptions` per capacity pool: one per incident, from the signal its alert went out for (a later signal of
    the same incident, a duplicate or a follow-up counts nothing), with the dimensions InstanceType and
    AvailabilityZone (and Account in a hub), never the instance: each distinct set of dimensions is a metric of its
    own. Dimensions other than the handler's `service` need an EMF object each (single_metric). The fleet's total
    goes with the other metrics, for the interruption-rate alarm."""
    total = 0
    for result in report.results:
        if result.outcome is None or not result.handled:
            continue
        missed = result.outcome.final in (Outcome.MISSED_WARNING, Outcome.MISSED)  # EC2 reclaimed it, unannounced
        if result.notice.kind not in RECLAIMS and not missed:
            continue
        total += 1
        instance = result.outcome.plan.instance
        with single_metric(name="Interruptions", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="InstanceType", value=instance.instance_type if instance else "unknown")
            metric.add_dimension(name="AvailabilityZone", value=instance.availability_zone if instance else "unknown")
            if by_account:
                metric.add_dimension(name="Account", value=result.notice.account)
    metrics.add_metric(name="Interruptions", unit=MetricUnit.Count, value=total)


def log_results(report: InvocationReport) -> None:
    for result in report.results:
        logger.set_correlation_id(result.notice.notice_id)
        outcome = result.outcome
        logger.info(
            "notice handled" if result.handled else "alert not published",
            extra={
                "instance_id": result.notice.instance_id,
                "detail_type": result.notice.kind.value,
                "outcome": outcome.status if outcome else ("duplicate" if result.duplicate else "ignored"),
                "failures": outcome.failures if outcome else [],
                "alert_error": result.alert_error,
            },
        )
    logger.set_correlation_id(None)
