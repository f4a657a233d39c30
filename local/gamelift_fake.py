"""An in-memory Amazon GameLift fake that speaks GameLift's real wire protocol.

moto has no GameLift, so local runs and tests talk to this instead. It answers the awsJson1_1 protocol that
botocore uses for GameLift (``POST /``, ``X-Amz-Target: GameLift.<Operation>``,
``Content-Type: application/x-amz-json-1.1``; errors are HTTP 400 with ``{"__type": code, "message": ...}``), so
the handler's real boto3 client is pointed at it with ``endpoint_url`` and nothing else changes.

Every request is validated against botocore's GameLift service model (types, required members, and the length,
range, enum and pattern constraints that botocore does not check client-side) and answered with a
``ValidationException`` when it fails, as the service front door does. Every response is validated against the
operation's output shape before it is sent; a failure there is a bug in this fake and is answered with HTTP 500
(and recorded in ``GameLiftState.bugs``) so that tests fail loudly instead of passing on a malformed answer.

Python use (tests)::

    server, url = start()              # 127.0.0.1, free port, daemon thread
    state = server.state               # GameLiftState: seed, inject faults, read the call log
    client = boto3.client("gamelift", endpoint_url=url, region_name=state.region, ...)
    ...
    stop(server)

Standalone (demo, e2e, Docker)::

    python -m local.gamelift_fake --host 0.0.0.0 --port 4567 [--seed seed.json]

and seed it from another process over HTTP: ``POST /_fake/state`` (JSON, see ``GameLiftState.load``),
``GET /_fake/state``, ``POST /_fake/reset``, ``POST /_fake/faults``, ``POST /_fake/latency``,
``GET|DELETE /_fake/calls``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime as dt
import hashlib
import ipaddress
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
from botocore.model import OperationModel, OperationNotFoundError, Shape
from botocore.validate import ParamValidator

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "GameLift."

_MODEL = botocore.session.get_session().get_service_model("gamelift")


class GameLiftError(Exception):
    """An error the fake answers the way GameLift does: HTTP status plus a JSON body with ``__type``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class FakeResponseInvalid(AssertionError):
    """The fake built a response its own service model rejects: a bug in the fake, never the caller's fault."""


# --------------------------------------------------------------------------------------------------------------
# Validation against the botocore service model
# --------------------------------------------------------------------------------------------------------------

