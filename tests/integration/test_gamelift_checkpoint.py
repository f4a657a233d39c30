"""GameLift checkpoints: the handler against a moto account (EC2, ELB, SNS, DynamoDB) and the in-repo GameLift fake,
asserting on the state of both afterwards; plus botocore Stubber runs that pin the exact GameLift calls per path."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from boto3.dynamodb.conditions import Key
from botocore.config import Config
from botocore.stub import Stubber
from spot_handler.aws.clients import CLIENT_CONFIG
from spot_handler.steps.gamelift_checkpoint import GameLiftSettings

from local.gamelift_fake import GameLiftState
from tests.conftest import ACCOUNT, REGION
from tests.support.events import load_event

FLEETIQ = "spot-interruption-gamelift-fleetiq.json"
FLEET_COMPUTE = "spot-interruption-gamelift-fleet-compute.json"
TABLE = "spot-checkpoints"
FLEET = "fleet-5e2c1a4b-0000-4000-8000-000000000001"
GROUP = "arena-spot"


def checkpoint_table(account, name: str = TABLE):
    """The checkpoint table as template.yaml declares it; the account's invocations write to it."""
    account.builder.checkpoint_table(name)
    account.setting_defaults["steps"] = (GameLiftSettings(checkpoint_table_name=name),)
    return boto3.session.Session(region_name=REGION).resource("dynamodb").Table(name)


def checkpoints_of(table, instance_id: str) -> dict[str, dict]:
    """Every checkpoint item of an instance, by checkpoint id: one Query, as a game backend reads them."""
    items = table.query(KeyConditionExpression=Key("instanceId").eq(instance_id))["Items"]
    return {item["checkpointId"]: item for item in items}


def email_body(account) -> str:
    """The one e-mail's body with its phone-width line wrapping undone, for phrase assertions."""
    [(_, body)] = account.email_texts()
    return " ".join(body.split())


def anywhere_fleet(state: GameLiftState, *computes: str) -> None:
    state.add_fleet(FLEET)
    for number, name in enumerate(computes):
        state.add_compute(FLEET, name, ip_address=f"10.20.1.{10 + number}")


# ---- fleet compute path ------------------------------------------------------------------------------------------


