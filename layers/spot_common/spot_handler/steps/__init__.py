"""Steps: each thing the handler does for interrupted instances, one module each, all reporting the same way.

`flow.handle_notices` runs two lists of steps:
- drain steps (DRAIN_STEPS): safe to repeat, so they run first, before the idempotency claims are read: nothing may
  delay taking an instance out of service;
- owned steps (OWNED_STEPS): run once per interruption, for the notices this invocation claimed (or, for steps that
  act on one signal, such as completing its lifecycle action, for every signal of the interruption).

A step is an object with a `name`, a `key`, an `applies(plan)` test and `run(context, plans, earlier)` returning one
StepReport per instance it applies to. It owns what it needs of the instance: its `plan(instance, notice, attached,
settings)` reads the instance and its tags once per notice and returns a small frozen record (a planning.StepPlan),
kept on the InstancePlan under the step's key (`plan.by_step`); its `settings` is its own settings class (tag keys,
switches, each field with the environment variable that sets it: settings.variable), read by `settings.step(...)`.
The alert renders every report the same way (a section of the e-mail, a member of the JSON), and a step that fails
or runs out of time is reported as a failure of that step for each instance it applies to: it never stops the
others. Adding an action: one module here, one wrapper in `aws/`, its IAM statement in template.yaml and
member/template.yaml, and its name in the lists of flow.py (docs/adding-a-step.md).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from spot_handler.aws import AwsClients
from spot_handler.budget import DidNotFinish, TimeBudget
from spot_handler.planning import InstancePlan
from spot_handler.settings import Settings

logger = Logger(child=True)


@dataclass
class StepReport:
    """What one step did for one instance."""

    step: str  # the e-mail section's title: "Target groups", "GameLift", "Lifecycle action"
    key: str  # the JSON alert's member: "targetGroups", "gameLift", "lifecycleAction"
    # (e-mail lines, JSON member) listing at most n items of each list: the alert asks for fewer when it is too large
    render: Callable[[int], tuple[list[str], Any]] | None = None
    failures: list[str] = field(default_factory=list)  # each names what failed and why
    drain_attempts: int = 0  # drain steps: places the instance was to be taken out of (target groups, ...)
    drained: int = 0  # drain steps: of those, how many took it out (or found it already out)
    sent_at: datetime | None = None  # drain steps: when the first drain request went out
    data: Any = None  # the step's own record, for later steps of the same invocation (e.g. what was deregistered)
    # drain steps: what failed or was not confirmed in a way worth trying again (drained again by a follow-up)
    retry: list[str] = field(default_factory=list)
    checkpointed: bool = False  # game state was saved (the outcome is `checkpointed` when nothing was drained)
    follow_up: Any = None  # a followups.Check to send as a delayed message once the steps are done

    def view(self, listed: int) -> tuple[list[str], Any]:
        if self.render is not None:
            return self.render(listed)
        return [f"- {failure}" for failure in self.failures[:listed]], None


@dataclass
class StepContext:
    clients: AwsClients
    settings: Settings
    clock: Callable[[], datetime]
    budget: TimeBudget


class Step(Protocol):
    """What flow.py runs. Optional members: `plan(instance, notice, attached, settings) -> StepPlan | None` (what it
    reads from the instance and its tags), `settings` (its settings class), `per_signal`, `local` (run_steps)."""

    name: str
    key: str

    def applies(self, plan: InstancePlan) -> bool: ...

    def run(
        self, context: StepContext, plans: list[InstancePlan], earlier: dict[str, list[StepReport]]
    ) -> dict[str, StepReport]: ...


def run_steps(
    steps: tuple[Step, ...],
    context: StepContext,
    plans: list[InstancePlan],
    reports: dict[str, list[StepReport]] | None = None,
    signals: list[InstancePlan] | None = None,
    concurrent: bool = False,
) -> dict[str, list[StepReport]]:
    """Run each step on the plans it applies to, within the budget; reports added per instance id, in step order.

    In order by default; `concurrent` (the drain steps, which never read each other's reports) starts them all at
    once, so each has the whole budget: a target group that hangs must not keep ECS from draining. A step marked
    `per_signal` runs on `signals` instead (every signal that has work of its own, such as a lifecycle action to
    complete, whether or not its interruption was claimed here). One instance appears once however many of its
    notices are in the batch: no step acts twice on it here.
    """
    reports = reports if reports is not None else {}
    work = []
    for step in steps:
        chosen: dict[str, InstancePlan] = {}
        for plan in signals if getattr(step, "per_signal", False) and signals is not None else plans:
            if step.applies(plan):
                chosen.setdefault(plan.instance_id, plan)
        if chosen:
            work.append((step, chosen))
    if concurrent and len(work) > 1:
        pool = ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="step")
        started = [
            (step, chosen, pool.submit(step.run, context, list(chosen.values()), reports)) for step, chosen in work
        ]
        pool.shutdown(wait=False)  # the budget decides how long to wait for each
        for step, chosen, future in started:
            call = partial(_wait_with_grace, context.budget, future, step.name)
            _add(reports, _settled(step, chosen, call, drains=True))
        return reports
    for step, chosen in work:
        if getattr(step, "local", False):  # makes no AWS call: nothing to bound
            call = partial(step.run, context, list(chosen.values()), reports)
        else:
            call = partial(context.budget.run, step.name, step.run, context, list(chosen.values()), reports)
        _add(reports, _settled(step, chosen, call))
    return reports


# A drain step bounds its own waits by the budget (each target group, load balancer or cluster it waits for), then
# writes its reports: waiting a moment past the budget lets it name exactly what did not finish, instead of the whole
# step losing that race. Well within the alert's bound (budget.ALERT_BOUND_SECONDS).
STEP_GRACE_SECONDS = 0.5


def _wait_with_grace(budget: TimeBudget, future: Future, what: str) -> dict[str, StepReport]:
    try:
        return future.result(timeout=budget.remaining() + STEP_GRACE_SECONDS)
    except FutureTimeout:
        raise DidNotFinish(what, budget.work_seconds) from None


def _settled(
    step: Step, chosen: dict[str, InstancePlan], call: Callable[[], dict[str, StepReport]], drains: bool = False
):
    """The step's reports, or a failure of the step for each instance it applies to (a drain step's is drained again
    by a look: `drains`)."""
    try:
        return call()
    except DidNotFinish as exc:
        reason = f"{step.name}: {exc}"
    except Exception as exc:
        logger.exception("step failed unexpectedly", extra={"step": step.name})
        reason = f"{step.name} stopped by an unexpected error: {type(exc).__name__}: {exc}"
    retry = [reason] if drains else []
    return {i: StepReport(step.name, _key(step), failures=[reason], retry=retry) for i in chosen}


def _add(reports: dict[str, list[StepReport]], done: dict[str, StepReport]) -> None:
    for instance_id, report in done.items():
        reports.setdefault(instance_id, []).append(report)


def _key(step: Step) -> str:
    return getattr(step, "key", step.name)
