"""Seed the GameLift fake with what the demo interrupts: a FleetIQ game server group and an Anywhere fleet.

    from local.gamelift_seed import seed_gamelift
    seeded = seed_gamelift(fake_url_or_state, fleetiq_instance_id="i-...", compute_instance_id="i-...")
    # tag the instances: GameLiftGameServerGroup=seeded.game_server_group on the first,
    #                    GameLiftFleetId=seeded.fleet_id on the second (its compute is named after it)

`fake_url_or_state` is the fake's endpoint URL (seeded over HTTP, ``POST /_fake/state``) or an in-process
``GameLiftState``. Either instance id may be None to leave that path out.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from local.gamelift_state import GameLiftState

GAME_SERVER_GROUP = "arena-spot"
FLEET_ID = "fleet-5e2c1a4b-0000-4000-8000-000000000001"
LOCATION = "custom-location-1"


@dataclass(frozen=True)
class SeededGameLift:
    game_server_group: str | None  # the value of the GameLiftGameServerGroup tag
    fleet_id: str | None  # the value of the GameLiftFleetId tag
    compute_name: str | None  # = the compute instance's id, so no GameLiftComputeName tag is needed
    game_server_ids: list[str] = field(default_factory=list)  # on the FleetIQ instance (the bystander's excluded)
    game_session_ids: list[str] = field(default_factory=list)  # on the compute instance (the bystander's excluded)


def seed_gamelift(
    fake_url_or_state: str | GameLiftState,
    fleetiq_instance_id: str | None = None,
    compute_instance_id: str | None = None,
    *,
    bystander_instance_id: str = "i-0fedcba9876543210",
    reset: bool = True,
) -> SeededGameLift:
    """Create, on the fake:

    - FleetIQ group `arena-spot` with two game servers on `fleetiq_instance_id` (one AVAILABLE, one claimed and
      UTILIZED) and one AVAILABLE on a bystander instance;
    - Anywhere fleet `fleet-5e2c...0001` with a compute named `compute_instance_id` hosting two ACTIVE game sessions
      with players (PlayerData included), and a bystander compute hosting one session.
    Returns the tag values and the ids the demo shows before and after.
    """
    seed: dict[str, Any] = {"reset": reset}
    if fleetiq_instance_id:
        seed["game_server_groups"] = [{"name": GAME_SERVER_GROUP}]
        seed["game_servers"] = [
            {
                "group": GAME_SERVER_GROUP,
                "game_server_id": "arena-1",
                "instance_id": fleetiq_instance_id,
                "connection_info": "10.20.1.50:7777",
                "data": '{"map":"harbor","mode":"duel"}',
            },
            {
                "group": GAME_SERVER_GROUP,
                "game_server_id": "arena-2",
                "instance_id": fleetiq_instance_id,
                "connection_info": "10.20.1.50:7778",
                "data": '{"map":"canyon","mode":"duel"}',
                "claimed": True,
                "utilization_status": "UTILIZED",
            },
            {
                "group": GAME_SERVER_GROUP,
                "game_server_id": "arena-3",
                "instance_id": bystander_instance_id,
                "connection_info": "10.20.2.60:7777",
            },
        ]
    if compute_instance_id:
        seed["fleets"] = [{"fleet_id": FLEET_ID, "locations": [LOCATION]}]
        seed["computes"] = [
            {"fleet": FLEET_ID, "compute_name": compute_instance_id, "ip_address": "10.20.1.60"},
            {"fleet": FLEET_ID, "compute_name": "bystander-compute", "ip_address": "10.20.2.61"},
        ]
        seed["game_sessions"] = [
            {
                "fleet": FLEET_ID,
                "compute_name": compute_instance_id,
                "game_session_id": "ranked-eu-1",
                "name": "ranked-eu-1",
                "maximum_players": 8,
                "game_properties": {"mode": "ranked", "map": "harbor"},
                "game_session_data": "seed=42;round=3",
                "matchmaker_data": '{"matchId":"m-7f3a","teams":2}',
            },
            {
                "fleet": FLEET_ID,
                "compute_name": compute_instance_id,
                "game_session_id": "casual-eu-2",
                "name": "casual-eu-2",
                "maximum_players": 8,
                "game_properties": {"mode": "casual"},
            },
            {
                "fleet": FLEET_ID,
                "compute_name": "bystander-compute",
                "game_session_id": "casual-eu-3",
                "name": "casual-eu-3",
                "maximum_players": 8,
            },
        ]
        seed["player_sessions"] = [
            {"game_session_id": "ranked-eu-1", "player_id": "ana", "player_data": '{"team":"red","elo":1712}'},
            {"game_session_id": "ranked-eu-1", "player_id": "bo", "player_data": '{"team":"blue","elo":1650}'},
            {"game_session_id": "ranked-eu-1", "player_id": "chen", "status": "RESERVED"},
            {"game_session_id": "casual-eu-2", "player_id": "dara"},
            {"game_session_id": "casual-eu-3", "player_id": "eli"},
        ]

    created = _load(fake_url_or_state, seed)
    return SeededGameLift(
        game_server_group=GAME_SERVER_GROUP if fleetiq_instance_id else None,
        fleet_id=FLEET_ID if compute_instance_id else None,
        compute_name=compute_instance_id,
        game_server_ids=[
            s["GameServerId"] for s in created.get("game_servers", []) if s["InstanceId"] == fleetiq_instance_id
        ],
        game_session_ids=[
            s["GameSessionId"] for s in created.get("game_sessions", []) if s.get("ComputeName") == compute_instance_id
        ],
    )


def _load(fake_url_or_state: str | GameLiftState, seed: dict) -> dict:
    if isinstance(fake_url_or_state, GameLiftState):
        return fake_url_or_state.load(seed)
    request = urllib.request.Request(
        fake_url_or_state.rstrip("/") + "/_fake/state",
        data=json.dumps(seed).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # nosec B310 - the local fake's http URL
        return json.loads(response.read())