def test_sessions_over_two_pages_are_denied_and_checkpointed_with_their_rosters(
    account, handler_clients, gamelift_state
):
    # Given an Anywhere fleet whose pages hold 2 sessions: 3 live sessions on the interrupted compute (one still
    # ACTIVATING), one on another compute, and players over two pages in the first session
    b = account.builder
    table = checkpoint_table(account)
    victim = b.spot_instance("game-1", tags={"GameLiftFleetId": FLEET})
    other = b.spot_instance("game-2", tags={"GameLiftFleetId": FLEET})
    anywhere_fleet(gamelift_state, victim.instance_id, other.instance_id)
    gamelift_state.max_page_size = 2
    mine = [
        gamelift_state.add_game_session(
            FLEET,
            victim.instance_id,
            name="ranked-1",
            game_session_id="gs-ranked-1",
            game_properties={"mode": "ranked"},
            game_session_data="map=dust",
            matchmaker_data='{"matchId":"m-1"}',
        ),
        gamelift_state.add_game_session(FLEET, victim.instance_id, name="casual-2", game_session_id="gs-casual-2"),
        gamelift_state.add_game_session(
            FLEET, victim.instance_id, name="warmup-3", game_session_id="gs-warmup-3", status="ACTIVATING"
        ),
    ]
    bystander = gamelift_state.add_game_session(FLEET, other.instance_id, name="other-4", game_session_id="gs-other-4")
    for player, status in (("p1", "ACTIVE"), ("p2", "ACTIVE"), ("p3", "RESERVED"), ("gone", "COMPLETED")):
        gamelift_state.add_player_session(
            mine[0]["GameSessionId"], player, status=status, player_data=f"{player}-loadout"
        )
    gamelift_state.add_player_session(mine[1]["GameSessionId"], "p5")

    # When the instance's Spot interruption warning arrives
    event = load_event(FLEET_COMPUTE, victim.instance_id)
    account.invoke(event, handler_clients)

    # Then its three sessions deny new players and the other compute's session is untouched
    sessions = gamelift_state.game_sessions
    assert [sessions[s["GameSessionId"]]["PlayerSessionCreationPolicy"] for s in mine] == ["DENY_ALL"] * 3
    assert sessions[bystander["GameSessionId"]]["PlayerSessionCreationPolicy"] == "ACCEPT_ALL"
    assert len(gamelift_state.calls_of("DescribeGameSessions")) == 3  # ACTIVE over 2 pages, ACTIVATING on 1
    assert len(gamelift_state.calls_of("DescribePlayerSessions")) == 2 + 1 + 1  # 4 players of session 1 over 2 pages

    # And one item per session holds the session and its live roster
    items = checkpoints_of(table, victim.instance_id)
    assert sorted(items) == sorted(f"{ACCOUNT}#game-session#{s['GameSessionId']}" for s in mine)
    ranked = items[f"{ACCOUNT}#game-session#{mine[0]['GameSessionId']}"]
    assert ranked["gameSessionArn"] == mine[0]["GameSessionId"] and ranked["name"] == "ranked-1"
    assert (ranked["ipAddress"], int(ranked["port"])) == (mine[0]["IpAddress"], mine[0]["Port"])
    assert ranked["gameProperties"] == [{"key": "mode", "value": "ranked"}]
    assert (ranked["gameSessionData"], ranked["matchmakerData"]) == ("map=dust", '{"matchId":"m-1"}')
    assert sorted((p["playerId"], p["status"], p["playerData"]) for p in ranked["players"]) == [
        ("p1", "ACTIVE", "p1-loadout"),
        ("p2", "ACTIVE", "p2-loadout"),
        ("p3", "RESERVED", "p3-loadout"),
    ]
    assert ranked["noticeId"] == event["id"]
    assert ranked["deadline"] == "2026-11-26T10:02:00.000Z"
    captured = datetime.fromisoformat(ranked["capturedAt"])
    assert int(ranked["expiration"]) == int(captured.timestamp()) + 7 * 24 * 3600
    assert checkpoints_of(table, other.instance_id) == {}

    # And both alert forms name the sessions with their counts
    [alert] = account.alerts()
    doc = alert.document["gameLift"]
    assert (doc["gameSessionCount"], doc["playerCount"], doc["storedCount"]) == (3, 4, 3)
    assert sorted(s["gameSessionId"] for s in doc["gameSessions"]) == sorted(s["GameSessionId"] for s in mine)
    assert alert.document["failures"] == []
    body = email_body(account)
    assert f"3 game sessions on compute {victim.instance_id} of fleet {FLEET}" in body
    assert "new players denied on 3, 4 players captured" in body
    assert "ranked-1 at" in body and "3 players" in body and "warmup-3" in body
    assert "3 of 3 items stored" in body


def test_no_sessions_on_the_compute_means_no_items_and_an_alert_that_says_so(account, handler_clients, gamelift_state):
    # Given a fleet whose only session runs on another compute
    b = account.builder
    table = checkpoint_table(account)
    victim = b.spot_instance("game-1", tags={"GameLiftFleetId": FLEET, "GameLiftComputeName": "edge-compute-1"})
    anywhere_fleet(gamelift_state, "edge-compute-1", "edge-compute-2")
    elsewhere = gamelift_state.add_game_session(FLEET, "edge-compute-2", game_session_id="gs-elsewhere")

    account.invoke(load_event(FLEET_COMPUTE, victim.instance_id), handler_clients)

    # Then nothing changed, nothing was stored, and the alert says there was nothing to checkpoint
    assert gamelift_state.game_sessions[elsewhere["GameSessionId"]]["PlayerSessionCreationPolicy"] == "ACCEPT_ALL"
    assert gamelift_state.calls_of("UpdateGameSession") == []
    assert checkpoints_of(table, victim.instance_id) == {}
    [alert] = account.alerts()
    assert alert.document["gameLift"]["gameSessionCount"] == 0 and alert.document["failures"] == []
    body = email_body(account)
    assert f"no active game sessions on compute edge-compute-1 of fleet {FLEET}" in body


# ---- FleetIQ path ------------------------------------------------------------------------------------------------


