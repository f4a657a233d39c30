"""Amazon GameLift: the calls that checkpoint what an interrupted instance hosts.

No GameLift call filters by instance or compute: ListGameServers scans a whole game server group and
DescribeGameSessions a whole fleet. The logic therefore makes one scan per group or fleet per batch and shares it
among the batch's instances. Records become typed objects here; nothing past this module reads GameLift's dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# DescribeGameSessions' StatusFilter takes a single value: sessions that may still hold players need one scan each.
LIVE_SESSION_STATUSES = ("ACTIVE", "ACTIVATING")
# Player sessions that hold (or are about to take) a slot; COMPLETED and TIMEDOUT players are gone already.
ROSTER_STATUSES = frozenset({"RESERVED", "ACTIVE"})


@dataclass(frozen=True)
class GameServer:
    """A FleetIQ game server as ListGameServers describes it."""

    group_name: str
    group_arn: str | None
    game_server_id: str
    instance_id: str | None
    connection_info: str | None
    game_server_data: str | None
    claim_status: str | None
    utilization_status: str | None
    registration_time: datetime | None
    last_claim_time: datetime | None
    last_health_check_time: datetime | None


@dataclass(frozen=True)
class PlayerSession:
    player_session_id: str
    player_id: str | None
    status: str | None
    player_data: str | None
    creation_time: datetime | None


@dataclass(frozen=True)
class GameSession:
    """A game session as DescribeGameSessions describes it. `game_session_id` is opaque (today it is an ARN)."""

    game_session_id: str
    name: str | None
    fleet_id: str | None
    fleet_arn: str | None
    location: str | None
    compute_name: str | None
    status: str | None
    player_session_creation_policy: str | None
    game_properties: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    game_session_data: str | None = None
    matchmaker_data: str | None = None
    ip_address: str | None = None
    dns_name: str | None = None
    port: int | None = None
    current_player_session_count: int | None = None
    maximum_player_session_count: int | None = None
    creator_id: str | None = None
    creation_time: datetime | None = None


def list_game_servers(gamelift, game_server_group: str) -> list[GameServer]:
    """Every game server of a group (name or ARN), all pages of ListGameServers."""
    paginator = gamelift.get_paginator("list_game_servers")
    return [
        _game_server(record)
        for page in paginator.paginate(GameServerGroupName=game_server_group)
        for record in page.get("GameServers", [])
    ]


def mark_utilized(gamelift, server: GameServer) -> GameServer:
    """UpdateGameServer to UTILIZED, so FleetIQ's ClaimGameServer no longer hands the server out."""
    response = gamelift.update_game_server(
        GameServerGroupName=server.group_arn or server.group_name,
        GameServerId=server.game_server_id,
        UtilizationStatus="UTILIZED",
    )
    return _game_server(response["GameServer"])


def list_game_sessions(gamelift, fleet_id: str, status: str) -> list[GameSession]:
    """Every game session of a fleet (id or ARN) in one status, all pages of DescribeGameSessions."""
    paginator = gamelift.get_paginator("describe_game_sessions")
    return [
        _game_session(record)
        for page in paginator.paginate(FleetId=fleet_id, StatusFilter=status)
        for record in page.get("GameSessions", [])
    ]


def deny_new_players(gamelift, game_session_id: str) -> GameSession:
    """UpdateGameSession with PlayerSessionCreationPolicy DENY_ALL: no new player sessions on a dying host."""
    response = gamelift.update_game_session(GameSessionId=game_session_id, PlayerSessionCreationPolicy="DENY_ALL")
    return _game_session(response["GameSession"])


def list_player_sessions(gamelift, game_session_id: str) -> list[PlayerSession]:
    """The session's RESERVED and ACTIVE players, all pages of DescribePlayerSessions.

    PlayerSessionStatusFilter takes one value; one unfiltered scan filtered here costs fewer calls than two.
    """
    paginator = gamelift.get_paginator("describe_player_sessions")
    players = []
    for page in paginator.paginate(GameSessionId=game_session_id):
        for record in page.get("PlayerSessions", []):
            if record.get("Status") in ROSTER_STATUSES:
                players.append(
                    PlayerSession(
                        player_session_id=record["PlayerSessionId"],
                        player_id=record.get("PlayerId"),
                        status=record.get("Status"),
                        player_data=record.get("PlayerData"),
                        creation_time=record.get("CreationTime"),
                    )
                )
    return players


def _game_server(record: dict) -> GameServer:
    return GameServer(
        group_name=record.get("GameServerGroupName", ""),
        group_arn=record.get("GameServerGroupArn"),
        game_server_id=record["GameServerId"],
        instance_id=record.get("InstanceId"),
        connection_info=record.get("ConnectionInfo"),
        game_server_data=record.get("GameServerData"),
        claim_status=record.get("ClaimStatus"),
        utilization_status=record.get("UtilizationStatus"),
        registration_time=record.get("RegistrationTime"),
        last_claim_time=record.get("LastClaimTime"),
        last_health_check_time=record.get("LastHealthCheckTime"),
    )


def _game_session(record: dict) -> GameSession:
    return GameSession(
        game_session_id=record["GameSessionId"],
        name=record.get("Name"),
        fleet_id=record.get("FleetId"),
        fleet_arn=record.get("FleetArn"),
        location=record.get("Location"),
        compute_name=record.get("ComputeName"),
        status=record.get("Status"),
        player_session_creation_policy=record.get("PlayerSessionCreationPolicy"),
        game_properties=tuple((p["Key"], p["Value"]) for p in record.get("GameProperties", [])),
        game_session_data=record.get("GameSessionData"),
        matchmaker_data=record.get("MatchmakerData"),
        ip_address=record.get("IpAddress"),
        dns_name=record.get("DnsName"),
        port=record.get("Port"),
        current_player_session_count=record.get("CurrentPlayerSessionCount"),
        maximum_player_session_count=record.get("MaximumPlayerSessionCount"),
        creator_id=record.get("CreatorId"),
        creation_time=record.get("CreationTime"),
    )
