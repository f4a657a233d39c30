"""What is done per FleetIQ game server group and per fleet, for the interrupted instances of one batch.

Per batch: one ListGameServers scan per FleetIQ game server group and two DescribeGameSessions scans (ACTIVE,
ACTIVATING) per fleet, shared by the batch's instances; then, per resource on an interrupted instance, one update
(UTILIZED or DENY_ALL) and for game sessions a roster read; then one BatchWriteItem per 25 checkpoint items.
Every failure is recorded on the instance's report and named in its alert; nothing here raises into the flow.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from aws_lambda_powertools import Logger

from spot_handler.aws import AwsClients
from spot_handler.aws import gamelift as gl
from spot_handler.aws.checkpoints import write_checkpoints
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.drain import utcnow
from spot_handler.gamelift.items import checkpoint_items
from spot_handler.gamelift.report import CheckpointReport, GameServerCheckpoint, GameSessionCheckpoint
from spot_handler.planning import InstancePlan
from spot_handler.settings import Settings
from spot_handler.steps.gamelift_checkpoint import GameLiftSettings, needs_checkpoint, planned

logger = Logger(child=True)

MAX_PARALLEL_CALLS = 8


def checkpoint_game_sessions(
    clients: AwsClients,
    plans: list[InstancePlan],
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
) -> dict[str, CheckpointReport]:
    """Checkpoint the FleetIQ game servers and fleet game sessions of every plan that needs it.

    Returns {instance id: report}; instances without GameLift tags have no entry. Never raises: the alert that
    follows must go out whatever GameLift or DynamoDB answer.
    """
    chosen: dict[str, InstancePlan] = {}
    for plan in plans:
        if needs_checkpoint(plan):
            chosen.setdefault(plan.instance_id, plan)  # two notices for one instance: one checkpoint
    table_name = settings.step(GameLiftSettings).checkpoint_table_name
    reports = {
        instance_id: CheckpointReport(
            instance_id=instance_id,
            table_name=table_name,
            game_server_group=planned(plan).game_server_group,
            fleet_id=planned(plan).fleet_id,
            compute_name=planned(plan).compute_name,
            account=plan.notice.account,
        )
        for instance_id, plan in chosen.items()
    }
    if not reports:
        return reports
    try:
        _checkpoint(clients, list(chosen.values()), reports, settings, clock)
    except Exception as exc:
        logger.exception("GameLift checkpoint failed unexpectedly")
        for report in reports.values():
            report.problems.append(f"GameLift checkpoint stopped by an unexpected error: {type(exc).__name__}: {exc}")
    return reports


def _checkpoint(
    clients: AwsClients,
    plans: list[InstancePlan],
    reports: dict[str, CheckpointReport],
    settings: Settings,
    clock: Callable[[], datetime],
) -> None:
    _hold(clients.gamelift, plans, reports)
    _store(clients.dynamodb, plans, reports, settings.step(GameLiftSettings).checkpoint_table_name, clock())


def _hold(gamelift, plans: list[InstancePlan], reports: dict[str, CheckpointReport]) -> None:
    """Scan each group and fleet once for the batch, then hold what is on an interrupted instance, in parallel."""
    groups: dict[str, list[InstancePlan]] = {}
    fleets: dict[str, list[InstancePlan]] = {}
    for plan in plans:
        on_instance = planned(plan)
        if on_instance.game_server_group:
            groups.setdefault(on_instance.game_server_group, []).append(plan)
        if on_instance.fleet_id:
            fleets.setdefault(on_instance.fleet_id, []).append(plan)

    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_CALLS, thread_name_prefix="gamelift") as pool:
        group_scans = {group: pool.submit(_scan_group, gamelift, group) for group in groups}
        fleet_scans = {fleet: pool.submit(_scan_fleet, gamelift, fleet) for fleet in fleets}

        server_work = []
        for group, members in groups.items():
            servers, error = group_scans[group].result()
            for plan in members:
                if error:
                    reports[plan.instance_id].problems.append(error)
                for server in servers:
                    if server.instance_id == plan.instance_id:
                        server_work.append((plan.instance_id, pool.submit(_hold_game_server, gamelift, server)))
        session_work = []
        for fleet, members in fleets.items():
            sessions, errors = fleet_scans[fleet].result()
            for plan in members:
                reports[plan.instance_id].problems.extend(errors)
                for session in sessions:
                    if session.compute_name == planned(plan).compute_name:
                        session_work.append((plan.instance_id, pool.submit(_hold_game_session, gamelift, session)))

        for instance_id, future in server_work:
            reports[instance_id].game_servers.append(future.result())
        for instance_id, future in session_work:
            reports[instance_id].game_sessions.append(future.result())


def _store(
    dynamodb, plans: list[InstancePlan], reports: dict[str, CheckpointReport], table: str, captured_at: datetime
) -> None:
    """One item per held game server and game session, written in batches; what was not stored is a problem."""
    items = []
    for plan in plans:
        report = reports[plan.instance_id]
        report.captured_at = captured_at
        items += checkpoint_items(plan, captured_at, report)
    if not items:
        return
    if not table:
        for report in reports.values():
            if report.game_servers or report.game_sessions:
                report.problems.append("checkpoint not stored: no checkpoint table configured (CHECKPOINT_TABLE_NAME)")
        return
    failed = write_checkpoints(dynamodb, table, items)
    for report in reports.values():
        for checkpoint in [*report.game_servers, *report.game_sessions]:
            reason = failed.get((report.instance_id, report.stored_id(checkpoint)))
            checkpoint.stored = reason is None
            if reason:
                stored_id = report.stored_id(checkpoint)
                report.problems.append(f"checkpoint {stored_id} not stored in table {table}: {reason}")


def _scan_group(gamelift, group: str) -> tuple[list[gl.GameServer], str | None]:
    try:
        return gl.list_game_servers(gamelift, group), None
    except AWS_ERRORS as exc:
        return [], f"game server group {group}: {_call_failed(exc)}"


def _scan_fleet(gamelift, fleet_id: str) -> tuple[list[gl.GameSession], list[str]]:
    found: dict[str, gl.GameSession] = {}
    errors = []
    for status in gl.LIVE_SESSION_STATUSES:
        try:
            for session in gl.list_game_sessions(gamelift, fleet_id, status):
                found.setdefault(session.game_session_id, session)  # one that turned ACTIVE between the two scans
        except AWS_ERRORS as exc:
            errors.append(f"fleet {fleet_id} ({status} game sessions): {_call_failed(exc)}")
    return list(found.values()), errors


def _hold_game_server(gamelift, server: gl.GameServer) -> GameServerCheckpoint:
    """Mark an AVAILABLE game server UTILIZED; a UTILIZED one is hosting players already and is left alone."""
    checkpoint = GameServerCheckpoint(server=server)
    if server.utilization_status == "AVAILABLE":
        try:
            gl.mark_utilized(gamelift, server)
            checkpoint.marked_utilized = True
        except AWS_ERRORS as exc:
            checkpoint.error = f"not marked UTILIZED: {_call_failed(exc)}"
    return checkpoint


def _hold_game_session(gamelift, session: gl.GameSession) -> GameSessionCheckpoint:
    """Deny new players first, then read the roster, so no player joins after it was captured."""
    checkpoint = GameSessionCheckpoint(session=session)
    try:
        gl.deny_new_players(gamelift, session.game_session_id)
        checkpoint.players_denied = True
    except AWS_ERRORS as exc:
        checkpoint.errors.append(f"new players not denied: {_call_failed(exc)}")
    try:
        checkpoint.players = gl.list_player_sessions(gamelift, session.game_session_id)
        checkpoint.roster_read = True
    except AWS_ERRORS as exc:
        checkpoint.errors.append(f"roster not read: {_call_failed(exc)}")
    return checkpoint


def _call_failed(exc: BaseException) -> str:
    operation = getattr(exc, "operation_name", None)
    return f"{operation} {describe_error(exc)}" if operation else describe_error(exc)
