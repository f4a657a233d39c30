"""The GameLift fake speaks GameLift's wire protocol to a real boto3 client and keeps to the service model."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from local.gamelift_model import validate_response
from local.gamelift_state import GameLiftState

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTANCE = "i-0123456789abcdef0"
OTHER_INSTANCE = "i-0fedcba9876543210"
MODEL = botocore.session.get_session().get_service_model("gamelift")


def make_client(url: str, state: GameLiftState, **config):
    return boto3.client(
        "gamelift",
        endpoint_url=url,
        region_name=state.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",  # nosec B106
        config=Config(**{"retries": {"mode": "standard", "total_max_attempts": 3}, **config}),
    )


@pytest.fixture
def state(gamelift_state) -> GameLiftState:
    return gamelift_state


@pytest.fixture
def gamelift(gamelift_fake, state):
    return make_client(gamelift_fake.url, state)


def test_fleetiq_game_servers_seed_list_in_pages_and_update(gamelift, state):
    # Given a game server group with three game servers, two on the instance, registered one after the other
    state.add_game_server_group("arena")
    for number, instance in ((1, INSTANCE), (2, OTHER_INSTANCE), (3, INSTANCE)):
        state.add_game_server(
            "arena",
            f"gs-{number}",
            instance,
            connection_info=f"10.0.0.{number}:7777",
            data=f'{{"map": "m{number}"}}',
            registration_time=1_700_000_000 + number,
        )

    # When the group is listed by ARN two at a time, oldest first
    group_arn = state.group_arn("arena")
    first = gamelift.list_game_servers(GameServerGroupName=group_arn, SortOrder="ASCENDING", Limit=2)
    second = gamelift.list_game_servers(
        GameServerGroupName=group_arn, SortOrder="ASCENDING", Limit=2, NextToken=first["NextToken"]
    )

    # Then the two pages hold every server once, in registration order, and the last page has no token
    assert [s["GameServerId"] for s in first["GameServers"] + second["GameServers"]] == ["gs-1", "gs-2", "gs-3"]
    assert "NextToken" not in second
    assert first["GameServers"][0]["RegistrationTime"].tzinfo is not None  # parsed from an epoch number

    # When the servers on the interrupted instance are marked UTILIZED
    paginator = gamelift.get_paginator("list_game_servers")
    mine = [
        s
        for page in paginator.paginate(GameServerGroupName="arena", PaginationConfig={"PageSize": 1})
        for s in page["GameServers"]
        if s["InstanceId"] == INSTANCE
    ]
    for server in mine:
        gamelift.update_game_server(
            GameServerGroupName="arena", GameServerId=server["GameServerId"], UtilizationStatus="UTILIZED"
        )

    # Then they are UTILIZED, the other one is still AVAILABLE, and UTILIZED cannot go back to AVAILABLE
    status = {gid: server["UtilizationStatus"] for (_, gid), server in state.game_servers.items()}
    assert status == {"gs-1": "UTILIZED", "gs-2": "AVAILABLE", "gs-3": "UTILIZED"}
    with pytest.raises(ClientError) as error:
        gamelift.update_game_server(GameServerGroupName="arena", GameServerId="gs-1", UtilizationStatus="AVAILABLE")
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert len(state.calls_of("ListGameServers")) == 5  # 2 + 3 one-item pages: pagination was real


def test_anywhere_fleet_sessions_seed_list_deny_and_read_players(gamelift, state):
    # Given an Anywhere fleet with two computes and three game sessions, two on the instance
    fleet = state.add_fleet("fleet-1a2b3c4d-0000-4000-8000-000000000001")
    for name, ip in ((INSTANCE, "10.0.1.10"), (OTHER_INSTANCE, "10.0.1.11")):
        state.add_compute(fleet["FleetArn"], name, ip_address=ip)
    created = [
        state.add_game_session(
            fleet["FleetId"],
            compute,
            maximum_players=4,
            name=f"match-{n}",
            game_session_data=f"seed={n}",
            game_properties={"mode": "ranked"},
        )
        for n, compute in enumerate((INSTANCE, OTHER_INSTANCE, INSTANCE))
    ]
    on_instance = [s for s in created if s["ComputeName"] == INSTANCE]
    target = on_instance[0]["GameSessionId"]
    for player, data in (("p1", "tank"), ("p2", None), ("p3", None)):
        state.add_player_session(target, player, status="RESERVED", player_data=data)

    # When the instance's active sessions are found by paging the fleet one session at a time
    paginator = gamelift.get_paginator("describe_game_sessions")
    sessions = [
        s
        for page in paginator.paginate(
            FleetId=fleet["FleetId"], StatusFilter="ACTIVE", PaginationConfig={"PageSize": 1}
        )
        for s in page["GameSessions"]
    ]
    found = [s for s in sessions if s["ComputeName"] == INSTANCE]

    # Then every session was listed once, with its compute, IP and a real ARN
    assert len(sessions) == 3 and len(state.calls_of("DescribeGameSessions")) == 3
    assert {s["GameSessionId"] for s in found} == {s["GameSessionId"] for s in on_instance}
    assert {s["ComputeName"] for s in sessions} == {INSTANCE, OTHER_INSTANCE}
    assert target.startswith(f"arn:aws:gamelift:{state.region}::gamesession/{fleet['FleetId']}/")
    assert found[0]["IpAddress"] == "10.0.1.10" and found[0]["Port"] >= 7777

    # When new players are denied and the roster is read two at a time
    updated = gamelift.update_game_session(GameSessionId=target, PlayerSessionCreationPolicy="DENY_ALL")
    first = gamelift.describe_player_sessions(GameSessionId=target, Limit=2)
    second = gamelift.describe_player_sessions(GameSessionId=target, Limit=2, NextToken=first["NextToken"])

    # Then the session says DENY_ALL, and the roster is complete
    assert updated["GameSession"]["PlayerSessionCreationPolicy"] == "DENY_ALL"
    assert state.game_sessions[target]["PlayerSessionCreationPolicy"] == "DENY_ALL"
    players = first["PlayerSessions"] + second["PlayerSessions"]
    assert sorted(p["PlayerId"] for p in players) == ["p1", "p2", "p3"]
    assert all(p["PlayerSessionId"].startswith("psess-") and p["Status"] == "RESERVED" for p in players)
    assert [p["PlayerData"] for p in players if p["PlayerId"] == "p1"] == ["tank"]


def test_throttling_is_retried_by_botocore_then_succeeds(gamelift, state):
    # Given a game server and the next two ListGameServers calls throttled
    state.add_game_server("arena", "gs-1", INSTANCE)
    state.inject_fault("ListGameServers", "ThrottlingException", count=2, message="Rate exceeded")

    # When the client lists the group once
    response = gamelift.list_game_servers(GameServerGroupName="arena")

    # Then botocore retried the throttled attempts and the third one answered
    assert [s["GameServerId"] for s in response["GameServers"]] == ["gs-1"]
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert [c["outcome"] for c in state.calls_of("ListGameServers")] == [
        "ThrottlingException",
        "ThrottlingException",
        "ok",
    ]


def test_access_denied_surfaces_without_retry(gamelift, state):
    # Given the caller's role lacks gamelift:UpdateGameSession
    fleet = state.add_fleet()
    state.add_compute(fleet["FleetId"], INSTANCE)
    session = state.add_game_session(fleet["FleetId"], INSTANCE)
    state.inject_fault("UpdateGameSession", "AccessDeniedException", message="not authorized")

    # When the handler tries to deny new players
    with pytest.raises(ClientError) as error:
        gamelift.update_game_session(GameSessionId=session["GameSessionId"], PlayerSessionCreationPolicy="DENY_ALL")

    # Then the error code reaches the caller after one attempt and the session is unchanged
    assert error.value.response["Error"]["Code"] == "AccessDeniedException"
    assert len(state.calls_of("UpdateGameSession")) == 1
    assert state.game_sessions[session["GameSessionId"]]["PlayerSessionCreationPolicy"] == "ACCEPT_ALL"


def test_invalid_requests_are_rejected_like_aws(gamelift_fake, gamelift, state):
    # Given a client that does not validate parameters itself
    unchecked = make_client(gamelift_fake.url, state, parameter_validation=False)
    state.add_game_server_group("arena")

    # When parameters break the model: a range botocore checks, and a pattern only the service checks
    with pytest.raises(ParamValidationError):
        gamelift.list_game_servers(GameServerGroupName="arena", Limit=0)
    with pytest.raises(ClientError) as below_minimum:
        unchecked.list_game_servers(GameServerGroupName="arena", Limit=0)
    with pytest.raises(ClientError) as bad_fleet:
        gamelift.describe_game_sessions(FleetId="not-a-fleet-id")  # right length, wrong pattern
    with pytest.raises(ClientError) as bad_enum:
        unchecked.update_game_server(GameServerGroupName="arena", GameServerId="gs-1", UtilizationStatus="BUSY")

    # Then the service-side checks answer ValidationException naming the member, and nothing was changed
    for error, member in ((below_minimum, "Limit"), (bad_fleet, "FleetId"), (bad_enum, "UtilizationStatus")):
        assert error.value.response["Error"]["Code"] == "ValidationException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert member in error.value.response["Error"]["Message"]
    assert state.game_servers == {}


def test_unknown_resources_and_foreign_tokens_are_errors(gamelift, state):
    # Given two groups
    state.add_game_server("arena", "gs-1", INSTANCE)
    state.add_game_server("arena", "gs-2", INSTANCE)
    state.add_game_server("lobby", "gs-3", INSTANCE)
    token = gamelift.list_game_servers(GameServerGroupName="arena", Limit=1)["NextToken"]

    # When a missing server is updated and one group's token is used on another
    with pytest.raises(ClientError) as missing:
        gamelift.update_game_server(GameServerGroupName="arena", GameServerId="gs-404", UtilizationStatus="UTILIZED")
    with pytest.raises(ClientError) as foreign:
        gamelift.list_game_servers(GameServerGroupName="lobby", NextToken=token)

    # Then both are the client errors GameLift models
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    assert foreign.value.response["Error"]["Code"] == "InvalidRequestException"


def test_every_response_validates_against_the_output_shape(gamelift, state):
    # Given the raw body of every response captured before botocore parses it
    raw: dict[str, list[dict]] = {}

    def capture(operation_model, response_dict, **_):
        if response_dict["status_code"] == 200:
            raw.setdefault(operation_model.name, []).append(json.loads(response_dict["body"]))

    gamelift.meta.events.register("before-parse.gamelift.*", capture)

    # When every implemented operation is called, with optional members filled in
    fleet = state.add_fleet()
    state.add_compute(fleet["FleetId"], INSTANCE, ip_address="10.0.0.1")
    session = state.add_game_session(
        fleet["FleetId"], INSTANCE, name="m", creator_id="c", game_session_data="d", game_properties={"k": "v"}
    )
    state.add_player_session(session["GameSessionId"], "p0", status="RESERVED", player_data="x")
    gamelift.describe_game_sessions(FleetId=fleet["FleetId"], StatusFilter="ACTIVE", Limit=1)
    gamelift.describe_game_sessions(GameSessionId=session["GameSessionId"])
    gamelift.update_game_session(GameSessionId=session["GameSessionId"], PlayerSessionCreationPolicy="DENY_ALL")
    gamelift.describe_player_sessions(GameSessionId=session["GameSessionId"], PlayerSessionStatusFilter="RESERVED")
    state.add_game_server("arena", "gs-1", INSTANCE, connection_info="10.0.0.1:7777", data="d")
    gamelift.list_game_servers(GameServerGroupName=state.group_arn("arena"), SortOrder="DESCENDING", Limit=1)
    gamelift.update_game_server(
        GameServerGroupName="arena",
        GameServerId="gs-1",
        UtilizationStatus="UTILIZED",
        HealthCheck="HEALTHY",
        GameServerData="checkpointed",
    )

    # Then every raw body fits its operation's output shape exactly (unknown keys, types, required, enums)
    assert set(raw) == {
        "DescribeGameSessions",
        "UpdateGameSession",
        "DescribePlayerSessions",
        "ListGameServers",
        "UpdateGameServer",
    }
    for operation, bodies in raw.items():
        for body in bodies:
            validate_response(MODEL.operation_model(operation), body)  # raises on any violation


def test_a_malformed_response_is_a_loud_500(gamelift_fake, state, monkeypatch):
    # Given a fake whose UpdateGameServer answer gains a member the model does not have
    state.add_game_server("arena", "gs-1", INSTANCE)
    original = GameLiftState._op_UpdateGameServer
    monkeypatch.setattr(GameLiftState, "_op_UpdateGameServer", lambda self, p: {**original(self, p), "Surprise": True})
    no_retry = make_client(gamelift_fake.url, state, retries={"mode": "standard", "total_max_attempts": 1})

    # When a client calls it
    with pytest.raises(ClientError) as error:
        no_retry.update_game_server(GameServerGroupName="arena", GameServerId="gs-1", UtilizationStatus="UTILIZED")

    # Then the client sees HTTP 500 naming the violation, and the bug is recorded for the test to fail on
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "Surprise" in error.value.response["Error"]["Message"]
    assert len(state.bugs) == 1
    state.bugs.clear()


def _http(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    # The URL is the fake's own loopback address, never a user-supplied scheme.
    with urllib.request.urlopen(request, timeout=5) as response:  # nosec B310
        return json.loads(response.read())


def test_standalone_process_is_seeded_over_http():
    # Given the fake running as its own process, as the demo and e2e run it
    process = subprocess.Popen(
        [sys.executable, "-m", "local.gamelift_fake", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")

        # When another process seeds a fleet with a session and players, and injects a throttle
        seeded = _http(
            f"{url}/_fake/state",
            "POST",
            {
                "reset": True,
                "fleets": [{"fleet_id": "fleet-00000000-0000-4000-8000-000000000001"}],
                "computes": [
                    {
                        "fleet": "fleet-00000000-0000-4000-8000-000000000001",
                        "compute_name": INSTANCE,
                        "ip_address": "10.0.2.20",
                    }
                ],
                "game_sessions": [
                    {
                        "fleet": "fleet-00000000-0000-4000-8000-000000000001",
                        "compute_name": INSTANCE,
                        "game_session_id": "gsess-demo",
                        "matchmaker_data": '{"matchId": "m-1"}',
                    }
                ],
                "player_sessions": [{"game_session_id": "gsess-demo", "player_id": "alice"}],
            },
        )
        _http(f"{url}/_fake/faults", "POST", {"operation": "DescribeGameSessions", "code": "ThrottlingException"})
        client = boto3.client(
            "gamelift",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # nosec B106
            config=Config(retries={"mode": "standard"}),
        )
        sessions = client.describe_game_sessions(FleetId="fleet-00000000-0000-4000-8000-000000000001")
        players = client.describe_player_sessions(GameSessionId=sessions["GameSessions"][0]["GameSessionId"])
        state = _http(f"{url}/_fake/state")
        calls = _http(f"{url}/_fake/calls")

        # Then boto3 sees the seeded records and the fake logged the throttled attempt and the retry
        assert sessions["GameSessions"][0]["GameSessionId"] == seeded["game_sessions"][0]["GameSessionId"]
        assert sessions["GameSessions"][0]["MatchmakerData"] == '{"matchId": "m-1"}'
        assert [p["PlayerId"] for p in players["PlayerSessions"]] == ["alice"]
        assert state["game_sessions"][0]["CurrentPlayerSessionCount"] == 1 and state["bugs"] == []
        assert [c["outcome"] for c in calls if c["operation"] == "DescribeGameSessions"] == [
            "ThrottlingException",
            "ok",
        ]
    finally:
        process.terminate()
        process.wait(timeout=5)