_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def _pattern(source: str) -> re.Pattern[str] | None:
    # The model's patterns are Java regexes; the ones GameLift uses compile in Python. Skip any that do not
    # rather than reject valid input.
    if source not in _PATTERNS:
        try:
            _PATTERNS[source] = re.compile(source)
        except re.error:
            _PATTERNS[source] = None
    return _PATTERNS[source]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def shape_errors(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Every way ``value`` (decoded JSON) disagrees with ``shape``: unknown keys, wrong types, missing required
    members, and min/max/enum/pattern constraints. Empty list means valid."""
    errors: list[str] = []
    _walk(shape, value, path or shape.name, errors)
    return errors


def _walk(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object, got {type(value).__name__}")
            return
        for name in shape.required_members:
            if name not in value:
                errors.append(f"{path}: missing required member {name}")
        for key, item in value.items():
            if key not in shape.members:
                errors.append(f"{path}: unknown member {key!r}")
            elif item is None:
                errors.append(f"{path}.{key}: null is not a value in this protocol; omit the member")
            else:
                _walk(shape.members[key], item, f"{path}.{key}", errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected list, got {type(value).__name__}")
            return
        _check_size(meta, len(value), path, errors, "length")
        for index, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{index}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected map, got {type(value).__name__}")
            return
        _check_size(meta, len(value), path, errors, "size")
        for key, item in value.items():
            _walk(shape.key, key, f"{path} key {key!r}", errors)
            _walk(shape.value, item, f"{path}[{key!r}]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected string, got {type(value).__name__}")
            return
        _check_size(meta, len(value), path, errors, "length")
        if "enum" in meta and value not in meta["enum"]:
            errors.append(f"{path}: {value!r} is not one of {meta['enum']}")
        compiled = _pattern(meta["pattern"]) if "pattern" in meta else None
        if compiled is not None and not compiled.search(value):
            errors.append(f"{path}: {value!r} does not match pattern {meta['pattern']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected integer, got {type(value).__name__}")
            return
        _check_size(meta, value, path, errors, "value")
    elif kind in ("float", "double"):
        if not _is_number(value):
            errors.append(f"{path}: expected number, got {type(value).__name__}")
    elif kind == "timestamp":
        # awsJson sends timestamps as epoch seconds; botocore parses numbers (and would also take ISO strings,
        # which the real service does not send).
        if not _is_number(value):
            errors.append(f"{path}: expected epoch-seconds number, got {type(value).__name__}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected boolean, got {type(value).__name__}")
    elif kind == "blob":
        if not isinstance(value, str):
            errors.append(f"{path}: expected base64 string, got {type(value).__name__}")
    else:  # pragma: no cover - the GameLift model uses only the types above
        errors.append(f"{path}: unhandled shape type {kind}")


def _check_size(meta: dict, size: int, path: str, errors: list[str], what: str) -> None:
    if "min" in meta and size < meta["min"]:
        errors.append(f"{path}: {what} {size} is below the minimum {meta['min']}")
    if "max" in meta and size > meta["max"]:
        errors.append(f"{path}: {what} {size} is above the maximum {meta['max']}")


def validate_request(operation: OperationModel, params: dict) -> None:
    """Raise ValidationException (as AWS does) when ``params`` do not fit the operation's input shape."""
    report = ParamValidator().validate(params, operation.input_shape)
    problems = [report.generate_report()] if report.has_errors() else shape_errors(operation.input_shape, params)
    if problems:
        raise GameLiftError("ValidationException", "; ".join(problems))


def validate_response(operation: OperationModel, body: dict) -> None:
    """Raise FakeResponseInvalid when ``body`` does not fit the operation's output shape."""
    problems = shape_errors(operation.output_shape, body) if operation.output_shape else []
    if problems:
        raise FakeResponseInvalid(f"{operation.name} response violates the GameLift model: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------------------


def _now() -> float:
    # Milliseconds, like the service; a float so botocore parses it as epoch seconds with a fraction.
    return round(time.time(), 3)


def _epoch(value: Any) -> float:
    """Seeding convenience: accept epoch seconds, datetime, or ISO-8601 text."""
    if value is None:
        return _now()
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).timestamp()
    return float(value)


def _strip_none(record: dict) -> dict:
    return {key: value for key, value in record.items() if value is not None}


class GameLiftState:
    """Everything the fake knows: resources, injected faults and latency, and the call log.

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
        """Forget every resource, fault, latency and logged call."""
        with self.lock:
            self.game_server_groups: dict[str, dict] = {}
            self.game_servers: dict[tuple[str, str], dict] = {}
            self.fleets: dict[str, dict] = {}
            self.computes: dict[tuple[str, str], dict] = {}
            self.game_sessions: dict[str, dict] = {}
            self.player_sessions: dict[str, dict] = {}
            self.protection_policies: dict[str, str] = {}  # GameSession has no ProtectionPolicy member
            self.idempotency_tokens: dict[tuple[str, str], str] = {}
            self.faults: dict[str, list[dict]] = {}
            self.latency: dict[str, float] = {}
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

    def add_game_server_group(
        self,
        name: str,
        *,
        status: str = "ACTIVE",
        role_arn: str | None = None,
        instance_types: tuple[str, ...] = ("c5.large", "c5a.large"),
        balancing_strategy: str = "SPOT_PREFERRED",
        auto_scaling_group_arn: str | None = None,
    ) -> dict:
        """Create a FleetIQ game server group without CreateGameServerGroup's launch-template machinery."""
        with self.lock:
            now = _now()
            asg = auto_scaling_group_arn or (
                f"arn:aws:autoscaling:{self.region}:{self.account}:autoScalingGroup:{uuid.uuid4()}:"
                f"autoScalingGroupName/gamelift-gameservergroup-{name}"
            )
            group = {
                "GameServerGroupName": name,
                "GameServerGroupArn": self.group_arn(name),
                "RoleArn": role_arn or f"arn:aws:iam::{self.account}:role/GameLiftFleetIQRole",
                "InstanceDefinitions": [{"InstanceType": t} for t in instance_types],
                "BalancingStrategy": balancing_strategy,
                "GameServerProtectionPolicy": "NO_PROTECTION",
                "AutoScalingGroupArn": asg,
                "Status": status,
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
        registration_time: Any = None,
        last_health_check_time: Any = None,
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
                    "RegistrationTime": _epoch(registration_time),
                    "LastClaimTime": now if claimed else None,
                    "LastHealthCheckTime": _epoch(last_health_check_time),
                }
            )
            self._check_record("GameServer", server)
            self.game_servers[(name, game_server_id)] = server
            return copy.deepcopy(server)

    def add_fleet(
        self,
        fleet_id: str | None = None,
        *,
        compute_type: str = "ANYWHERE",
        locations: tuple[str, ...] = ("custom-location-1",),
    ) -> dict:
        """Create a fleet (there is no Fleet shape in the answers the fake gives, so this is plain bookkeeping)."""
        with self.lock:
            fleet_id = fleet_id or f"fleet-{uuid.uuid4()}"
            # Anywhere computes live in custom locations; other fleets start in the home Region.
            locations = tuple(locations) if compute_type == "ANYWHERE" else (self.region,)
            fleet = {
                "FleetId": fleet_id,
                "FleetArn": self.fleet_arn(fleet_id),
                "ComputeType": compute_type,
                "Locations": list(locations),
                "CreationTime": _now(),
            }
            self.fleets[fleet_id] = fleet
            return copy.deepcopy(fleet)

    def add_compute(
        self,
        fleet: str,
        compute_name: str,
        *,
        ip_address: str | None = "10.0.0.10",
        dns_name: str | None = None,
        location: str | None = None,
        status: str = "ACTIVE",
    ) -> dict:
        """Register a compute (an instance you host game servers on) in a fleet (id or ARN)."""
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
                    "DnsName": dns_name,
                    "ComputeStatus": status,
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
        compute_name: str | None = None,
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
        location: str | None = None,
        creation_time: Any = None,
    ) -> dict:
        """Start a game session on a compute of a fleet (the compute is picked as CreateGameSession does when
        ``compute_name`` is omitted)."""
        with self.lock:
            fleet_record = self._fleet(fleet)
            compute = self._place(fleet_record, compute_name, location)
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
                    "CreationTime": _epoch(creation_time),
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
            self.protection_policies[arn] = "NoProtection"
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

    def set_latency(self, operation: str, seconds: float) -> None:
        """Delay every answer of ``operation`` ("*" for any) by ``seconds`` (0 removes the delay)."""
        with self.lock:
            if seconds:
                self.latency[operation] = seconds
            else:
                self.latency.pop(operation, None)

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
        """Run one API call as the HTTP front end does: log, latency, injected fault, request validation,
        the operation, response validation. Raises GameLiftError for API errors."""
        entry = {"operation": operation, "params": copy.deepcopy(params), "time": time.time(), "outcome": "ok"}
        with self.lock:
            self.calls.append(entry)
            delay = self.latency.get(operation, self.latency.get("*", 0))
        try:
            if delay:
                time.sleep(delay)
            fault = self._take_fault(operation)
            if fault:
                raise GameLiftError(fault["code"], fault["message"], fault["status"])
            try:
                model = _MODEL.operation_model(operation)
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
        problems = shape_errors(_MODEL.shape_for(shape_name), record)
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

    def _place(self, fleet: dict, compute_name: str | None, location: str | None) -> dict:
        if compute_name is not None:
            compute = self.computes.get((fleet["FleetId"], compute_name))
            if compute is None:
                raise GameLiftError("NotFoundException", f"Compute {compute_name} not found in {fleet['FleetId']}")
            return compute
        # Real placement picks a server process with room; the fake picks the ACTIVE compute with the fewest
        # active game sessions (then by name) so placement is deterministic.
        candidates = [
            c
            for (fid, _), c in self.computes.items()
            if fid == fleet["FleetId"]
            and c["ComputeStatus"] == "ACTIVE"
            and (location is None or c["Location"] == location)
        ]
        if not candidates:
            where = f" at {location}" if location else ""
            raise GameLiftError(
                "FleetCapacityExceededException", f"No active compute in fleet {fleet['FleetId']}{where}"
            )

        def load(compute: dict) -> tuple[int, str]:
            busy = sum(
                1
                for s in self.game_sessions.values()
                if s.get("ComputeName") == compute["ComputeName"]
                and s["FleetId"] == fleet["FleetId"]
                and s["Status"] in ("ACTIVE", "ACTIVATING")
            )
            return busy, compute["ComputeName"]

        return min(candidates, key=load)

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

    def _op_DescribeGameServer(self, p: dict) -> dict:
        return {"GameServer": copy.deepcopy(self._game_server(p))}

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

    def _op_RegisterGameServer(self, p: dict) -> dict:
        group = self._group(p["GameServerGroupName"])
        if (group["GameServerGroupName"], p["GameServerId"]) in self.game_servers:
            raise GameLiftError("ConflictException", f"Game server {p['GameServerId']} is already registered")
        server = self.add_game_server(
            group["GameServerGroupName"],
            p["GameServerId"],
            p["InstanceId"],
            connection_info=p.get("ConnectionInfo"),
            data=p.get("GameServerData"),
        )
        return {"GameServer": server}

    # ---- operations: fleets, computes, game and player sessions -------------------------------------------

    def _op_RegisterCompute(self, p: dict) -> dict:
        fleet = self._fleet(p["FleetId"])
        if fleet["ComputeType"] != "ANYWHERE":
            raise GameLiftError("InvalidRequestException", f"Fleet {fleet['FleetId']} is not an Anywhere fleet")
        if "Location" not in p:
            raise GameLiftError("InvalidRequestException", "Location is required for an Anywhere fleet")
        if "IpAddress" not in p and "DnsName" not in p:
            raise GameLiftError("InvalidRequestException", "Either IpAddress or DnsName is required")
        if (fleet["FleetId"], p["ComputeName"]) in self.computes:
            raise GameLiftError("ConflictException", f"Compute {p['ComputeName']} is already registered")
        compute = self.add_compute(
            fleet["FleetId"],
            p["ComputeName"],
            ip_address=p.get("IpAddress"),
            dns_name=p.get("DnsName"),
            location=p["Location"],
        )
        return {"Compute": compute}

    def _op_DescribeCompute(self, p: dict) -> dict:
        fleet = self._fleet(p["FleetId"])
        compute = self.computes.get((fleet["FleetId"], p["ComputeName"]))
        if compute is None:
            raise GameLiftError("NotFoundException", f"Compute {p['ComputeName']} not found in {fleet['FleetId']}")
        return {"Compute": copy.deepcopy(compute)}

    def _op_ListCompute(self, p: dict) -> dict:
        fleet = self._fleet(p["FleetId"])
        computes = [
            c
            for (fid, _), c in self.computes.items()
            if fid == fleet["FleetId"]
            and p.get("Location", c["Location"]) == c["Location"]
            and p.get("ComputeStatus", c["ComputeStatus"]) == c["ComputeStatus"]
        ]
        return self._page("ListCompute", p, computes, "ComputeList")

    def _op_CreateGameSession(self, p: dict) -> dict:
        if "FleetId" not in p:
            raise GameLiftError(
                "InvalidRequestException",
                "FleetId is required (the fake does not resolve aliases)"
                if "AliasId" in p
                else "Either FleetId or AliasId is required",
            )
        fleet = self._fleet(p["FleetId"])
        token = p.get("IdempotencyToken") or p.get("GameSessionId")
        if token and (fleet["FleetId"], token) in self.idempotency_tokens:
            existing = self.game_sessions[self.idempotency_tokens[(fleet["FleetId"], token)]]
            return {"GameSession": copy.deepcopy(existing)}
        session = self.add_game_session(
            fleet["FleetId"],
            game_session_id=token,
            name=p.get("Name"),
            maximum_players=p["MaximumPlayerSessionCount"],
            location=p.get("Location"),
            game_properties={gp["Key"]: gp["Value"] for gp in p.get("GameProperties", [])},
            game_session_data=p.get("GameSessionData"),
            creator_id=p.get("CreatorId"),
        )
        if token:
            self.idempotency_tokens[(fleet["FleetId"], token)] = session["GameSessionId"]
        return {"GameSession": session}

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
        if "GameProperties" in p:
            merged = {gp["Key"]: gp["Value"] for gp in session.get("GameProperties", [])}
            merged.update({gp["Key"]: gp["Value"] for gp in p["GameProperties"]})
            # The API removes a property when it is updated with an empty value.
            session["GameProperties"] = [{"Key": k, "Value": v} for k, v in merged.items() if v]
            if not session["GameProperties"]:
                del session["GameProperties"]
        if "ProtectionPolicy" in p:
            self.protection_policies[session["GameSessionId"]] = p["ProtectionPolicy"]
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

    def _admit_players(self, game_session_id: str, count: int) -> dict:
        session = self._game_session(game_session_id)
        if session["Status"] != "ACTIVE":
            raise GameLiftError(
                "InvalidGameSessionStatusException", f"Game session {session['GameSessionId']} is {session['Status']}"
            )
        if session["PlayerSessionCreationPolicy"] != "ACCEPT_ALL":
            # The documentation says new player sessions need ACCEPT_ALL but names no error for DENY_ALL;
            # this is the closest modeled one.
            raise GameLiftError(
                "InvalidGameSessionStatusException",
                f"Game session {session['GameSessionId']} is not accepting new players (DENY_ALL)",
            )
        if session["CurrentPlayerSessionCount"] + count > session["MaximumPlayerSessionCount"]:
            raise GameLiftError("GameSessionFullException", f"Game session {session['GameSessionId']} is full")
        return session

    def _op_CreatePlayerSession(self, p: dict) -> dict:
        session = self._admit_players(p["GameSessionId"], 1)
        return {"PlayerSession": self._new_player_session(session, p["PlayerId"], p.get("PlayerData"), "RESERVED")}

    def _op_CreatePlayerSessions(self, p: dict) -> dict:
        session = self._admit_players(p["GameSessionId"], len(p["PlayerIds"]))
        data = p.get("PlayerDataMap", {})
        return {
            "PlayerSessions": [
                self._new_player_session(session, pid, data.get(pid), "RESERVED") for pid in p["PlayerIds"]
            ]
        }