def test_fleetiq_servers_of_the_instance_are_held_and_others_left_alone(account, handler_clients, gamelift_state):
    # Given a game server group (tagged by ARN) listing 2 per page: an AVAILABLE and a claimed UTILIZED server on the
    # interrupted instance, and one AVAILABLE server on another instance
    b = account.builder
    table = checkpoint_table(account)
    group_arn = gamelift_state.add_game_server_group(GROUP)["GameServerGroupArn"]
    victim = b.spot_instance("fleetiq-1", tags={"GameLiftGameServerGroup": group_arn})
    other = b.spot_instance("fleetiq-2", tags={"GameLiftGameServerGroup": group_arn})
    gamelift_state.max_page_size = 2
    gamelift_state.add_game_server(
        GROUP, "gs-free", victim.instance_id, connection_info="10.20.1.5:7777", data='{"map":"harbor"}'
    )
    gamelift_state.add_game_server(
        GROUP,
        "gs-busy",
        victim.instance_id,
        connection_info="10.20.1.5:7778",
        claimed=True,
        utilization_status="UTILIZED",
    )
    gamelift_state.add_game_server(GROUP, "gs-other", other.instance_id, connection_info="10.20.1.6:7777")

    account.invoke(load_event(FLEETIQ, victim.instance_id), handler_clients)

    # Then only the AVAILABLE server on the instance was marked UTILIZED
    status = {gid: s["UtilizationStatus"] for (_, gid), s in gamelift_state.game_servers.items()}
    assert status == {"gs-free": "UTILIZED", "gs-busy": "UTILIZED", "gs-other": "AVAILABLE"}
    assert [c["params"]["GameServerId"] for c in gamelift_state.calls_of("UpdateGameServer")] == ["gs-free"]
    assert len(gamelift_state.calls_of("ListGameServers")) == 2  # both pages

    # And both servers on the instance are checkpointed as they were found
    items = checkpoints_of(table, victim.instance_id)
    assert sorted(items) == [f"{ACCOUNT}#game-server#{GROUP}#gs-busy", f"{ACCOUNT}#game-server#{GROUP}#gs-free"]
    free = items[f"{ACCOUNT}#game-server#{GROUP}#gs-free"]
    assert (free["connectionInfo"], free["gameServerData"], free["utilizationStatus"]) == (
        "10.20.1.5:7777",
        '{"map":"harbor"}',
        "AVAILABLE",
    )
    assert free["markedUtilized"] is True and free["registrationTime"].endswith("Z")
    busy = items[f"{ACCOUNT}#game-server#{GROUP}#gs-busy"]
    assert (busy["claimStatus"], busy["markedUtilized"]) == ("CLAIMED", False) and "lastClaimTime" in busy

    [alert] = account.alerts()
    doc = alert.document["gameLift"]
    assert doc["gameServerCount"] == 2
    assert sorted(s["gameServerId"] for s in doc["gameServers"]) == ["gs-busy", "gs-free"]
    body = email_body(account)
    assert f"2 game servers of group {group_arn} on this instance: 1 marked UTILIZED, 1 already UTILIZED" in body
    assert "gs-free (10.20.1.5:7777)" in body


def test_throttled_listing_is_retried_then_succeeds(account, handler_clients, gamelift_state):
    # Given a game server on the instance and the next two ListGameServers calls throttled
    b = account.builder
    table = checkpoint_table(account)
    victim = b.spot_instance("fleetiq-1", tags={"GameLiftGameServerGroup": GROUP})
    gamelift_state.add_game_server(GROUP, "gs-1", victim.instance_id)
    gamelift_state.inject_fault("ListGameServers", "ThrottlingException", count=2)

    account.invoke(load_event(FLEETIQ, victim.instance_id), handler_clients)

    # Then the third attempt answered, the server is held and checkpointed, and nothing is reported failed
    assert [c["outcome"] for c in gamelift_state.calls_of("ListGameServers")] == [
        "ThrottlingException",
        "ThrottlingException",
        "ok",
    ]
    assert gamelift_state.game_servers[(GROUP, "gs-1")]["UtilizationStatus"] == "UTILIZED"
    assert list(checkpoints_of(table, victim.instance_id)) == [f"{ACCOUNT}#game-server#{GROUP}#gs-1"]
    [alert] = account.alerts()
    assert alert.document["failures"] == []


