"""What the GameLift fake knows: FleetIQ game servers, Anywhere fleets with their computes, game and player sessions,
injected faults and the call log; and the five operations the handler calls, answered from it.

Only what the handler calls is implemented (ListGameServers, UpdateGameServer, DescribeGameSessions,
UpdateGameSession, DescribePlayerSessions); everything else a test or the demo needs is seeded through the
``add_*`` methods, which validate each record against the model as a response would be.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from botocore.model import OperationNotFoundError

from local.gamelift_model import (
    MODEL,
    FakeResponseInvalid,
    GameLiftError,
    shape_errors,
    validate_request,
    validate_response,
)

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


def _now() -> float:
    # Milliseconds, like the service; a float so botocore parses it as epoch seconds with a fraction.
    return round(time.time(), 3)


def _strip_none(record: dict) -> dict:
    return {key: value for key, value in record.items() if value is not None}


class GameLiftState:
    """Everything the fake knows: resources, injected faults, and the call log.

    Records are stored in wire form (the exact dicts the API returns), so the seeding methods return what
    Describe*/List* will answer. All methods are thread-safe.
    """

    def __init__(self, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT, max_page_size: int = 100):
        self.region = region
        self.account = account
        # The model sets no maximum Limit; the real service caps pages at an undocumented size. The fake caps
        # them too (and uses it when Limit is absent) so a client that ignores NextToken fails in tests.
        self.max_page_size = max_page_size
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every resource, fault and logged call."""
        with self.lock:
            self.game_server_groups: dict[str, dict] = {}
            self.game_servers: dict[tuple[str, str], dict] = {}
            self.fleets: dict[str, dict] = {}
            self.computes: dict[tuple[str, str], dict] = {}
            self.game_sessions: dict[str, dict] = {}
            self.player_sessions: dict[str, dict] = {}
            self.faults: dict[str, list[dict]] = {}
            self.calls: list[dict] = []
            self.bugs: list[str] = []

    # ---- ARNs --------------------------------------------------------------------------------------------

    def group_arn(self, name: str) -> str:
        return f"arn:aws:gamelift:{self.region}:{self.account}:gameservergroup/{name}"

    def fleet_arn(self, fleet_id: str) -> str:
        return f"arn:aws:gamelift:{self.region}:{self.account}:fleet/{fleet_id}"

    def game_session_arn(self, fleet_id: str, location: str, suffix: str) -> str:
        # The model documents the format: no account field, and a location segment outside the home Region.
        where = "" if location == self.region else f"{location}/"
        return f"arn:aws:gamelift:{self.region}::gamesession/{fleet_id}/{where}{suffix}"

    # ---- seeding API ---------------------------------------------------------------------------------------

    def add_game_server_group(self, name: str) -> dict:
        """Create an ACTIVE FleetIQ game server group without CreateGameServerGroup's launch-template machinery."""
        with self.lock:
            now = _now()
            group = {
                "GameServerGroupName": name,
                "GameServerGroupArn": self.group_arn(name),
                "RoleArn": f"arn:aws:iam::{self.account}:role/GameLiftFleetIQRole",
                "InstanceDefinitions": [{"InstanceType": "c5.large"}, {"InstanceType": "c5a.large"}],
                "BalancingStrategy": "SPOT_PREFERRED",
                "GameServerProtectionPolicy": "NO_PROTECTION",
                "AutoScalingGroupArn": f"arn:aws:autoscaling:{self.region}:{self.account}:autoScalingGroup:"
                f"{uuid.uuid4()}:autoScalingGroupName/gamelift-gameservergroup-{name}",
                "Status": "ACTIVE",
                "CreationTime": now,
                "LastUpdatedTime": now,
            }
            self._check_record("GameServerGroup", group)
            self.game_server_groups[name] = group
            return copy.deepcopy(group)

    def add_game_server(
        self,
        group: str,
        game_server_id: str,
        instance_id: str,
        *,
        connection_info: str | None = None,
        data: str | None = None,
        claimed: bool = False,
        utilization_status: str = "AVAILABLE",
        registration_time: float | None = None,
    ) -> dict:
        """Register a game server in a group (name or ARN); the group is created if it does not exist."""
        with self.lock:
            name = self._group_name(group)
            if name not in self.game_server_groups:
                self.add_game_server_group(name)
            now = _now()
            server = _strip_none(
                {
                    "GameServerGroupName": name,
                    "GameServerGroupArn": self.group_arn(name),
                    "GameServerId": game_server_id,
                    "InstanceId": instance_id,
                    "ConnectionInfo": connection_info,
                    "GameServerData": data,
                    "ClaimStatus": "CLAIMED" if claimed else None,
                    "UtilizationStatus": utilization_status,
                    "RegistrationTime": registration_time or now,
                    "LastClaimTime": now if claimed else None,
                    "LastHealthCheckTime": now,
                }
            )
            self._check_record("GameServer", server)
            self.game_servers[(name, game_server_id)] = server
            return copy.deepcopy(server)

    def add_fleet(self, fleet_id: str | None = None, *, locations: tuple[str, ...] = ("custom-location-1",)) -> dict:
        """Create an Anywhere fleet, whose computes live in custom locations (there is no Fleet shape in the answers
        the fake gives, so this is plain bookkeeping)."""
        with self.lock:
            fleet_id = fleet_id or f"fleet-{uuid.uuid4()}"
            fleet = {"FleetId": fleet_id, "FleetArn": self.fleet_arn(fleet_id), "Locations": list(locations)}
            self.fleets[fleet_id] = fleet
            return copy.deepcopy(fleet)

    def add_compute(
        self,
        fleet: str,
        compute_name: str,
        *,
        ip_address: str = "10.0.0.10",
        location: str | None = None,
    ) -> dict:
        """Register an ACTIVE compute (an instance you host game servers on) in a fleet (id or ARN)."""
        with self.lock:
            fleet_record = self._fleet(fleet)
            location = location or fleet_record["Locations"][0]
            if location not in fleet_record["Locations"]:
                raise GameLiftError(
                    "InvalidRequestException",
                    f"Location {location} is not a location of fleet {fleet_record['FleetId']}",
                )
            compute = _strip_none(
                {
                    "FleetId": fleet_record["FleetId"],
                    "FleetArn": fleet_record["FleetArn"],
                    "ComputeName": compute_name,
                    "ComputeArn": f"arn:aws:gamelift:{self.region}:{self.account}:compute/{compute_name}",
                    "IpAddress": ip_address,
                    "ComputeStatus": "ACTIVE",
                    "Location": location,
                    "CreationTime": _now(),
                    "GameLiftServiceSdkEndpoint": f"wss://{self.region}.api.amazongamelift.com",
                }
            )
            self._check_record("Compute", compute)
            self.computes[(fleet_record["FleetId"], compute_name)] = compute
            return copy.deepcopy(compute)

    def add_game_session(
        self,
        fleet: str,
        compute_name: str,
        *,
        game_session_id: str | None = None,
        name: str | None = None,
        maximum_players: int = 10,
        status: str = "ACTIVE",
        player_session_creation_policy: str = "ACCEPT_ALL",
        game_properties: dict[str, str] | None = None,
        game_session_data: str | None = None,
        matchmaker_data: str | None = None,
        creator_id: str | None = None,
        port: int | None = None,
    ) -> dict:
        """Start a game session on a compute (by name) of a fleet (id or ARN), in the compute's location."""
        with self.lock:
            fleet_record = self._fleet(fleet)
            compute = self._compute(fleet_record, compute_name)
            suffix = game_session_id or f"gsess-{uuid.uuid4()}"
            arn = self.game_session_arn(fleet_record["FleetId"], compute["Location"], suffix)
            if arn in self.game_sessions:
                raise GameLiftError("ConflictException", f"Game session {arn} already exists")
            session = _strip_none(
                {
                    "GameSessionId": arn,
                    "Name": name,
                    "FleetId": fleet_record["FleetId"],
                    "FleetArn": fleet_record["FleetArn"],
                    "CreationTime": _now(),
                    "CurrentPlayerSessionCount": 0,
                    "MaximumPlayerSessionCount": maximum_players,
                    "Status": status,
                    "GameProperties": [{"Key": k, "Value": v} for k, v in (game_properties or {}).items()] or None,
                    "IpAddress": compute.get("IpAddress"),
                    "DnsName": compute.get("DnsName"),
                    "Port": port or self._next_port(fleet_record["FleetId"], compute["ComputeName"]),
                    "PlayerSessionCreationPolicy": player_session_creation_policy,
                    "CreatorId": creator_id,
                    "GameSessionData": game_session_data,
                    "MatchmakerData": matchmaker_data,
                    "Location": compute["Location"],
                    "ComputeName": compute["ComputeName"],
                }
            )
            self._check_record("GameSession", session)
            self.game_sessions[arn] = session
            return copy.deepcopy(session)

    def add_player_session(
        self,
        game_session_id: str,
        player_id: str,
        *,
        status: str = "ACTIVE",
        player_data: str | None = None,
        player_session_id: str | None = None,
    ) -> dict:
        """Add a player to a game session (full ARN, or the id suffix), bypassing the slot/policy checks."""
        with self.lock:
            session = self._game_session(game_session_id)
            return self._new_player_session(session, player_id, player_data, status, player_session_id)

    def load(self, seed: dict) -> dict:
        """Seed from JSON: ``{"reset": bool, "game_server_groups": [...], "game_servers": [...], "fleets": [...],
        "computes": [...], "game_sessions": [...], "player_sessions": [...]}`` where every item holds the keyword
        arguments of the matching ``add_*`` method. Returns the created records under the same keys."""
        methods: dict[str, Callable[..., dict]] = {
            "game_server_groups": self.add_game_server_group,
            "game_servers": self.add_game_server,
            "fleets": self.add_fleet,
            "computes": self.add_compute,
            "game_sessions": self.add_game_session,
            "player_sessions": self.add_player_session,
        }
        unknown = set(seed) - set(methods) - {"reset"}
        if unknown:
            raise ValueError(f"unknown seed keys: {sorted(unknown)}")
        with self.lock:
            if seed.get("reset"):
                self.reset()
            return {key: [method(**item) for item in seed.get(key, [])] for key, method in methods.items()}

    def snapshot(self) -> dict:
        """Everything stored, in wire form, for ``GET /_fake/state`` and demo before/after views."""
        with self.lock:
            return copy.deepcopy(
                {
                    "region": self.region,
                    "account": self.account,
                    "game_server_groups": list(self.game_server_groups.values()),
                    "game_servers": list(self.game_servers.values()),
                    "fleets": list(self.fleets.values()),
                    "computes": list(self.computes.values()),
                    "game_sessions": list(self.game_sessions.values()),
                    "player_sessions": list(self.player_sessions.values()),
                    "calls": len(self.calls),
                    "bugs": list(self.bugs),
                }
            )

    # ---- fault injection and call log ----------------------------------------------------------------------

    def inject_fault(
        self,
        operation: str,
        code: str = "ThrottlingException",
        *,
        count: int = 1,
        status: int = 400,
        message: str = "Rate exceeded",
    ) -> None:
        """Make the next ``count`` calls of ``operation`` ("*" for any) answer ``code`` with HTTP ``status``.

        GameLift's model declares no throttling error; the front door answers ``ThrottlingException`` (HTTP 400),
        which botocore's retry handler retries. IAM denials arrive as ``AccessDeniedException`` (400), not the
        modeled ``UnauthorizedException``. Any code and status can be injected."""
        with self.lock:
            self.faults.setdefault(operation, []).append(
                {"code": code, "status": status, "message": message, "remaining": count}
            )

    def calls_of(self, operation: str) -> list[dict]:
        """Logged calls of one operation, oldest first, faulted and failed ones included."""
        with self.lock:
            return [copy.deepcopy(call) for call in self.calls if call["operation"] == operation]

    def _take_fault(self, operation: str) -> dict | None:
        with self.lock:
            for key in (operation, "*"):
                queue = self.faults.get(key)
                if queue:
                    fault = queue[0]
                    fault["remaining"] -= 1
                    if fault["remaining"] <= 0:
                        queue.pop(0)
                    return fault
        return None

    # ---- dispatch ------------------------------------------------------------------------------------------

    def call(self, operation: str, params: dict) -> dict:
        """Run one API call as the HTTP front end does: log, injected fault, request validation, the operation,
        response validation. Raises GameLiftError for API errors."""
        entry = {"operation": operation, "params": copy.deepcopy(params), "time": time.time(), "outcome": "ok"}
        with self.lock:
            self.calls.append(entry)
        try:
            fault = self._take_fault(operation)
            if fault:
                raise GameLiftError(fault["code"], fault["message"], fault["status"])
            try:
                model = MODEL.operation_model(operation)
            except OperationNotFoundError:
                raise GameLiftError("UnknownOperationException", f"GameLift has no operation {operation}") from None
            handler = getattr(self, f"_op_{operation}", None)
            if handler is None:
                raise GameLiftError("NotImplementedByFake", f"The GameLift fake does not implement {operation}")
            validate_request(model, params)
            with self.lock:
                body = handler(params)
            try:
                validate_response(model, body)
            except FakeResponseInvalid as bug:
                with self.lock:
                    self.bugs.append(str(bug))
                raise
            return body
        except GameLiftError as error:
            entry["outcome"] = error.code
            raise
        except FakeResponseInvalid:
            entry["outcome"] = "FakeResponseInvalid"
            raise

    # ---- helpers -------------------------------------------------------------------------------------------

    def _check_record(self, shape_name: str, record: dict) -> None:
        # Seeding goes through the same model check as responses, so a bad seed fails where it is written.
        problems = shape_errors(MODEL.shape_for(shape_name), record)
        if problems:
            raise ValueError(f"invalid {shape_name} seed: " + "; ".join(problems))

    @staticmethod
    def _group_name(name_or_arn: str) -> str:
        return name_or_arn.rsplit("gameservergroup/", 1)[-1]

    def _group(self, name_or_arn: str) -> dict:
        group = self.game_server_groups.get(self._group_name(name_or_arn))
        if group is None:
            raise GameLiftError("NotFoundException", f"Game server group {name_or_arn} not found")
        return group

    def _fleet(self, id_or_arn: str) -> dict:
        fleet = self.fleets.get(id_or_arn.rsplit("/", 1)[-1])
        if fleet is None:
            raise GameLiftError("NotFoundException", f"Fleet {id_or_arn} not found")
        return fleet

    def _game_session(self, id_or_suffix: str) -> dict:
        session = self.game_sessions.get(id_or_suffix)
        if session is None:
            matches = [s for arn, s in self.game_sessions.items() if arn.rsplit("/", 1)[-1] == id_or_suffix]
            session = matches[0] if len(matches) == 1 else None
        if session is None:
            raise GameLiftError("NotFoundException", f"Game session {id_or_suffix} not found")
        return session

    def _compute(self, fleet: dict, compute_name: str) -> dict:
        compute = self.computes.get((fleet["FleetId"], compute_name))
        if compute is None:
            raise GameLiftError("NotFoundException", f"Compute {compute_name} not found in {fleet['FleetId']}")
        return compute

    def _next_port(self, fleet_id: str, compute_name: str) -> int:
        used = {
            s.get("Port")
            for s in self.game_sessions.values()
            if s["FleetId"] == fleet_id and s.get("ComputeName") == compute_name
        }
        port = 7777
        while port in used:
            port += 1
        return port

    def _new_player_session(
        self, session: dict, player_id: str, player_data: str | None, status: str, player_session_id: str | None = None
    ) -> dict:
        player = _strip_none(
            {
                "PlayerSessionId": player_session_id or f"psess-{uuid.uuid4()}",
                "PlayerId": player_id,
                "GameSessionId": session["GameSessionId"],
                "FleetId": session["FleetId"],
                "FleetArn": session["FleetArn"],
                "CreationTime": _now(),
                "Status": status,
                "IpAddress": session.get("IpAddress"),
                "DnsName": session.get("DnsName"),
                "Port": session.get("Port"),
                "PlayerData": player_data,
            }
        )
        self._check_record("PlayerSession", player)
        self.player_sessions[player["PlayerSessionId"]] = player
        if status in ("RESERVED", "ACTIVE"):
            session["CurrentPlayerSessionCount"] += 1
        return copy.deepcopy(player)

    def _page(self, operation: str, params: dict, items: list[dict], result_key: str) -> dict:
        """Real pagination: ``Limit`` items per page and an opaque NextToken bound to the query that made it."""
        query = {k: v for k, v in sorted(params.items()) if k not in ("Limit", "NextToken")}
        fingerprint = hashlib.sha256(json.dumps([operation, query], sort_keys=True).encode()).hexdigest()[:16]
        start = 0
        if "NextToken" in params:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(params["NextToken"].encode()))
                if decoded["q"] != fingerprint:
                    raise ValueError("token from another query")
                start = int(decoded["o"])
            except (ValueError, KeyError, TypeError):  # not base64, not JSON, not our fields
                raise GameLiftError("InvalidRequestException", "Invalid NextToken") from None
        limit = min(params.get("Limit", self.max_page_size), self.max_page_size)
        page = items[start : start + limit]
        body: dict[str, Any] = {result_key: copy.deepcopy(page)}
        if start + limit < len(items):
            token = json.dumps({"q": fingerprint, "o": start + limit}).encode()
            body["NextToken"] = base64.urlsafe_b64encode(token).decode()
        return body

    # ---- operations: FleetIQ -------------------------------------------------------------------------------

    def _op_ListGameServers(self, p: dict) -> dict:
        group = self._group(p["GameServerGroupName"])
        servers = [s for (g, _), s in self.game_servers.items() if g == group["GameServerGroupName"]]
        if "SortOrder" in p:
            servers.sort(
                key=lambda s: (s["RegistrationTime"], s["GameServerId"]), reverse=p["SortOrder"] == "DESCENDING"
            )
        return self._page("ListGameServers", p, servers, "GameServers")

    def _game_server(self, p: dict) -> dict:
        group = self._group(p["GameServerGroupName"])
        server = self.game_servers.get((group["GameServerGroupName"], p["GameServerId"]))
        if server is None:
            raise GameLiftError(
                "NotFoundException", f"Game server {p['GameServerId']} not found in {group['GameServerGroupName']}"
            )
        return server

    def _op_UpdateGameServer(self, p: dict) -> dict:
        server = self._game_server(p)
        if p.get("UtilizationStatus") == "AVAILABLE" and server["UtilizationStatus"] == "UTILIZED":
            raise GameLiftError("InvalidRequestException", "UtilizationStatus cannot change from UTILIZED to AVAILABLE")
        if "UtilizationStatus" in p:
            server["UtilizationStatus"] = p["UtilizationStatus"]
        if "GameServerData" in p:
            server["GameServerData"] = p["GameServerData"]
        if p.get("HealthCheck") == "HEALTHY":
            server["LastHealthCheckTime"] = _now()
        return {"GameServer": copy.deepcopy(server)}

    def _op_DescribeGameSessions(self, p: dict) -> dict:
        if "GameSessionId" in p:
            sessions = [self._game_session(p["GameSessionId"])]
        elif "FleetId" in p:
            fleet_id = self._fleet(p["FleetId"])["FleetId"]
            sessions = [s for s in self.game_sessions.values() if s["FleetId"] == fleet_id]
        elif "AliasId" in p:
            raise GameLiftError("InvalidRequestException", "The fake does not resolve aliases; pass FleetId")
        else:
            raise GameLiftError("InvalidRequestException", "One of FleetId, AliasId or GameSessionId is required")
        sessions = [
            s
            for s in sessions
            if p.get("StatusFilter", s["Status"]) == s["Status"] and p.get("Location", s["Location"]) == s["Location"]
        ]
        return self._page("DescribeGameSessions", p, sessions, "GameSessions")

    def _op_UpdateGameSession(self, p: dict) -> dict:
        session = self._game_session(p["GameSessionId"])
        if session["Status"] not in ("ACTIVE", "ACTIVATING"):
            raise GameLiftError(
                "InvalidGameSessionStatusException", f"Game session {session['GameSessionId']} is {session['Status']}"
            )
        for member in ("MaximumPlayerSessionCount", "Name", "PlayerSessionCreationPolicy"):
            if member in p:
                session[member] = p[member]
        return {"GameSession": copy.deepcopy(session)}

    def _op_DescribePlayerSessions(self, p: dict) -> dict:
        if "PlayerSessionId" in p:
            player = self.player_sessions.get(p["PlayerSessionId"])
            return {"PlayerSessions": [copy.deepcopy(player)] if player else []}
        if "PlayerId" in p:
            players = [s for s in self.player_sessions.values() if s["PlayerId"] == p["PlayerId"]]
        elif "GameSessionId" in p:
            arn = self._game_session(p["GameSessionId"])["GameSessionId"]
            players = [s for s in self.player_sessions.values() if s["GameSessionId"] == arn]
            players = [s for s in players if p.get("PlayerSessionStatusFilter", s["Status"]) == s["Status"]]
        else:
            raise GameLiftError(
                "InvalidRequestException", "One of PlayerSessionId, GameSessionId or PlayerId is required"
            )
        return self._page("DescribePlayerSessions", p, players, "PlayerSessions")
