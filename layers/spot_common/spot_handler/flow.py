"""The flow of a batch of interruption notices, in the order the two minutes demand."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from spot_handler.alerting.first_alert import compose_alert
from spot_handler.aws import AwsClients
from spot_handler.aws.autoscaling import target_groups_of
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.aws.ec2 import describe_instances
from spot_handler.aws.sns import OutgoingAlert, publish_alerts
from spot_handler.budget import OWNED_STEPS_RESERVE_SECONDS, SCHEDULING_SECONDS, TAIL_SECONDS, DidNotFinish, TimeBudget
from spot_handler.drain import utcnow
from spot_handler.followups import LIFECYCLE, Check, Drained, schedule, what_drained
from spot_handler.idempotency.batch import BatchClaims
from spot_handler.incidents.capture import drain_of
from spot_handler.incidents.records import record_drains
from spot_handler.models import InstanceFacts, InterruptionNotice, LifecycleAction
from spot_handler.outcome import InterruptionOutcome, Outcome
from spot_handler.planning import Attached, InstancePlan, attachments, plan_interruption
from spot_handler.restore.run import restore_resumed, restore_unless_interrupted
from spot_handler.settings import Settings
from spot_handler.signals import kind_of
from spot_handler.signals.state_change import is_late_signal, is_resume
from spot_handler.steps import Step, StepContext, StepReport, run_steps
from spot_handler.steps.classic_elb import ClassicLoadBalancersStep
from spot_handler.steps.deadline_check import DeadlineCheckStep
from spot_handler.steps.ecs import EcsContainerInstancesStep
from spot_handler.steps.gamelift_checkpoint import GameLiftCheckpointStep
from spot_handler.steps.lifecycle import LifecycleStep
from spot_handler.steps.restore_look import RestoreLookStep
from spot_handler.steps.target_groups import TargetGroupsStep

logger = Logger(child=True)


@dataclass
class NoticeResult:
    notice: InterruptionNotice
    outcome: InterruptionOutcome | None = None  # None when the notice was ignored (out of scope)
    alert_error: str | None = None  # the alert did not go out: the notice must be delivered again
    duplicate: bool = False  # this interruption was already alerted: nothing done, reported success

    @property
    def handled(self) -> bool:
        return self.alert_error is None


# Safe to repeat: run before the claims are read.
DRAIN_STEPS: tuple[Step, ...] = (TargetGroupsStep(), ClassicLoadBalancersStep(), EcsContainerInstancesStep())
# Once per interruption, for the ones claimed here; LifecycleStep once per lifecycle signal (steps/lifecycle.py).
OWNED_STEPS: tuple[Step, ...] = (GameLiftCheckpointStep(), LifecycleStep(), DeadlineCheckStep(), RestoreLookStep())
# Every step: each plans what it needs of an instance (planning.plan_interruption) and reads its own settings.
STEPS: tuple[Step, ...] = DRAIN_STEPS + OWNED_STEPS


def handle_notices(
    notices: list[InterruptionNotice],
    clients: AwsClients,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    budget: TimeBudget | None = None,
    batch_claims: BatchClaims | None = None,
    publish: Callable[[list[OutgoingAlert]], dict[str, str]] | None = None,
) -> list[NoticeResult]:
    """Drain, checkpoint, complete lifecycle actions and alert for a batch of notices; one result per notice.

    Work before the alert runs within the time budget (budget.py); what did not finish is named in the alert.
    Idempotency (idempotency/claims.py): draining never waits for the claims, since it is harmless twice. Then an
    interruption already alerted is skipped; one claimed elsewhere, or whose claim is unknown, is not checkpointed or
    alerted here, and is delivered again. Every signal of one interruption (a Spot warning, a lifecycle action) is one
    incident: one alert, from the first signal; a later one still completes its own lifecycle action.

    `batch_claims`, `publish`: when these notices are one (account, region) group of a larger batch, the batch's
    claims, sent for every group at once, which the caller settles once every group is done; and the batch's
    PublishBatch stream, which pools the groups' partial requests (account_regions.handle_by_account_region).
    """
    budget = (budget or TimeBudget.start()).bounded_by([n.deadline for n in notices], clock())
    context = StepContext(clients, settings, clock, budget)
    # In the background, while the instances are looked up and drained. A state change is claimed only once the
    # lookup says it is a late signal: the many that are not cost nothing but that one read.
    claims = batch_claims or BatchClaims.start(
        clients.dynamodb, settings.idempotency_table_name, claimed_first(notices)
    )
    plans = plan_notices(notices, clients, settings, budget)
    in_scope = [plan for plan in plans if plan.ignored_reason is None and not is_resume(plan.notice)]
    late = [plan.notice for plan in in_scope if is_late_signal(plan.notice)]
    late_claims = BatchClaims.start(clients.dynamodb, settings.idempotency_table_name, late) if late else None
    if late_claims is not None:  # a late signal a warning already covered does nothing more, not even drain
        covered = late_claims.wait(budget, late)
        in_scope = [plan for plan in in_scope if not covered.done(plan.notice)]
    # First, all at once: nothing may delay taking instances out of service, nor one drain hold up another.
    drain_context = StepContext(clients, settings, clock, budget.leaving(OWNED_STEPS_RESERVE_SECONDS))
    reports = run_steps(DRAIN_STEPS, drain_context, in_scope, concurrent=True)

    # The claims are waited for within the budget less what the owned steps need after them (budget.py).
    owned_budget = budget.leaving(OWNED_STEPS_RESERVE_SECONDS)
    claimed = claims.wait(owned_budget, claimed_first(notices))
    if late_claims is not None:
        claimed = claimed.merged(late_claims.wait(owned_budget, late))
    active = [plan for plan in in_scope if not claimed.done(plan.notice)]
    # Claimed here, or not known to be claimed anywhere (the table failed or did not answer in time): the alert's
    # bound holds whatever DynamoDB does, so such an alert goes out, saying it may be repeated.
    owned = [plan for plan in active if claimed.acts(plan.notice)]
    first: dict[str, InstancePlan] = {}  # one alert per interruption: from its first signal in the batch
    for plan in owned:
        first.setdefault(plan.notice.interruption_key, plan)
    alerting = list(first.values())
    signals = [plan for plan in in_scope if plan.notice.lifecycle is not None]
    reports = run_steps(OWNED_STEPS, context, alerting, reports, signals=signals)
    _schedule_follow_ups(context, reports)
    outcomes = [
        InterruptionOutcome(
            plan,
            reports.get(plan.instance_id, []),
            possibly_repeated=not claimed.owned(plan.notice),
            final=Outcome.MISSED_WARNING if is_late_signal(plan.notice) else None,
        )
        for plan in alerting
    ]
    restoring = [plan for plan in plans if plan.ignored_reason is None and is_resume(plan.notice)]
    restored = restore_resumed(restoring, clients, settings, clock, budget) if restoring else []
    _schedule_follow_ups(context, {o.plan.instance_id: o.reports for o in restored})  # what failed, tried again
    outcomes += restored
    publish = publish or functools.partial(publish_alerts, clients.sns, settings.alert_topic_arn)
    # Why each interruption's alert did not go out (None: it did); every signal of an interruption shares its fate.
    unsent = dict(zip([o.plan.notice.interruption_key for o in outcomes], _alert(publish, outcomes)))
    record_drains_of(clients, settings, [o for o in outcomes if o.final is not Outcome.RESTORED], clock())
    results = [_result(plan, first, outcomes, unsent, claimed) for plan in plans]
    handled = [r.notice for r in results if r.handled]
    claims.report(claimed, handled, [r.notice for r in results if not r.handled])
    tail = budget.started + TAIL_SECONDS  # nothing is waited for past the tail (a hanging table holds no answer)
    if batch_claims is None:
        claims.settle(tail)
    if late_claims is not None:
        late_claims.report(claimed, [n for n in handled if n in late], [n for n in late if n not in handled])
        late_claims.settle(tail)
    return results


def claimed_first(notices: list[InterruptionNotice]) -> list[InterruptionNotice]:
    """The notices claimed before the instances are looked up: every one but state changes (a late signal is
    claimed once the lookup says it is one; an instance running again is restored under its record's condition)."""
    return [notice for notice in notices if notice.state is None]


def record_drains_of(clients: AwsClients, settings: Settings, outcomes: list, now: datetime) -> None:
    """Keep what each alerted interruption drained (incidents/): what a restore puts back and the sweep reads. After
    the alert, so it never delays one; a failure is logged (the sweep may then take the interruption for missed)."""
    if not settings.incident_table_name or not outcomes:
        return
    drains = [drain_of(o.plan, o.reports, now) for o in outcomes if o.plan.instance is not None]
    try:
        errors = record_drains(clients.dynamodb, settings.incident_table_name, drains)
    except AWS_ERRORS as exc:
        errors = [describe_error(exc)]
    for error in errors:
        logger.error("drain not recorded", extra={"error": error})


def _schedule_follow_ups(context: StepContext, reports: dict[str, list[StepReport]]) -> None:
    """Send the looks the steps asked for, together; one not sent is named on the step that asked, with what it
    means: its drain is not tried again, its lifecycle action is left to the hook's default result."""
    asking = [r for instance in reports.values() for r in instance if r.follow_up is not None]
    if not asking:
        return
    queue_url, sqs = context.settings.notice_queue_url, context.clients.sqs
    checks = [r.follow_up for r in asking]
    # At least SCHEDULING_SECONDS, even when the budget is spent: the look that carries a failed drain or a lifecycle
    # action is not given up to save a second (the alert's bound allows for it: budget.py).
    budget = context.budget
    if budget.remaining() < SCHEDULING_SECONDS:
        budget = TimeBudget.start(work_seconds=SCHEDULING_SECONDS)
    try:
        errors = budget.run("follow-up scheduling", schedule, sqs, queue_url, checks, context.clock())
    except DidNotFinish as exc:
        errors = {check.look_id: str(exc) for check in checks}
    for report in asking:
        error = errors.get(report.follow_up.look_id)
        if error is None:
            continue
        if report.follow_up.kind == LIFECYCLE:
            consequence = "the handler will not complete the lifecycle action: Auto Scaling applies the hook's "
            consequence += "default result when it times out; complete it by hand once the instance is drained"
        else:
            consequence = "the drain is not looked at again"
        report.failures.append(f"{report.step}: follow-up not scheduled ({error[:300]}): {consequence}")


def _alert(publish: Callable[[list[OutgoingAlert]], dict[str, str]], outcomes: list[InterruptionOutcome]):
    """Publish one alert per outcome; per outcome, in order, why its alert did not go out (None: it did)."""
    alerts, failed = [], {}
    for i, outcome in enumerate(outcomes):
        try:
            alerts.append(compose_alert(outcome, entry_id=str(i)))
        except Exception as exc:  # noqa: BLE001 - one alert that cannot be written must not hold back the others
            failed[str(i)] = f"alert could not be composed ({type(exc).__name__}: {exc})"
    failed |= publish(alerts)
    return [failed.get(str(i)) for i in range(len(outcomes))]


def _result(plan: InstancePlan, first, outcomes, unsent, claimed) -> NoticeResult:
    """What became of one notice: alerted (the first signal of its interruption), sharing the alert of its
    interruption's first signal (a later signal: a duplicate), a duplicate of one already alerted, or not alerted
    here (claimed elsewhere: delivered again)."""
    notice = plan.notice
    key = notice.interruption_key
    if plan.ignored_reason is not None:
        return NoticeResult(notice=notice)
    if is_resume(notice):  # restored (with its alert), or nothing of it to restore
        outcome = next((o for o in outcomes if o.plan is plan), None)
        return NoticeResult(notice=notice, outcome=outcome, alert_error=unsent.get(key) if outcome else None)
    if claimed.done(notice):
        return NoticeResult(notice=notice, duplicate=True)
    if not claimed.acts(notice):
        return NoticeResult(notice=notice, alert_error=claimed.why_not_owned(notice))
    if first.get(key) is plan:
        outcome = next(o for o in outcomes if o.plan is plan)
        return NoticeResult(notice=notice, outcome=outcome, alert_error=unsent.get(key))
    return NoticeResult(notice=notice, alert_error=unsent.get(key), duplicate=True)


def plan_notices(
    notices: list[InterruptionNotice], clients: AwsClients, settings: Settings, budget: TimeBudget | None = None
) -> list[InstancePlan]:
    """One DescribeInstances (and at most one DescribeAutoScalingGroups) for the whole batch, then a plan each."""
    budget = budget or TimeBudget.start()
    try:
        instances = budget.run("DescribeInstances", describe_instances, clients.ec2, [n.instance_id for n in notices])
    except (*AWS_ERRORS, DidNotFinish) as exc:
        reason = describe_error(exc)
        return [InstancePlan(notice=n, instance=None, lookup_error=reason) for n in notices]

    attached: dict[str, Attached] = {}
    asg_error = None
    groups = {i.auto_scaling_group for i in instances.values() if i.auto_scaling_group}
    if settings.discover_asg_target_groups and groups:
        try:
            attached = attachments(
                *budget.run("DescribeAutoScalingGroups", target_groups_of, clients.autoscaling, groups)
            )
        except (*AWS_ERRORS, DidNotFinish) as exc:
            asg_error = describe_error(exc)

    plans = []
    for notice in notices:
        instance: InstanceFacts | None = instances.get(notice.instance_id)
        plan = plan_interruption(notice, instance, attached, settings, STEPS)
        if asg_error and instance is not None and instance.auto_scaling_group:
            plan.asg_error = f"Auto Scaling group {instance.auto_scaling_group}: {asg_error}"
            plan.problems.append(plan.asg_error)
        plans.append(plan)
    return plans


def drain_again(
    checks: list[Check],
    clients: AwsClients,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    budget: TimeBudget | None = None,
) -> list[Drained]:
    """Drain again the instances of looks whose drain failed: re-planned from a fresh lookup (their tags and groups
    may have changed, and the lookup itself may be what failed), then every drain step, as a notice would; what each
    step took out (or found out already) and what still fails, per look, in order."""
    budget = budget or TimeBudget.start()
    notices = [check_notice(check) for check in checks]
    budget = budget.bounded_by([n.deadline for n in notices], clock())
    plans = plan_notices(notices, clients, settings, budget)
    context = StepContext(clients, settings, clock, budget)
    in_scope = [plan for plan in plans if plan.ignored_reason is None]
    reports = run_steps(DRAIN_STEPS, context, in_scope, concurrent=True)
    return [what_drained(plan, reports.get(plan.instance_id, [])) for plan in plans]


def restore_after_rebalance(
    checks: list[Check],
    clients: AwsClients,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    budget: TimeBudget | None = None,
) -> tuple[dict[str, InterruptionOutcome], dict[str, str]]:
    """The restore looks of rebalance-only drains that are due (restore/): re-planned from a fresh lookup (what the
    instance's tags and group name now), then put back unless interrupted since. ({look id: outcome `restored`},
    {look id: why it could not be decided now}: looked at again later)."""
    budget = budget or TimeBudget.start()
    plans = plan_notices([check_notice(check) for check in checks], clients, settings, budget)
    restored: dict[str, InterruptionOutcome] = {}
    undecided: dict[str, str] = {}
    for check, plan in zip(checks, plans):
        if plan.lookup_error:
            undecided[check.look_id] = f"instance lookup: {plan.lookup_error}"
            continue
        try:
            outcomes = restore_unless_interrupted(plan, check.detail_type, clients, settings, clock, budget)
        except (*AWS_ERRORS, DidNotFinish) as exc:
            undecided[check.look_id] = describe_error(exc)
            continue
        if outcomes:
            restored[check.look_id] = outcomes[0]
    return restored, undecided


def check_notice(check: Check) -> InterruptionNotice:
    """The notice a look follows, as far as planning its drain needs it."""
    lifecycle = None
    if check.kind == LIFECYCLE:
        lifecycle = LifecycleAction(check.token, check.group, check.hook, None, check.destination)
    kind = kind_of(check.detail_type)
    return InterruptionNotice(
        notice_id=check.notice_id,
        kind=kind,
        instance_id=check.instance_id,
        action=check.action,
        noticed_at=check.noticed_at or check.deregistered_at,
        deadline=check.deadline if kind.interruption else None,  # advice has none: its look has a horizon
        region=check.region,
        account=check.account,
        lifecycle=lifecycle,
    )


def handle_missed(
    notices: list[InterruptionNotice],
    instances: dict[str, InstanceFacts],
    clients: AwsClients,
    settings: Settings,
    clock: Callable[[], datetime],
    budget: TimeBudget,
    publish: Callable[[list[OutgoingAlert]], dict[str, str]],
) -> list[NoticeResult]:
    """Interruptions only the sweep found (sweep/): drain what they left behind (an ip target of a terminated instance
    stays registered forever otherwise), then one alert each, `missed`. Claimed already: its incident item says so."""
    groups = {i.auto_scaling_group for i in instances.values() if i.auto_scaling_group}
    attached = {}
    if groups and settings.discover_asg_target_groups:
        attached = attachments(*target_groups_of(clients.autoscaling, groups))
    plans = []
    for notice in notices:
        instance = instances[notice.instance_id]
        plan = plan_interruption(notice, instance, attached, settings, STEPS)
        plan.drain = plan.ignored_reason is None  # what a terminated instance left behind is drained too
        if instance.state == "terminated" and not instance.addresses:
            plan.problems.append("EC2 no longer shows its addresses: ip targets it left, if any, were not looked for")
        plans.append(plan)
    in_scope = [plan for plan in plans if plan.ignored_reason is None]
    reports = run_steps(DRAIN_STEPS, StepContext(clients, settings, clock, budget), in_scope, concurrent=True)
    outcomes = [InterruptionOutcome(p, reports.get(p.instance_id, []), final=Outcome.MISSED) for p in in_scope]
    unsent = _alert(publish, outcomes)
    record_drains_of(clients, settings, [o for o, error in zip(outcomes, unsent) if error is None], clock())
    return [NoticeResult(notice=o.plan.notice, outcome=o, alert_error=error) for o, error in zip(outcomes, unsent)] + [
        NoticeResult(notice=p.notice) for p in plans if p.ignored_reason is not None
    ]
