"""Owned step: follow a drain through to its deadline (followups/).

For an interruption whose instance was to be drained it asks for a first look when one is needed:
- seconds from now, when a drain failed or could not be confirmed (or the instance lookup failed): the look drains
  again, re-planned from a fresh lookup, until confirmed or the deadline has passed;
- just before the deadline, when what drains could still be draining then: a target group whose delay in force ends
  before the deadline has certainly let the instance go, and needs no look.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from spot_handler.followups.check import DEADLINE, Check
from spot_handler.followups.drained import what_drained
from spot_handler.followups.looks import DEADLINE_CHECK_SECONDS, RETRY_SECONDS, on_grid
from spot_handler.models import SPOT_WARNING_SECONDS
from spot_handler.planning import InstancePlan
from spot_handler.steps import StepContext, StepReport
from spot_handler.wording import iso_utc, when


class DeadlineCheckStep:
    name = "Drain follow-up"
    key = "drainFollowUp"
    local = True  # decides from the drain steps' reports; the looks are sent with the others (flow.py)

    def applies(self, plan: InstancePlan) -> bool:
        return plan.drain or plan.lookup_error is not None

    def run(self, context: StepContext, plans: list[InstancePlan], earlier) -> dict[str, StepReport]:
        reports = {}
        if not context.settings.notice_queue_url:  # follow-ups are off (NOTICE_QUEUE_URL unset)
            return reports
        now = context.clock()
        window = context.settings.notice_batching_window
        # The look before the deadline is due DEADLINE_CHECK_SECONDS before it, plus the batching window it may wait.
        lead = timedelta(seconds=DEADLINE_CHECK_SECONDS + window)
        for plan in plans:
            notice = plan.notice
            if notice.lifecycle is not None:
                continue  # a lifecycle action's drain is followed by its own looks (steps/lifecycle.py)
            rebalance = not notice.kind.interruption
            # A rebalance drain has no deadline: what failed is drained again for as long as a warning gives.
            deadline = notice.deadline or notice.noticed_at + timedelta(seconds=SPOT_WARNING_SECONDS)
            drained = what_drained(plan, earlier.get(plan.instance_id, []))
            if drained.gone:
                continue
            retry_at = now + timedelta(seconds=RETRY_SECONDS)
            if drained.retry and retry_at + timedelta(seconds=window) < deadline - timedelta(
                seconds=DEADLINE_CHECK_SECONDS
            ):
                due = retry_at
            elif drained.retry or rebalance:
                continue  # too late to drain again before the deadline (the alert names what failed); or advice
            else:
                last = on_grid(deadline - lead)
                sent = min(
                    (r.sent_at for r in earlier.get(plan.instance_id, []) if r.sent_at is not None), default=None
                )
                if last <= now or not _may_outlast(drained, sent, deadline):
                    continue  # too late to look before the deadline, or nothing can still drain then
                due = last
                if sent is not None:  # only what may still drain at the deadline is worth a look
                    drained = drained._replace(
                        targets={
                            a: r for a, r in drained.targets.items() if _outlasts(drained.delays[a], sent, deadline)
                        },
                        classic={n: t for n, t in drained.classic.items() if _outlasts(t, sent, deadline, off=True)},
                    )
                    drained = drained._replace(delays={a: drained.delays[a] for a in drained.targets})
            instance = plan.instance
            check = Check(
                kind=DEADLINE,
                account=notice.account,
                region=notice.region,
                instance_id=plan.instance_id,
                notice_id=notice.notice_id,
                due=due,
                deregistered_at=now,
                targets=drained.targets,
                delays=drained.delays,
                chain=uuid.uuid4().hex,
                detail_type=notice.kind.value,
                action=notice.action,
                noticed_at=notice.noticed_at,
                classic=drained.classic,
                # ECS service tasks move at their services' pace: the first alert warns of a service that may not
                # move in time; the deadline look is about connections still open (target groups, Classic)
                redrain=drained.retry,
                deadline=deadline,
                availability_zone=instance.availability_zone if instance else None,
                instance_name=instance.name if instance else None,
            )
            reports[plan.instance_id] = StepReport(
                step=self.name,
                key=self.key,
                render=lambda listed, check=check: _rendered(check),
                follow_up=check,
            )
        return reports


def _outlasts(timeout, sent, deadline, off: bool = False) -> bool:
    """Whether a delay (Classic: a draining timeout, None when draining is off) started at `sent` ends after the
    deadline; a delay not known may."""
    if timeout is None:
        return not off
    return sent + timedelta(seconds=timeout) > deadline


def _may_outlast(drained, sent, deadline) -> bool:
    """Whether what was taken out may still be draining at the deadline."""
    timeouts = [*drained.delays.values(), *drained.classic.values()]
    if not timeouts:
        return False
    if sent is None or any(t is None for t in drained.delays.values()):
        return True
    return any(t and sent + timedelta(seconds=t) > deadline for t in timeouts)


def _rendered(check: Check) -> tuple[list[str], dict]:
    if check.redrain:
        lines = [
            f"- drained again from {when(check.due)} (then every 10-20 s) until confirmed or the deadline: "
            + "; ".join(check.redrain),
            "- a second alert follows only if it is still unfinished at the deadline",
        ]
    else:
        lines = [
            f"- draining may outlast the deadline in {len(check.targets)} target group(s): looked at again at "
            f"{when(check.due)}; a second alert follows only if connections are still open then"
        ]
    return lines, {
        "scheduledFor": iso_utc(check.due),
        "targetGroups": sorted(check.targets),
        "drainedAgain": list(check.redrain),
    }
