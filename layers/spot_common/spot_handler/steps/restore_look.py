"""Owned step: a rebalance-only drain asks to be put back if no interruption follows (restore/).

With DrainOnRebalance, a rebalance recommendation drains an instance that may never be interrupted. This step asks
for a restore look RestoreAfterRebalanceMinutes later (a chain of looks: one SQS delay is at most 15 minutes); the
look puts back what the drain took away if the instance is still running, Auto Scaling is not terminating it, and no
other signal drained it since (an interruption warning or a late signal would have: the incident record says so).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from spot_handler.followups.check import RESTORE, Check
from spot_handler.planning import InstancePlan
from spot_handler.steps import StepContext, StepReport
from spot_handler.wording import iso_utc, when


class RestoreLookStep:
    name = "Restore"
    key = "restoreLook"
    local = True  # decides from the settings and the drain steps' reports; the look is sent with the others

    def applies(self, plan: InstancePlan) -> bool:
        notice = plan.notice
        return plan.drain and not notice.kind.interruption and notice.lifecycle is None and notice.state is None

    def run(self, context: StepContext, plans: list[InstancePlan], earlier) -> dict[str, StepReport]:
        settings = context.settings
        if not (settings.restore_drained_instances and settings.incident_table_name and settings.notice_queue_url):
            return {}
        now = context.clock()
        due = now + timedelta(minutes=settings.restore_after_rebalance_minutes)
        reports = {}
        for plan in plans:
            if not any(r.drained for r in earlier.get(plan.instance_id, [])):
                continue  # nothing was taken out: nothing to put back
            notice, instance = plan.notice, plan.instance
            check = Check(
                kind=RESTORE,
                account=notice.account,
                region=notice.region,
                instance_id=plan.instance_id,
                notice_id=notice.notice_id,
                due=due,
                deregistered_at=now,
                targets={},
                chain=uuid.uuid4().hex,
                detail_type=notice.kind.value,
                action=notice.action,
                noticed_at=notice.noticed_at,
                deadline=due,
                availability_zone=instance.availability_zone if instance else None,
                instance_name=instance.name if instance else None,
            )
            reports[plan.instance_id] = StepReport(
                step=self.name,
                key=self.key,
                render=lambda listed, check=check: (
                    [
                        f"- put back at {when(check.due)} if no interruption follows and the instance is still "
                        "running (RestoreAfterRebalanceMinutes)"
                    ],
                    {"restoreAt": iso_utc(check.due)},
                ),
                follow_up=check,
            )
        return reports