# --------------------------------------------------------------------------------------------------------------
# HTTP front end
# --------------------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server: GameLiftServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(
        self, status: int, body: Any, content_type: str = JSON_CONTENT_TYPE, error_code: str | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_code:
            self.send_header("x-amzn-ErrorType", error_code)
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw.strip() else {}

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/_fake/state":
            self._send(200, state.snapshot(), "application/json")
        elif self.path == "/_fake/calls":
            with state.lock:
                self._send(200, state.calls, "application/json")
        elif self.path == "/_fake/health":
            self._send(200, {"ok": True}, "application/json")
        else:
            self._send(404, {"message": f"no such path {self.path}"}, "application/json")

    def do_DELETE(self) -> None:
        if self.path == "/_fake/calls":
            with self.server.state.lock:
                self.server.state.calls.clear()
            self._send(200, {"ok": True}, "application/json")
        else:
            self._send(404, {"message": f"no such path {self.path}"}, "application/json")

    def do_POST(self) -> None:
        if self.path.startswith("/_fake/"):
            self._control()
        elif self.path.split("?", 1)[0] == "/":
            self._api()
        else:
            self._send(404, {"__type": "UnknownOperationException", "message": f"no such path {self.path}"})

    def _control(self) -> None:
        state = self.server.state
        try:
            body = self._body()
            if self.path == "/_fake/state":
                self._send(200, state.load(body), "application/json")
            elif self.path == "/_fake/reset":
                state.reset()
                self._send(200, {"ok": True}, "application/json")
            elif self.path == "/_fake/faults":
                state.inject_fault(body.pop("operation"), **body)
                self._send(200, {"ok": True}, "application/json")
            elif self.path == "/_fake/latency":
                state.set_latency(body["operation"], float(body["seconds"]))
                self._send(200, {"ok": True}, "application/json")
            else:
                self._send(404, {"message": f"no such path {self.path}"}, "application/json")
        except (GameLiftError, ValueError, KeyError, TypeError) as error:
            self._send(400, {"message": f"bad seeding request: {error}"}, "application/json")

    def _api(self) -> None:
        target = self.headers.get("X-Amz-Target", "")
        if not target.startswith(TARGET_PREFIX):
            self._send(
                400,
                {
                    "__type": "UnknownOperationException",
                    "message": f"X-Amz-Target must be {TARGET_PREFIX}<Operation>, got {target!r}",
                },
                error_code="UnknownOperationException",
            )
            return
        try:
            params = self._body()
            if not isinstance(params, dict):
                raise ValueError("request body must be a JSON object")
        except ValueError as error:
            self._send(
                400, {"__type": "SerializationException", "message": str(error)}, error_code="SerializationException"
            )
            return
        try:
            body = self.server.state.call(target[len(TARGET_PREFIX) :], params)
        except GameLiftError as error:
            self._send(error.status, {"__type": error.code, "message": error.message}, error_code=error.code)
        except FakeResponseInvalid as bug:
            sys.stderr.write(f"gamelift_fake BUG: {bug}\n")
            self._send(500, {"__type": "FakeResponseInvalid", "message": str(bug)}, error_code="FakeResponseInvalid")
        else:
            self._send(200, body)


class GameLiftServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer carrying the GameLiftState it serves."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: GameLiftState, verbose: bool = False) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.verbose = verbose


def start(
    host: str = "127.0.0.1", port: int = 0, state: GameLiftState | None = None, verbose: bool = False
) -> tuple[GameLiftServer, str]:
    """Serve the fake on a daemon thread; returns the server (``server.state`` is the GameLiftState) and the
    endpoint URL to give boto3. Port 0 picks a free port."""
    server = GameLiftServer((host, port), state or GameLiftState(), verbose)
    threading.Thread(target=server.serve_forever, name="gamelift-fake", daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    # A wildcard bind (for Docker) is still reached from this process through the loopback address.
    url_host = "127.0.0.1" if ipaddress.ip_address(bound_host).is_unspecified else bound_host
    return server, f"http://{url_host}:{bound_port}"


def stop(server: GameLiftServer) -> None:
    """Stop serving and close the socket."""
    server.shutdown()
    server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="In-memory Amazon GameLift fake (awsJson1_1 protocol).")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 to be reachable from Docker)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--region", default=DEFAULT_REGION, help="Region used in ARNs")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="account id used in ARNs")
    parser.add_argument("--seed", help="JSON file in the POST /_fake/state format")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    state = GameLiftState(args.region, args.account)
    if args.seed:
        with open(args.seed, encoding="utf-8") as seed:
            state.load(json.load(seed))
    server = GameLiftServer((args.host, args.port), state, args.verbose)
    host, port = server.server_address[:2]
    print(f"GameLift fake listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
