"""What happened for one notice: the input to the alert and to the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from spot_handler.models import TargetGroupDrain
from spot_handler.planning import InstancePlan
from spot_handler.steps import StepReport


@dataclass
class InterruptionOutcome:
    plan: InstancePlan
    reports: list[StepReport] = field(default_factory=list)  # one per step that applied, in the order they ran
    problems: list[str] = field(default_factory=list)  # failures outside the steps, named for the alert
    # Alerted without knowing the interruption's claim (the idempotency table failed or did not answer in time): a
    # duplicate notice may alert it again, and the alert says so.
    possibly_repeated: bool = False

    @property
    def drains(self) -> list[TargetGroupDrain]:
        return [d for r in self.reports if r.key == "targetGroups" for d in r.data or []]

    @property
    def seconds_left(self) -> float | None:
        """Margin to the deadline when the first drain request went out (None: nothing sent, or no deadline)."""
        sent = [r.sent_at for r in self.reports if r.sent_at is not None]
        deadline = self.plan.notice.deadline
        return (deadline - min(sent)).total_seconds() if sent and deadline is not None else None

    @property
    def failures(self) -> list[str]:
        found = [f"instance lookup: {self.plan.lookup_error}"] if self.plan.lookup_error else []
        found += self.plan.problems
        for report in self.reports:
            found += report.failures
        return found + self.problems

    @property
    def status(self) -> str:
        """One word for filter policies: drained, partial, failed, checkpointed, nothing-to-drain, alert-only,
        instance-not-found, already-terminated."""
        plan = self.plan
        if plan.lookup_error:
            return "failed"
        if plan.instance is None:
            return "instance-not-found"
        if plan.instance.state == "terminated":
            return "already-terminated"
        if not plan.drain:
            return "alert-only"
        attempts = sum(r.drain_attempts for r in self.reports)
        if not attempts:
            if self.failures:
                return "failed"
            return "checkpointed" if any(r.key == "gameLift" for r in self.reports) else "nothing-to-drain"
        if not sum(r.drained for r in self.reports):
            return "failed"
        return "partial" if self.failures else "drained"
