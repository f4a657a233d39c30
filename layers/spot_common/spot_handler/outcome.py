"""What happened for one notice: the input to the alert and to the metrics."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from spot_handler.models import TargetGroupDrain
from spot_handler.planning import InstancePlan
from spot_handler.steps import StepReport


class Outcome(enum.StrEnum):
    """The one word every alert carries (message attribute and JSON `outcome`), for filter policies and rules."""

    DRAINED = "drained"
    PARTIAL = "partial"  # drained from some places, failed in others
    FAILED = "failed"
    CHECKPOINTED = "checkpointed"  # nothing to drain, game sessions saved
    NOTHING_TO_DRAIN = "nothing-to-drain"
    ALERT_ONLY = "alert-only"  # advice, not drained (DrainOnRebalance=false)
    INSTANCE_NOT_FOUND = "instance-not-found"
    ALREADY_TERMINATED = "already-terminated"
    # later alerts of an incident, from its looks (followups/looks.py)
    DRAIN_UNFINISHED = "drain-unfinished"  # still draining (or still failing) at the deadline
    LIFECYCLE_UNCONFIRMED = "lifecycle-unconfirmed"  # completed without seeing the drain end: state unreadable
    LIFECYCLE_NOT_COMPLETED = "lifecycle-not-completed"  # Auto Scaling applies the hook's default result
    # interruptions the handler heard of late or not at all, and drains undone (issue 23)
    MISSED_WARNING = "missed-warning"  # no warning came: acted on at the state change (signals/state_change.py)
    MISSED = "missed"  # no signal reached the handler: found by the reconciliation sweep (sweep/)
    RESTORED = "restored"  # what a drain took away is back: the drain proved needless (restore/)


@dataclass
class InterruptionOutcome:
    plan: InstancePlan
    reports: list[StepReport] = field(default_factory=list)  # one per step that applied, in the order they ran
    problems: list[str] = field(default_factory=list)  # failures outside the steps, named for the alert
    # Alerted without knowing the interruption's claim (the idempotency table failed or did not answer in time): a
    # duplicate notice may alert it again, and the alert says so.
    possibly_repeated: bool = False
    # The outcome its signal decides, whatever was drained: missed-warning, missed, restored (the failures still say
    # what failed).
    final: Outcome | None = None

    @property
    def drains(self) -> list[TargetGroupDrain]:
        return [d for r in self.reports for d in (r.data if isinstance(r.data, list) else []) if _is_drain(d)]

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
    def status(self) -> Outcome:
        """One word for filter policies: drained, partial, failed, checkpointed, nothing-to-drain, alert-only,
        instance-not-found, already-terminated."""
        plan = self.plan
        if self.final is not None:
            return self.final
        if plan.lookup_error:
            return Outcome.FAILED
        if plan.instance is None:
            return Outcome.INSTANCE_NOT_FOUND
        if plan.instance.state == "terminated":
            return Outcome.ALREADY_TERMINATED
        if not plan.drain:
            return Outcome.ALERT_ONLY
        attempts = sum(r.drain_attempts for r in self.reports)
        if not attempts:
            if self.failures:
                return Outcome.FAILED
            return Outcome.CHECKPOINTED if any(r.checkpointed for r in self.reports) else Outcome.NOTHING_TO_DRAIN
        if not sum(r.drained for r in self.reports):
            return Outcome.FAILED
        return Outcome.PARTIAL if self.failures else Outcome.DRAINED


def _is_drain(item: object) -> bool:
    return isinstance(item, TargetGroupDrain)
