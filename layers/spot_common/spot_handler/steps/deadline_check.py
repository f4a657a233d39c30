"""Owned step: for an interruption with a deadline, look at its targets once more just before the deadline.

It only asks for a follow-up (followups.py) when draining could still be going on then: a target group whose delay
in force ends before the deadline has certainly let the instance go, and needs no look.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from spot_handler.followups import DEADLINE_CHECK_SECONDS, Check
from spot_handler.planning import InstancePlan
from spot_handler.steps import StepContext, StepReport
from spot_handler.steps.target_groups import deregistered_by
from spot_handler.wording import iso_utc, when

GRID_SECONDS = 10


def _on_grid(moment: datetime) -> datetime:
    """The moment rounded down to a 10 s grid of the clock: the checks of a mass reclaim, whose deadlines fall within
    seconds of each other, come due together and share messages, invocations and target health reads."""
    return datetime.fromtimestamp(moment.timestamp() // GRID_SECONDS * GRID_SECONDS, tz=moment.tzinfo)


class DeadlineCheckStep:
    name = "Drain follow-up"
    key = "drainFollowUp"

    def applies(self, plan: InstancePlan) -> bool:
        return plan.notice.deadline is not None and plan.drain

    def run(self, context: StepContext, plans: list[InstancePlan], earlier) -> dict[str, StepReport]:
        reports = {}
        if not context.settings.notice_queue_url:  # follow-ups are off (NOTICE_QUEUE_URL unset)
            return reports
        now = context.clock()
        # The look is due DEADLINE_CHECK_SECONDS before the deadline, plus the batching window it may wait in.
        lead = timedelta(seconds=DEADLINE_CHECK_SECONDS + context.settings.notice_batching_window)
        for plan in plans:
            if _on_grid(plan.notice.deadline - lead) <= now:
                continue  # too late to look before the deadline: the instance is going, whatever is draining
            drains = earlier.get(plan.instance_id, [])
            targets, delays = deregistered_by(drains)
            sent = min((r.sent_at for r in drains if r.sent_at is not None), default=None)
            deadline = plan.notice.deadline
            if sent is not None:  # only what may still drain at the deadline is worth a look
                targets = {
                    arn: regs
                    for arn, regs in targets.items()
                    if delays.get(arn) is None or sent + timedelta(seconds=delays[arn]) > deadline
                }
            if not targets:
                continue
            instance = plan.instance
            check = Check(
                kind="deadline",
                account=plan.notice.account,
                region=plan.notice.region,
                instance_id=plan.instance_id,
                notice_id=plan.notice.notice_id,
                due=_on_grid(deadline - lead),
                deregistered_at=now,
                targets=targets,
                delays={arn: delays.get(arn) for arn in targets},
                deadline=deadline,
                availability_zone=instance.availability_zone if instance else None,
                instance_name=instance.name if instance else None,
            )
            reports[plan.instance_id] = StepReport(
                step=self.name,
                key=self.key,
                render=lambda listed, check=check: (
                    [
                        f"- draining may outlast the deadline in {len(check.targets)} target group(s): looked at "
                        f"again at {when(check.due)}; a second alert follows only if connections are still open then"
                    ],
                    {"scheduledFor": iso_utc(check.due), "targetGroups": sorted(check.targets)},
                ),
                follow_up=check,
            )
        return reports
