"""Owned step, one per signal: complete the terminate lifecycle action of an Auto Scaling notice.

When nothing of the instance is left draining (nothing was registered, or the instance is already gone) and nothing
failed to drain, the action is completed at once with CONTINUE. Otherwise looks (followups/) drain again what failed,
and complete it once every drain is over (target groups out of `draining`, Classic connection draining over, the ECS
container instance's service tasks gone), or when the hook's own time is about to run out; heartbeats keep a long
drain alive. The Lambda never sleeps for it.

It runs for every lifecycle signal, even one whose interruption was already alerted by a Spot warning: completing
its action is the work only that signal can do.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from spot_handler.aws import autoscaling as asg
from spot_handler.aws.clients import AWS_ERRORS, describe_error, error_code
from spot_handler.followups.check import LIFECYCLE, Check
from spot_handler.followups.drained import Drained, what_drained
from spot_handler.followups.looks import CHECK_EVERY_SECONDS, lifecycle_look
from spot_handler.followups.state import DrainState
from spot_handler.planning import InstancePlan
from spot_handler.steps import StepContext, StepReport
from spot_handler.wording import plural, when


class LifecycleStep:
    name = "Lifecycle action"
    key = "lifecycleAction"
    per_signal = True  # every lifecycle signal, whatever its interruption's claim

    def applies(self, plan: InstancePlan) -> bool:
        return plan.notice.lifecycle is not None

    def run(self, context: StepContext, plans: list[InstancePlan], earlier) -> dict[str, StepReport]:
        autoscaling = context.clients.autoscaling
        drained = {p.instance_id: what_drained(p, earlier.get(p.instance_id, [])) for p in plans}
        waiting = {i for i, d in drained.items() if (d.waiting or d.retry) and not d.gone}
        hooks = {
            (p.notice.lifecycle.group_name, p.notice.lifecycle.hook_name) for p in plans if p.instance_id in waiting
        }
        try:
            times = asg.lifecycle_hooks(autoscaling, hooks) if hooks else {}
            hook_error = None
        except AWS_ERRORS as exc:
            times, hook_error = {}, describe_error(exc)
        reports = {}
        now = context.clock()
        for plan in plans:
            action = plan.notice.lifecycle
            facts = {
                "autoScalingGroup": action.group_name,
                "hook": action.hook_name,
                "origin": action.origin,
                "destination": action.destination or "EC2",
                "instanceGoes": action.where_to,
            }
            done = drained[plan.instance_id]
            if not context.settings.notice_queue_url:  # no way to look again: completed now, whatever drains
                reports[plan.instance_id] = _complete_now(autoscaling, plan, facts, done)
                continue
            hook = times.get((action.group_name, action.hook_name), asg.UNKNOWN_HOOK)
            started = plan.notice.noticed_at
            check = Check(
                kind=LIFECYCLE,
                account=plan.notice.account,
                region=plan.notice.region,
                instance_id=plan.instance_id,
                notice_id=plan.notice.notice_id,
                due=now,
                deregistered_at=now,
                targets=done.targets,
                delays=done.delays,
                chain=uuid.uuid4().hex,
                detail_type=plan.notice.kind.value,
                action=plan.notice.action,
                noticed_at=plan.notice.noticed_at,
                classic=done.classic,
                ecs_cluster=done.ecs_cluster,
                ecs_container_instance=done.ecs_container_instance,
                ecs_standalone_tasks=done.ecs_standalone_tasks,
                redrain=done.retry,
                group=action.group_name,
                hook=action.hook_name,
                token=action.token,
                destination=action.destination,
                heartbeat_timeout=hook.heartbeat_timeout,
                heartbeat_expires=started + timedelta(seconds=hook.heartbeat_timeout),
                global_expires=started + timedelta(seconds=hook.global_timeout),
                availability_zone=plan.instance.availability_zone if plan.instance else None,
                instance_name=plan.instance.name if plan.instance else None,
            )
            # As a look would: the hook may already be near its heartbeat or global timeout.
            look = lifecycle_look(
                autoscaling, check, _draining(done), now, context.settings.notice_batching_window, gone=done.gone
            )
            head = f"- group {action.group_name}, hook {action.hook_name}: the instance goes {action.where_to}"
            lines = [head]
            if look.next is not None:
                lines.append(_waiting_line(done, hook, check))
            else:
                lines.append(f"- {look.said}")
            failures = list(look.failures)
            if hook_error:
                failures.append(
                    f"lifecycle hook {action.hook_name}: not described ({hook_error}); heartbeats every 30 s"
                )
            waiting_for = sum(len(t) for t in done.targets.values()) if look.next else 0
            document = {**facts, "completed": look.completed, "waitingFor": waiting_for}
            document["result"] = "CONTINUE" if look.completed else None
            document["drainedAgain"] = list(done.retry) if look.next else []
            reports[plan.instance_id] = StepReport(
                step=self.name,
                key=self.key,
                render=lambda listed, lines=lines, document=document: (lines, document),
                failures=failures,
                follow_up=look.next,
            )
        return reports


def _draining(done: Drained) -> DrainState:
    """At the drain itself, everything taken out is still draining."""
    return DrainState(
        targets=done.targets,
        classic=[name for name, timeout in done.classic.items() if timeout],
        ecs_tasks=1 if done.ecs_container_instance else 0,
    )


def _waiting_line(done: Drained, hook, check: Check) -> str:
    parts = []
    count = sum(len(t) for t in done.targets.values())
    if count:
        parts.append(f"its {plural(count, 'registration')} leave draining")
    if any(done.classic.values()):
        parts.append("Classic connection draining is over")
    if done.ecs_container_instance:
        parts.append("its ECS service tasks have moved")
    if done.retry:
        parts.append("what failed is drained again (" + "; ".join(done.retry) + ")")
    waits_for = " and ".join(parts) or "its drain is over"
    return (
        f"- completes with CONTINUE once {waits_for} (looked at every {CHECK_EVERY_SECONDS} s), or by "
        f"{when(check.global_expires)} at the latest (heartbeat timeout {hook.heartbeat_timeout} s, heartbeats "
        "recorded while it waits)"
    )


def _complete_now(autoscaling, plan: InstancePlan, facts: dict, done: Drained) -> StepReport:
    action = plan.notice.lifecycle
    gone = done.gone
    why = "the instance is already gone" if gone else "nothing of it was left draining"
    if not gone and (done.waiting or done.retry):
        why = "follow-ups are off (no NOTICE_QUEUE_URL), so it does not wait for draining"
    head = f"- group {action.group_name}, hook {action.hook_name}: the instance goes {action.where_to}"
    try:
        asg.complete_lifecycle_action(autoscaling, action.group_name, action.hook_name, action.token, plan.instance_id)
        line, failures, completed = f"- completed with CONTINUE: {why}", [], True
    except AWS_ERRORS as exc:
        if error_code(exc) == "ValidationError":  # no such active action: completed already, or timed out
            line, failures, completed = f"- already completed or timed out ({describe_error(exc)})", [], True
        else:
            line, completed = "- NOT completed: Auto Scaling goes on when the hook times out", False
            failures = [f"lifecycle action {action.hook_name}: CompleteLifecycleAction: {describe_error(exc)}"]
    document = {**facts, "completed": completed, "waitingFor": 0, "result": "CONTINUE", "drainedAgain": []}
    return StepReport(
        step=LifecycleStep.name,
        key=LifecycleStep.key,
        render=lambda listed: ([head, line], document),
        failures=failures,
    )