def test_throttling_that_outlasts_the_retries_is_named_in_the_alert(account, handler_clients, gamelift_state):
    # Given a session whose UpdateGameSession stays throttled beyond the client's retries
    b = account.builder
    table = checkpoint_table(account)
    victim = b.spot_instance("game-1", tags={"GameLiftFleetId": FLEET})
    anywhere_fleet(gamelift_state, victim.instance_id)
    session = gamelift_state.add_game_session(FLEET, victim.instance_id, game_session_id="gs-1")
    gamelift_state.inject_fault("UpdateGameSession", "ThrottlingException", count=10)
    # One retry instead of CLIENT_CONFIG's four keeps the backoff well inside the invocation's time budget.
    impatient = boto3.session.Session(region_name=REGION).client(
        "gamelift",
        endpoint_url=handler_clients.gamelift.meta.endpoint_url,
        config=CLIENT_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 2})),
    )

    account.invoke(load_event(FLEET_COMPUTE, victim.instance_id), handler_clients._replace(gamelift=impatient))

    # Then the roster is still captured, and the alert says new players were not denied, and why
    assert [c["outcome"] for c in gamelift_state.calls_of("UpdateGameSession")] == ["ThrottlingException"] * 2
    item = checkpoints_of(table, victim.instance_id)[f"{ACCOUNT}#game-session#{session['GameSessionId']}"]
    assert item["playersDenied"] is False
    [alert] = account.alerts()
    assert alert.document["failures"] == [
        (
            f"game session {session['GameSessionId']}: new players not denied: UpdateGameSession ThrottlingException: "
            "Rate exceeded"
        )
    ]


# ---- failures never touch draining -------------------------------------------------------------------------------


def test_access_denied_is_reported_while_draining_still_happens(account, handler_clients, gamelift_state):
    # Given an instance in a target group and a fleet, and a role GameLift refuses
    b = account.builder
    table = checkpoint_table(account)
    web, victim = b.instance_in_target_group("game-web", "game-1", tags={"GameLiftFleetId": FLEET})
    anywhere_fleet(gamelift_state, victim.instance_id)
    session = gamelift_state.add_game_session(FLEET, victim.instance_id, game_session_id="gs-1")
    gamelift_state.inject_fault(
        "DescribeGameSessions",
        "AccessDeniedException",
        count=2,
        message="User is not authorized to perform: gamelift:DescribeGameSessions",
    )

    account.invoke(load_event(FLEET_COMPUTE, victim.instance_id), handler_clients)

    # Then the instance is out of its target group, its session is untouched, and the alert names the denial
    assert b.registered(web) == []
    assert gamelift_state.game_sessions[session["GameSessionId"]]["PlayerSessionCreationPolicy"] == "ACCEPT_ALL"
    assert checkpoints_of(table, victim.instance_id) == {}
    [alert] = account.alerts()
    assert alert.document["outcome"] == "partial"
    assert alert.document["targetGroups"][0]["deregistered"] == [f"{victim.instance_id}:80"]
    assert [f for f in alert.document["failures"] if "AccessDeniedException" in f] == [
        f"fleet {FLEET} ({status} game sessions): DescribeGameSessions AccessDeniedException: "
        "User is not authorized to perform: gamelift:DescribeGameSessions"
        for status in ("ACTIVE", "ACTIVATING")
    ]
    body = email_body(account)
    assert "AccessDeniedException" in body


def test_dynamodb_failure_is_reported_and_gamelift_work_still_done(account, handler_clients, gamelift_state):
    # Given a session with a player and no checkpoint table (deleted, or a wrong name)
    b = account.builder
    victim = b.spot_instance("game-1", tags={"GameLiftFleetId": FLEET})
    anywhere_fleet(gamelift_state, victim.instance_id)
    session = gamelift_state.add_game_session(FLEET, victim.instance_id, game_session_id="gs-1", name="ranked-1")
    gamelift_state.add_player_session(session["GameSessionId"], "p1")

    account.invoke(load_event(FLEET_COMPUTE, victim.instance_id), handler_clients, steps=(GameLiftSettings("missing"),))

    # Then new players are denied, and the alert says the checkpoint was not stored, naming table and error code
    assert gamelift_state.game_sessions[session["GameSessionId"]]["PlayerSessionCreationPolicy"] == "DENY_ALL"
    [alert] = account.alerts()
    [failure] = alert.document["failures"]
    assert failure.startswith(
        f"checkpoint {ACCOUNT}#game-session#{session['GameSessionId']} not stored in table missing: "
        "BatchWriteItem ResourceNotFoundException"
    )
    doc = alert.document["gameLift"]
    assert (doc["gameSessionCount"], doc["storedCount"], doc["gameSessions"][0]["stored"]) == (1, 0, False)
    body = email_body(account)
    assert "0 of 1 item stored in missing" in body


