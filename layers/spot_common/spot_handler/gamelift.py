"""GameLift checkpoint: stop new players reaching an interrupted instance and store what a game backend needs to
re-place its sessions.

Per batch: one ListGameServers scan per FleetIQ game server group and two DescribeGameSessions scans (ACTIVE,
ACTIVATING) per fleet, shared by the batch's instances; then, per resource on an interrupted instance, one update
(UTILIZED or DENY_ALL) and for game sessions a roster read; then one BatchWriteItem per 25 checkpoint items.
Every failure is recorded on the instance's report and named in its alert; nothing here raises into the flow.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from spot_handler.aws import AwsClients
from spot_handler.aws import gamelift as gl
from spot_handler.aws.checkpoints import (
    PARTITION_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
    account_checkpoint_id,
    game_server_checkpoint_id,
    game_session_checkpoint_id,
    write_checkpoints,
)
from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.drain import utcnow
from spot_handler.planning import InstancePlan, needs_checkpoint
from spot_handler.settings import Settings
from spot_handler.wording import iso_utc, plural

logger = Logger(child=True)

MAX_PARALLEL_CALLS = 8
CHECKPOINT_RETENTION = timedelta(days=7)  # long enough for a backend to re-place or refund; TTL removes it after


@dataclass
class GameServerCheckpoint:
    server: gl.GameServer  # as listed, before it was marked
    marked_utilized: bool = False
    error: str | None = None
    stored: bool = False

    @property
    def checkpoint_id(self) -> str:
        return game_server_checkpoint_id(self.server.group_name, self.server.game_server_id)


@dataclass
class GameSessionCheckpoint:
    session: gl.GameSession  # as found, before new players were denied
    players_denied: bool = False
    players: list[gl.PlayerSession] = field(default_factory=list)
    roster_read: bool = False
    errors: list[str] = field(default_factory=list)
    stored: bool = False

    @property
    def checkpoint_id(self) -> str:
        return game_session_checkpoint_id(self.session.game_session_id)


@dataclass
class CheckpointReport:
    """What was checkpointed for one instance: the `gamelift` part of its alert."""

    instance_id: str
    table_name: str
    game_server_group: str | None = None
    fleet_id: str | None = None
    compute_name: str | None = None
    game_servers: list[GameServerCheckpoint] = field(default_factory=list)
    game_sessions: list[GameSessionCheckpoint] = field(default_factory=list)
    captured_at: datetime | None = None
    problems: list[str] = field(default_factory=list)  # failures not tied to one session or server
    account: str = "unknown"  # the instance's account: the first part of every stored checkpoint id

    def stored_id(self, checkpoint: GameServerCheckpoint | GameSessionCheckpoint) -> str:
        return account_checkpoint_id(self.account, checkpoint.checkpoint_id)

    @property
    def failures(self) -> list[str]:
        found = list(self.problems)
        for s in self.game_servers:
            if s.error:
                found.append(f"game server {s.server.game_server_id} (group {s.server.group_name}): {s.error}")
        for c in self.game_sessions:
            found += [f"game session {c.session.game_session_id}: {error}" for error in c.errors]
        return found

    @property
    def player_count(self) -> int:
        return sum(len(c.players) for c in self.game_sessions)

    @property
    def stored_count(self) -> int:
        return sum(1 for c in self.game_sessions if c.stored) + sum(1 for s in self.game_servers if s.stored)

    def summary_lines(self, listed: int = 20) -> list[str]:
        """E-mail lines: what was found and done, with counts, and the ids of the first `listed` of each kind."""
        lines = []
        if self.fleet_id:
            count = len(self.game_sessions)
            where = f"compute {self.compute_name} of fleet {self.fleet_id}"
            if count:
                denied = sum(1 for c in self.game_sessions if c.players_denied)
                lines.append(
                    f"- {plural(count, 'game session')} on {where}: new players denied on {denied}, "
                    f"{plural(self.player_count, 'player')} captured"
                )
                for c in self.game_sessions[:listed]:
                    s = c.session
                    lines.append(f"  {s.name or 'unnamed'} at {_address(s)}, {plural(len(c.players), 'player')}")
                    lines.append(f"    {s.game_session_id}")  # its own line: ids are long, e-mail lines are short
                if count > listed:
                    lines.append(f"  and {count - listed} more")
            else:
                lines.append(f"- no active game sessions on {where}")
        if self.game_server_group:
            count = len(self.game_servers)
            if count:
                marked = sum(1 for s in self.game_servers if s.marked_utilized)
                already = sum(1 for s in self.game_servers if s.server.utilization_status == "UTILIZED")
                lines.append(
                    f"- {plural(count, 'game server')} of group {self.game_server_group} on this instance: "
                    f"{marked} marked UTILIZED, {already} already UTILIZED"
                )
                for s in self.game_servers[:listed]:
                    where = f" ({s.server.connection_info})" if s.server.connection_info else ""
                    lines.append(f"  {s.server.game_server_id}{where}")
                if count > listed:
                    lines.append(f"  and {count - listed} more")
            else:
                lines.append(f"- no game servers of group {self.game_server_group} on this instance")
        total = len(self.game_sessions) + len(self.game_servers)
        if total:
            table = self.table_name or "(no table configured)"
            lines.append(
                f"- checkpoint: {self.stored_count} of {plural(total, 'item')} stored in {table} "
                f"({PARTITION_KEY} = {self.instance_id})"
            )
        return lines

    def document(self) -> dict:
        """The alert's JSON `gameLift` member: counts, ids and where each session can be reached or re-placed.

        Rosters and session data stay in the checkpoint table (the alert repeats its JSON per protocol and SNS
        caps a message at 256 KB); each entry names its checkpoint key.
        """
        return {
            "checkpointTable": self.table_name or None,
            "checkpointPartitionKey": {PARTITION_KEY: self.instance_id},
            "capturedAt": iso_utc(self.captured_at),
            "gameServerGroup": self.game_server_group,
            "fleetId": self.fleet_id,
            "computeName": self.compute_name,
            "gameSessionCount": len(self.game_sessions),
            "gameServerCount": len(self.game_servers),
            "playerCount": self.player_count,
            "storedCount": self.stored_count,
            "gameSessions": [
                {
                    "gameSessionId": c.session.game_session_id,
                    "name": c.session.name,
                    "fleetId": c.session.fleet_id,
                    "location": c.session.location,
                    "computeName": c.session.compute_name,
                    "status": c.session.status,
                    "ipAddress": c.session.ip_address,
                    "dnsName": c.session.dns_name,
                    "port": c.session.port,
                    "playerCount": len(c.players),
                    "playersDenied": c.players_denied,
                    "checkpointId": self.stored_id(c),
                    "stored": c.stored,
                }
                for c in self.game_sessions
            ],
            "gameServers": [
                {
                    "gameServerGroupName": s.server.group_name,
                    "gameServerGroupArn": s.server.group_arn,
                    "gameServerId": s.server.game_server_id,
                    "connectionInfo": s.server.connection_info,
                    "claimStatus": s.server.claim_status,
                    "utilizationStatusBefore": s.server.utilization_status,
                    "markedUtilized": s.marked_utilized,
                    "checkpointId": self.stored_id(s),
                    "stored": s.stored,
                }
                for s in self.game_servers
            ],
        }


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
    reports = {
        instance_id: CheckpointReport(
            instance_id=instance_id,
            table_name=settings.checkpoint_table_name,
            game_server_group=plan.game_server_group,
            fleet_id=plan.gamelift_fleet_id,
            compute_name=plan.gamelift_compute_name,
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
    groups: dict[str, list[InstancePlan]] = {}
    fleets: dict[str, list[InstancePlan]] = {}
    for plan in plans:
        if plan.game_server_group:
            groups.setdefault(plan.game_server_group, []).append(plan)
        if plan.gamelift_fleet_id:
            fleets.setdefault(plan.gamelift_fleet_id, []).append(plan)

    gamelift = clients.gamelift
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
                    if session.compute_name == plan.gamelift_compute_name:
                        session_work.append((plan.instance_id, pool.submit(_hold_game_session, gamelift, session)))

        for instance_id, future in server_work:
            reports[instance_id].game_servers.append(future.result())
        for instance_id, future in session_work:
            reports[instance_id].game_sessions.append(future.result())

    captured_at = clock()
    items = []
    for plan in plans:
        report = reports[plan.instance_id]
        report.captured_at = captured_at
        items += [_server_item(plan, captured_at, c) for c in report.game_servers]
        items += [_session_item(plan, captured_at, c) for c in report.game_sessions]
    if not items:
        return
    if not settings.checkpoint_table_name:
        for report in reports.values():
            if report.game_servers or report.game_sessions:
                report.problems.append("checkpoint not stored: no checkpoint table configured (CHECKPOINT_TABLE_NAME)")
        return
    table = settings.checkpoint_table_name
    failed = write_checkpoints(clients.dynamodb, table, items)
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


# ---- checkpoint items (schema: docs/gamelift-checkpoints.md) --------------------------------------------------------


def _common(plan: InstancePlan, captured_at: datetime, kind: str, checkpoint_id: str) -> dict:
    notice = plan.notice
    return {
        PARTITION_KEY: plan.instance_id,
        SORT_KEY: account_checkpoint_id(notice.account, checkpoint_id),
        "kind": kind,
        "noticeId": notice.notice_id,
        "detailType": notice.kind.value,
        "region": notice.region,
        "account": notice.account,
        "deadline": iso_utc(notice.deadline, millis=True),
        "capturedAt": iso_utc(captured_at, millis=True),
        TTL_ATTRIBUTE: int((captured_at + CHECKPOINT_RETENTION).timestamp()),
    }


def _server_item(plan: InstancePlan, captured_at: datetime, c: GameServerCheckpoint) -> dict:
    s = c.server
    return {
        **_common(plan, captured_at, "game-server", c.checkpoint_id),
        "gameServerGroupName": s.group_name,
        "gameServerGroupArn": s.group_arn,
        "gameServerId": s.game_server_id,
        "connectionInfo": s.connection_info,
        "gameServerData": s.game_server_data,
        "claimStatus": s.claim_status,
        "utilizationStatus": s.utilization_status,
        "markedUtilized": c.marked_utilized,
        "registrationTime": iso_utc(s.registration_time, millis=True),
        "lastClaimTime": iso_utc(s.last_claim_time, millis=True),
        "lastHealthCheckTime": iso_utc(s.last_health_check_time, millis=True),
    }


def _session_item(plan: InstancePlan, captured_at: datetime, c: GameSessionCheckpoint) -> dict:
    s = c.session
    return {
        **_common(plan, captured_at, "game-session", c.checkpoint_id),
        "gameSessionId": s.game_session_id,
        # GameLift's game session id is the session's ARN; kept under both names so readers need not know that.
        "gameSessionArn": s.game_session_id if s.game_session_id.startswith("arn:") else None,
        "name": s.name,
        "fleetId": s.fleet_id,
        "fleetArn": s.fleet_arn,
        "location": s.location,
        "computeName": s.compute_name,
        "status": s.status,
        "playerSessionCreationPolicyBefore": s.player_session_creation_policy,
        "playersDenied": c.players_denied,
        "gameProperties": [{"key": k, "value": v} for k, v in s.game_properties],
        "gameSessionData": s.game_session_data,
        "matchmakerData": s.matchmaker_data,
        "ipAddress": s.ip_address,
        "dnsName": s.dns_name,
        "port": s.port,
        "maximumPlayerSessionCount": s.maximum_player_session_count,
        "currentPlayerSessionCount": s.current_player_session_count,
        "creatorId": s.creator_id,
        "creationTime": iso_utc(s.creation_time, millis=True),
        "rosterComplete": c.roster_read,
        "playerCount": len(c.players),
        "players": [
            {
                "playerSessionId": p.player_session_id,
                "playerId": p.player_id,
                "status": p.status,
                "playerData": p.player_data,
                "creationTime": iso_utc(p.creation_time, millis=True),
            }
            for p in c.players
        ],
    }


def _address(session: gl.GameSession) -> str:
    host = session.dns_name or session.ip_address or "no address"
    return f"{host}:{session.port}" if session.port else host
