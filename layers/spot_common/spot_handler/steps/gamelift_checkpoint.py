"""Owned step: checkpoint the GameLift game sessions and FleetIQ game servers on the instance (the gamelift package).

Owned, not a drain step: it writes checkpoint items and marks servers UTILIZED, once per interruption. The GameLift
package loads on first use, so fleets without GameLift never pay its import at cold start.
"""

from __future__ import annotations

from spot_handler.planning import InstancePlan, needs_checkpoint
from spot_handler.steps import StepContext, StepReport


class GameLiftCheckpointStep:
    name = "GameLift"
    key = "gameLift"

    def applies(self, plan: InstancePlan) -> bool:
        return needs_checkpoint(plan)

    def run(self, context: StepContext, plans: list[InstancePlan], earlier) -> dict[str, StepReport]:
        from spot_handler.gamelift.checkpoint import checkpoint_game_sessions

        reports = checkpoint_game_sessions(context.clients, plans, context.settings, context.clock)
        return {
            instance_id: StepReport(
                step=self.name,
                key=self.key,
                render=lambda listed, r=report: (r.summary_lines(listed), r.document()),
                failures=report.failures,
                data=report,
                checkpointed=True,
            )
            for instance_id, report in reports.items()
        }
