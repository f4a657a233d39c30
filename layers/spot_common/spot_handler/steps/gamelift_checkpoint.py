"""Owned step: checkpoint the GameLift game sessions and FleetIQ game servers on the instance (the gamelift package).

Owned, not a drain step: it writes checkpoint items and marks servers UTILIZED, once per interruption. The GameLift
package loads on first use, so fleets without GameLift never pay its import at cold start.

What is on the instance comes from its tags: `GameLiftGameServerGroup` (a FleetIQ game server group, by name or
ARN), `GameLiftFleetId` and `GameLiftComputeName` (a fleet in which the instance is a compute; its name defaults to
the instance id).
"""

from __future__ import annotations

from dataclasses import dataclass

from spot_handler.models import InstanceFacts, InterruptionNotice
from spot_handler.planning import Attached, InstancePlan, StepPlan
from spot_handler.settings import Settings, variable
from spot_handler.steps import StepContext, StepReport

GAME_SERVER_GROUP_TAG = "GameLiftGameServerGroup"
FLEET_TAG = "GameLiftFleetId"
COMPUTE_NAME_TAG = "GameLiftComputeName"


@dataclass(frozen=True)
class GameLiftSettings:
    checkpoint_table_name: str = variable("CHECKPOINT_TABLE_NAME", "")


@dataclass(frozen=True)
class GameLiftPlan(StepPlan):
    game_server_group: str | None = None
    fleet_id: str | None = None
    compute_name: str | None = None  # set with fleet_id


class GameLiftCheckpointStep:
    name = "GameLift"
    key = "gameLift"
    settings = GameLiftSettings

    def plan(
        self, instance: InstanceFacts, notice: InterruptionNotice, attached: Attached, settings: Settings
    ) -> GameLiftPlan | None:
        group = instance.tags.get(GAME_SERVER_GROUP_TAG) or None
        fleet = instance.tags.get(FLEET_TAG) or None
        if not (group or fleet):
            return None
        compute = (instance.tags.get(COMPUTE_NAME_TAG) or instance.instance_id) if fleet else None
        return GameLiftPlan(game_server_group=group, fleet_id=fleet, compute_name=compute)

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


def planned(plan: InstancePlan) -> GameLiftPlan | None:
    """The GameLift resources on one instance (None: no GameLift tags, not found, or its notice ignored)."""
    return plan.by_step.get(GameLiftCheckpointStep.key)


def needs_checkpoint(plan: InstancePlan) -> bool:
    """GameLift work is done for interruptions (and rebalance when draining early), never for ignored notices."""
    return plan.ignored_reason is None and plan.drain and planned(plan) is not None
