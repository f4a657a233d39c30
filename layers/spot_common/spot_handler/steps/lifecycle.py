"""Owned step, one per signal: complete the terminate lifecycle action of an Auto Scaling notice.

When nothing of the instance is left draining (nothing was registered, or the instance is already gone) the action is
completed at once with CONTINUE. Otherwise a follow-up (followups.py) looks at its targets again every 30 s and
completes it once they have left `draining`, or when the hook's own time is about to run out; heartbeats keep a long
drain alive. The Lambda never sleeps for it.

It runs for every lifecycle signal, even one whose interruption was already alerted by a Spot warning: completing
its action is the work only that signal can do.
"""

from __future__ import annotations

from datetime import timedelta

from spot_handler.aws import autoscaling as asg
from spot_handler.aws.clients import AWS_ERRORS, describe_error, error_code
from spot_handler.followups import CHECK_EVERY_SECONDS, Check, FollowUpReport, act_on_lifecycle
from spot_handler.planning import InstancePlan
from spot_handler.steps import StepContext, StepReport
from spot_handler.steps.target_groups import deregistered_by
from spot_handler.wording import plural, when


class LifecycleStep:
    name = "Lifecycle action"
    key = "lifecycleAction"
    per_signal = True  # every lifecycle signal, whatever its interruption's claim

    def applies(self, plan: InstancePlan) -> bool:
        return plan.notice.lifecycle is not None

    def run(self, context: StepContext, plans: list[InstancePlan], earlier) -> dict[str, StepReport]:
        autoscaling = context.clients.autoscaling
        waiting = {p.instance_id: deregistered_by(earlier.get(p.instance_id, [])) for p in plans}
        hooks = {(p.notice.lifecycle.group_name, p.notice.lifecycle.hook_name) for p in plans if waiting[p.instance_id]}
        try:
            times = asg.lifecycle_hooks(autoscaling, hooks) if hooks else {}
            hook_error = None
        except AWS_ERRORS as exc:
            times, hook_error = {}, describe_error(exc)
        reports = {}
        now = context.clock()
        for plan in plans:
            action = plan.notice.lifecycle
            targets, delays = waiting[plan.instance_id]
            facts = {
                "autoScalingGroup": action.group_name,
                "hook": action.hook_name,
                "origin": action.origin,
                "destination": action.destination or "EC2",
                "instanceGoes": action.where_to,
            }
            if not targets or not context.settings.notice_queue_url:  # nothing to wait for, or no way to look again
                reports[plan.instance_id] = _complete_now(autoscaling, plan, facts, bool(targets))
                continue
            hook = times.get((action.group_name, action.hook_name), asg.UNKNOWN_HOOK)
            started = plan.notice.noticed_at
            check = Check(
                kind="lifecycle",
                account=plan.notice.account,
                region=plan.notice.region,
                instance_id=plan.instance_id,
                notice_id=plan.notice.notice_id,
                due=now + timedelta(seconds=CHECK_EVERY_SECONDS),
                deregistered_at=now,
                targets=targets,
                delays=delays,
                group=action.group_name,
                hook=action.hook_name,
                token=action.token,
                destination=action.destination,
                heartbeat_timeout=hook.heartbeat_timeout,
                heartbeat_expires=started + timedelta(seconds=hook.heartbeat_timeout),
                global_expires=started + timedelta(seconds=hook.global_timeout),
            )
            # As a follow-up would: the hook may already be near its heartbeat or global timeout.
            done = FollowUpReport()
            state = act_on_lifecycle(
                autoscaling, check, targets, None, now, done, context.settings.notice_batching_window
            )
            count = sum(len(t) for t in targets.values())
            lines = [f"- group {action.group_name}, hook {action.hook_name}: the instance goes {action.where_to}"]
            if done.rescheduled:
                lines.append(
                    f"- completes with CONTINUE once its {plural(count, 'registration')} leave draining "
                    f"(looked at every {CHECK_EVERY_SECONDS} s), or by {when(check.global_expires)} at the latest "
                    f"(heartbeat timeout {hook.heartbeat_timeout} s, heartbeats recorded while it waits)"
                )
            else:
                lines.append(f"- {state}")
            failures = list(done.failures)
            if hook_error:
                failures.append(
                    f"lifecycle hook {action.hook_name}: not described ({hook_error}); heartbeats every 30 s"
                )
            document = {**facts, "completed": bool(done.completed), "waitingFor": count if done.rescheduled else 0}
            document["result"] = "CONTINUE" if done.completed else None
            reports[plan.instance_id] = StepReport(
                step=self.name,
                key=self.key,
                render=lambda listed, lines=lines, document=document: (lines, document),
                failures=failures,
                follow_up=done.rescheduled[0] if done.rescheduled else None,
            )
        return reports


def _complete_now(autoscaling, plan: InstancePlan, facts: dict, draining: bool = False) -> StepReport:
    action = plan.notice.lifecycle
    gone = plan.instance is None or plan.instance.state == "terminated"
    why = "the instance is already gone" if gone else "nothing of it was left draining"
    if draining:
        why = "follow-ups are off (no NOTICE_QUEUE_URL), so it does not wait for draining"
    head = f"- group {action.group_name}, hook {action.hook_name}: the instance goes {action.where_to}"
    try:
        asg.complete_lifecycle_action(autoscaling, action.group_name, action.hook_name, action.token, plan.instance_id)
        line, failures, done = f"- completed with CONTINUE: {why}", [], True
    except AWS_ERRORS as exc:
        if error_code(exc) == "ValidationError":  # no such active action: completed already, or timed out
            line, failures, done = f"- already completed or timed out ({describe_error(exc)})", [], True
        else:
            line, done = "- NOT completed: Auto Scaling goes on when the hook times out", False
            failures = [f"lifecycle action {action.hook_name}: CompleteLifecycleAction: {describe_error(exc)}"]
    return StepReport(
        step=LifecycleStep.name,
        key=LifecycleStep.key,
        render=lambda listed: ([head, line], {**facts, "completed": done, "waitingFor": 0, "result": "CONTINUE"}),
        failures=failures,
    )