def test_target_group_and_game_server_tags_get_both_treatments_draining_first(account, handler_clients, gamelift_state):
    # Given an instance in a target group that also hosts a FleetIQ game server
    b = account.builder
    table = checkpoint_table(account)
    web, victim = b.instance_in_target_group(
        "arena-web", "fleetiq-1", ports=(7777,), tags={"GameLiftGameServerGroup": GROUP}
    )
    gamelift_state.add_game_server(GROUP, "gs-1", victim.instance_id, connection_info="10.20.1.5:7777")
    moments: list[datetime] = []

    def clock() -> datetime:
        moments.append(datetime.now(UTC))
        return moments[-1]

    account.invoke(load_event(FLEETIQ, victim.instance_id), handler_clients, clock=clock)

    # Then it is drained and its game server held and checkpointed
    assert b.registered(web) == []
    assert gamelift_state.game_servers[(GROUP, "gs-1")]["UtilizationStatus"] == "UTILIZED"
    assert list(checkpoints_of(table, victim.instance_id)) == [f"{ACCOUNT}#game-server#{GROUP}#gs-1"]
    # And the deregistration was sent (first clock reading) before the first GameLift call
    first_gamelift_call = min(c["time"] for c in gamelift_state.calls)
    assert moments[0].timestamp() <= first_gamelift_call
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"
    assert alert.document["gameLift"]["gameServers"][0]["markedUtilized"] is True


def test_rebalance_recommendation_does_not_touch_gamelift(account, handler_clients, gamelift_state):
    b = account.builder
    victim = b.spot_instance("fleetiq-1", tags={"GameLiftGameServerGroup": GROUP})
    gamelift_state.add_game_server(GROUP, "gs-1", victim.instance_id)

    account.invoke(load_event("rebalance-recommendation.json", victim.instance_id), handler_clients)

    assert gamelift_state.calls == []
    [alert] = account.alerts()
    assert alert.document["gameLift"] is None


# ---- the exact calls, checked by botocore's Stubber against the service model -------------------------------------


def stubbed(account):
    client = boto3.session.Session(region_name=REGION).client("gamelift")
    return client, Stubber(client)


def test_stubber_fleet_compute_path_calls(account):
    # Given an instance registered as a compute, and the answers GameLift gives, in the order they are asked
    b = account.builder
    table = checkpoint_table(account)
    victim = b.spot_instance("game-1", tags={"GameLiftFleetId": FLEET})
    client, stub = stubbed(account)
    session_id = f"arn:aws:gamelift:{REGION}::gamesession/{FLEET}/custom-location-1/gs-1"
    session = {
        "GameSessionId": session_id,
        "FleetId": FLEET,
        "ComputeName": victim.instance_id,
        "Status": "ACTIVE",
        "IpAddress": "10.20.1.10",
        "Port": 7777,
        "PlayerSessionCreationPolicy": "ACCEPT_ALL",
    }
    other = {**session, "GameSessionId": session_id.replace("gs-1", "gs-2"), "ComputeName": "another-compute"}
    stub.add_response(
        "describe_game_sessions",
        {"GameSessions": [session], "NextToken": "page-2"},
        {"FleetId": FLEET, "StatusFilter": "ACTIVE"},
    )
    stub.add_response(
        "describe_game_sessions",
        {"GameSessions": [other]},
        {"FleetId": FLEET, "StatusFilter": "ACTIVE", "NextToken": "page-2"},
    )
    stub.add_response("describe_game_sessions", {"GameSessions": []}, {"FleetId": FLEET, "StatusFilter": "ACTIVATING"})
    stub.add_response(
        "update_game_session",
        {"GameSession": {**session, "PlayerSessionCreationPolicy": "DENY_ALL"}},
        {"GameSessionId": session_id, "PlayerSessionCreationPolicy": "DENY_ALL"},
    )
    stub.add_response(
        "describe_player_sessions",
        {
            "PlayerSessions": [
                {"PlayerSessionId": "psess-1", "PlayerId": "p1", "Status": "ACTIVE", "GameSessionId": session_id}
            ]
        },
        {"GameSessionId": session_id},
    )

    # When the interruption is handled
    with stub:
        account.invoke(load_event(FLEET_COMPUTE, victim.instance_id), account.clients._replace(gamelift=client))

    # Then exactly those calls were made (no UpdateGameSession for the other compute's session)
    stub.assert_no_pending_responses()
    assert list(checkpoints_of(table, victim.instance_id)) == [f"{ACCOUNT}#game-session#{session_id}"]


