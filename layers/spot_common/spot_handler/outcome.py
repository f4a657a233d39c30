"""What happened for one notice: the input to the alert and to the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spot_handler.models import TargetGroupDrain
from spot_handler.planning import InstancePlan


@dataclass
class InterruptionOutcome:
    plan: InstancePlan
    drains: list[TargetGroupDrain] = field(default_factory=list)
    seconds_left: float | None = None  # margin to the deadline when deregistration was sent
    gamelift: Any = None  # spot_handler.gamelift.CheckpointReport when GameLift resources were found
    problems: list[str] = field(default_factory=list)  # failures outside draining, named for the alert

    @property
    def failures(self) -> list[str]:
        found = [f"instance lookup: {self.plan.lookup_error}"] if self.plan.lookup_error else []
        found += [f"target group {d.name}: {d.error}" for d in self.drains if d.error]
        found += [f"tag value {v!r} is not a target group ARN" for v in self.plan.rejected_tag_values]
        found += self.plan.problems
        if self.gamelift is not None:
            found += self.gamelift.failures
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
        if not self.drains:
            if self.failures:
                return "failed"
            return "checkpointed" if self.gamelift is not None else "nothing-to-drain"
        ok = [d for d in self.drains if d.ok]
        if not ok:
            return "failed"
        return "partial" if self.failures else "drained"
