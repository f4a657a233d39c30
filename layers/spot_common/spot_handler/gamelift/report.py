"""What was checkpointed for one instance, and the `gamelift` part of its alert: the e-mail lines and the JSON
member. Rosters and session data are not repeated here: they are in the checkpoint table (items.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from spot_handler.aws import gamelift as gl
from spot_handler.aws.checkpoints import (
    PARTITION_KEY,
    account_checkpoint_id,
    game_server_checkpoint_id,
    game_session_checkpoint_id,
)
from spot_handler.wording import iso_utc, plural


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


def _address(session: gl.GameSession) -> str:
    host = session.dns_name or session.ip_address or "no address"
    return f"{host}:{session.port}" if session.port else host