def test_stubber_fleetiq_path_calls(account):
    # Given an instance in a game server group, listed over two pages
    b = account.builder
    table = checkpoint_table(account)
    victim = b.spot_instance("fleetiq-1", tags={"GameLiftGameServerGroup": GROUP})
    client, stub = stubbed(account)

    def server(gid: str, instance: str, status: str) -> dict:
        return {"GameServerGroupName": GROUP, "GameServerId": gid, "InstanceId": instance, "UtilizationStatus": status}

    stub.add_response(
        "list_game_servers",
        {
            "GameServers": [
                server("gs-1", victim.instance_id, "AVAILABLE"),
                server("gs-2", "i-0fedcba9876543210", "AVAILABLE"),
            ],
            "NextToken": "page-2",
        },
        {"GameServerGroupName": GROUP},
    )
    stub.add_response(
        "list_game_servers",
        {"GameServers": [server("gs-3", victim.instance_id, "UTILIZED")]},
        {"GameServerGroupName": GROUP, "NextToken": "page-2"},
    )
    stub.add_response(
        "update_game_server",
        {"GameServer": server("gs-1", victim.instance_id, "UTILIZED")},
        {"GameServerGroupName": GROUP, "GameServerId": "gs-1", "UtilizationStatus": "UTILIZED"},
    )

    with stub:
        account.invoke(load_event(FLEETIQ, victim.instance_id), account.clients._replace(gamelift=client))

    # Then one UpdateGameServer, for the AVAILABLE server on the instance only, and both of its servers stored
    stub.assert_no_pending_responses()
    assert sorted(checkpoints_of(table, victim.instance_id)) == [
        f"{ACCOUNT}#game-server#{GROUP}#gs-1",
        f"{ACCOUNT}#game-server#{GROUP}#gs-3",
    ]


def test_stubber_unauthorized_on_update_game_server_is_named(account):
    b = account.builder
    checkpoint_table(account)
    victim = b.spot_instance("fleetiq-1", tags={"GameLiftGameServerGroup": GROUP})
    client, stub = stubbed(account)
    record = {
        "GameServerGroupName": GROUP,
        "GameServerId": "gs-1",
        "InstanceId": victim.instance_id,
        "UtilizationStatus": "AVAILABLE",
    }
    stub.add_response("list_game_servers", {"GameServers": [record]}, {"GameServerGroupName": GROUP})
    stub.add_client_error("update_game_server", "UnauthorizedException", "not allowed", 400)

    with stub:
        account.invoke(load_event(FLEETIQ, victim.instance_id), account.clients._replace(gamelift=client))

    [alert] = account.alerts()
    assert alert.document["failures"] == [
        f"game server gs-1 (group {GROUP}): not marked UTILIZED: UpdateGameServer UnauthorizedException: not allowed"
    ]


# ---- the demo's seed ---------------------------------------------------------------------------------------------


def test_demo_seed_over_http_is_checkpointed_on_both_paths(account, gamelift_fake, handler_clients, gamelift_state):
    # Given the demo's GameLift seed, sent over HTTP, for one FleetIQ instance and one compute instance
    from local.gamelift_seed import seed_gamelift

    b = account.builder
    table = checkpoint_table(account)
    fleetiq = b.spot_instance("fleetiq-1")
    compute = b.spot_instance("compute-1")
    seeded = seed_gamelift(gamelift_fake.url, fleetiq.instance_id, compute.instance_id)
    b.tag(fleetiq.instance_id, {"GameLiftGameServerGroup": seeded.game_server_group})
    b.tag(compute.instance_id, {"GameLiftFleetId": seeded.fleet_id})

    # When both are interrupted
    account.invoke(load_event(FLEETIQ, fleetiq.instance_id), handler_clients)
    account.invoke(load_event(FLEET_COMPUTE, compute.instance_id), handler_clients)

    # Then each instance's checkpoint holds exactly what was seeded on it
    assert sorted(checkpoints_of(table, fleetiq.instance_id)) == sorted(
        f"{ACCOUNT}#game-server#{seeded.game_server_group}#{gid}" for gid in seeded.game_server_ids
    )
    items = checkpoints_of(table, compute.instance_id)
    assert sorted(items) == sorted(f"{ACCOUNT}#game-session#{sid}" for sid in seeded.game_session_ids)
    assert sum(int(item["playerCount"]) for item in items.values()) == 4
    assert [
        s["PlayerSessionCreationPolicy"]
        for s in gamelift_state.game_sessions.values()
        if s["ComputeName"] != compute.instance_id
    ] == ["ACCEPT_ALL"]
