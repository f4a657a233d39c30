"""The checkpoint table's items: one per game server and one per game session (with its roster), laid out as
docs/gamelift-checkpoints.md documents them. aws/checkpoints.py writes them."""

from __future__ import annotations

from datetime import datetime, timedelta

from spot_handler.aws.checkpoints import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, account_checkpoint_id
from spot_handler.gamelift.report import CheckpointReport, GameServerCheckpoint, GameSessionCheckpoint
from spot_handler.planning import InstancePlan
from spot_handler.wording import iso_utc

CHECKPOINT_RETENTION = timedelta(days=7)  # long enough for a backend to re-place or refund; TTL removes it after


def checkpoint_items(plan: InstancePlan, captured_at: datetime, report: CheckpointReport) -> list[dict]:
    """The items of one instance's report: its game servers, then its game sessions."""
    return [
        *(_server_item(plan, captured_at, c) for c in report.game_servers),
        *(_session_item(plan, captured_at, c) for c in report.game_sessions),
    ]


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
