"""Every file in events/ through `sam build` + `sam local invoke` in Docker, against a moto server and the GameLift
fake, asserting on the state of the local account afterwards (never on the exit code: `sam local invoke` exits 0
when the function raises).

    make e2e        (python -m pytest -m e2e tests/e2e)

Without Docker this module skips with the reason; in CI (CI set, as .ci/run does) a missing Docker engine or
Lambda base image fails the run instead. The machinery is local/sam_local.py, shared with the demo.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from boto3.dynamodb.conditions import Key

from local import sam_local
from local.account import AccountBuilder
from local.cloud import LocalCloud
from local.cloud import local_cloud as start_local_cloud
from local.gamelift_fake import GameLiftState
from tests.support.alerts import ReceivedAlert, drain_queue, received_alerts
from tests.support.events import EVENTS_DIR, load_event, placeholder_ids

pytestmark = pytest.mark.e2e

REGION = "us-east-2"
STACK = "spot-handler-e2e"
EVENT_FILES = sorted(path.name for path in EVENTS_DIR.glob("*.json"))

EVENT_ACCOUNT = "123456789012"  # the account events/ names: the first part of every checkpoint id


# ---- the local cloud: moto server, GameLift fake, the stack from template.yaml, one sam build ----------------------


@dataclass
class SamLocalRun:
    """The local cloud with the function built once, invoked through `sam local invoke` per sample event."""

    cloud: LocalCloud
    runtime: sam_local.Runtime
    work_dir: Path
    build_dir: Path
    builder: AccountBuilder
    function_env: dict[str, str]  # what --env-vars gives the function
    subscriber_queue_url: str  # an SQS queue subscribed to the stack's alert topic
    build_seconds: float
    invokes: list[tuple[str, float]] = field(default_factory=list)

    @property
    def gamelift(self) -> GameLiftState:
        return self.cloud.gamelift

    def client(self, service: str):
        return self.cloud.client(service)

    @property
    def dead_letter_queue_url(self) -> str:
        return self.cloud.stack.outputs["DeadLetterQueueUrl"]

    def invoke(
        self, event_file: str, instance_id: str | None = None, fresh: bool = False, **instance_ids: str
    ) -> sam_local.Invocation:
        """`sam local invoke` with events/<event_file>, its placeholder instance ids replaced by the seeded ones
        (and, when `fresh`, its time made now: a lifecycle hook's time runs from it)."""
        sqs = self.cloud.client("sqs")
        drain_queue(sqs, self.subscriber_queue_url)  # only this invoke's alerts are read afterwards
        drain_queue(sqs, self.dead_letter_queue_url)
        event_path = self.work_dir / "events" / event_file
        event_path.parent.mkdir(exist_ok=True)
        event = load_event(event_file, instance_id, **instance_ids)
        if fresh:
            event["time"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        event_path.write_text(json.dumps(event, indent=2))
        run = sam_local.invoke(
            self.runtime, self.build_dir, event_path, self.function_env, sts_endpoint=self.cloud.endpoint, region=REGION
        )
        self.invokes.append((event_file, run.seconds))
        print(f"\n{event_file}: sam local invoke {run.seconds:.1f} s\n{run.stderr[-4000:]}")  # shown on failure
        return run

    def alerts(self) -> list[ReceivedAlert]:
        return received_alerts(self.cloud.client("sqs"), self.subscriber_queue_url)

    def dead_letters(self) -> list[dict]:
        return drain_queue(self.cloud.client("sqs"), self.dead_letter_queue_url)

    def checkpoints(self, instance_id: str) -> dict[str, dict]:
        """Checkpoint items of an instance by checkpoint id, read from the stack's checkpoint table."""
        table_name = self.function_env.get("CHECKPOINT_TABLE_NAME")
        assert table_name, "template.yaml declares no CHECKPOINT_TABLE_NAME referring to a table of the stack"
        table = self.cloud.session.resource("dynamodb", endpoint_url=self.cloud.endpoint).Table(table_name)
        items = table.query(KeyConditionExpression=Key("instanceId").eq(instance_id))["Items"]
        return {item["checkpointId"]: item for item in items}


@pytest.fixture(scope="module")  # servers stop, and the total is taken, when this module's tests are done
def local_cloud(tmp_path_factory, e2e_timings):
    started = time.perf_counter()
    work_dir = tmp_path_factory.mktemp("sam-local")
    runtime, missing = sam_local.ensure_runtime(work_dir)  # in CI a missing piece raises: an error, not a skip
    if runtime is None:
        pytest.skip(f"sam local invoke e2e skipped: {missing}")

    with start_local_cloud(STACK, {}, REGION) as cloud:
        sqs = cloud.client("sqs")
        subscriber = sqs.create_queue(QueueName="e2e-alert-subscriber")["QueueUrl"]
        subscriber_arn = sqs.get_queue_attributes(QueueUrl=subscriber, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        cloud.client("sns").subscribe(
            TopicArn=cloud.stack.outputs["AlertTopicArn"], Protocol="sqs", Endpoint=subscriber_arn
        )
        run = SamLocalRun(
            cloud=cloud,
            runtime=runtime,
            work_dir=work_dir,
            build_dir=work_dir / "build",
            builder=cloud.builder(),
            function_env=cloud.function_environment(host_address=runtime.host_address),
            subscriber_queue_url=subscriber,
            build_seconds=sam_local.build(runtime, work_dir / "build"),
        )
        yield run
    e2e_timings.extend(_timings(run, time.perf_counter() - started))


def _timings(cloud: SamLocalRun, total: float) -> list[str]:
    """Lines for the terminal summary (tests/e2e/conftest.py prints them after the results)."""
    lines = [f"sam build {cloud.build_seconds:.1f} s"]
    lines += [f"sam local invoke {name:<48} {seconds:5.1f} s" for name, seconds in cloud.invokes]
    if cloud.invokes:
        invoke_total = sum(seconds for _, seconds in cloud.invokes)
        lines.append(
            f"{len(cloud.invokes)} invokes {invoke_total:.1f} s, {invoke_total / len(cloud.invokes):.1f} s each"
        )
    lines.append(f"total {total:.1f} s (runtime check, servers, stack, build, seeding, invokes)")
    return lines


# ---- what each sample event must do ---------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[SamLocalRun], None]] = {}


def expect(event_file: str):
    def register(check: Callable[[SamLocalRun], None]):
        SCENARIOS[event_file] = check
        return check

    return register


def only_alert_for(cloud: SamLocalRun, instance_id: str) -> ReceivedAlert:
    alerts = cloud.alerts()
    assert [a.document["instanceId"] for a in alerts] == [instance_id], "one alert per interruption"
    return alerts[0]


@expect("spot-interruption-instance-tg.json")
def _instance_target_group(cloud: SamLocalRun) -> None:
    # Given an instance on ports 80 and 8080 of an instance-type target group with a 300 s delay, and a bystander
    b = cloud.builder
    web = b.target_group("e2e-instance-tg", "instance", delay=300)
    victim = b.spot_instance("web-1", tags={"TargetGroupArn": web})
    bystander = b.spot_instance("web-2", tags={"TargetGroupArn": web})
    b.register(web, [victim.instance_id, bystander.instance_id], ports=[80, 8080])

    # When its interruption warning is invoked through sam local invoke
    run = cloud.invoke("spot-interruption-instance-tg.json", victim.instance_id)

    # Then both registrations are gone, the bystander's stay, the delay is the 120 s budget, and the alert is out
    assert run.response == {"batchItemFailures": []}, run.error_message
    assert b.registered(web) == [f"{bystander.instance_id}:80", f"{bystander.instance_id}:8080"]
    assert b.deregistration_delay(web) == 120
    alert = only_alert_for(cloud, victim.instance_id)
    assert alert.document["outcome"] == "drained" and alert.attributes["outcome"] == "drained"
    assert sorted(alert.document["targetGroups"][0]["deregistered"]) == [
        f"{victim.instance_id}:80",
        f"{victim.instance_id}:8080",
    ]


@expect("spot-interruption-ip-tg.json")
def _ip_target_group(cloud: SamLocalRun) -> None:
    # Given an instance with a secondary IP and a second network interface, every IP in an ip-type target group
    b = cloud.builder
    api = b.target_group("e2e-ip-tg", "ip", delay=60)
    victim = b.spot_instance("api-1", tags={"TargetGroupArn": api}, secondary_ips=2, extra_enis=1)
    other = b.spot_instance("api-2", tags={"TargetGroupArn": api})
    b.register(api, victim.private_ips + other.private_ips, ports=[443])

    run = cloud.invoke("spot-interruption-ip-tg.json", victim.instance_id)

    # Then none of its private IPs is registered any more, the other instance's is
    assert run.response == {"batchItemFailures": []}, run.error_message
    assert b.registered(api) == [f"{other.private_ips[0]}:443"]
    alert = only_alert_for(cloud, victim.instance_id)
    assert alert.document["targetGroups"][0]["targetType"] == "ip"
    assert sorted(alert.document["targetGroups"][0]["deregistered"]) == sorted(
        f"{ip}:443" for ip in set(victim.private_ips)
    )


@expect("spot-interruption-two-target-groups.json")
def _two_target_groups(cloud: SamLocalRun) -> None:
    # Given an instance whose tag names two target groups, registered in both
    b = cloud.builder
    first = b.target_group("e2e-two-a", "instance", delay=60)
    second = b.target_group("e2e-two-b", "instance", delay=60, port=8443)
    victim = b.spot_instance("edge-1", tags={"TargetGroupArn": f"{first}, {second}"})
    b.register(first, [victim.instance_id], ports=[80])
    b.register(second, [victim.instance_id], ports=[8443])

    run = cloud.invoke("spot-interruption-two-target-groups.json", victim.instance_id)

    assert run.response == {"batchItemFailures": []}, run.error_message
    assert (b.registered(first), b.registered(second)) == ([], [])
    alert = only_alert_for(cloud, victim.instance_id)
    assert sorted(tg["name"] for tg in alert.document["targetGroups"]) == ["e2e-two-a", "e2e-two-b"]
    assert alert.document["outcome"] == "drained"


@expect("spot-interruption-ecs-container-instance.json")
def _ecs_container_instance(cloud: SamLocalRun) -> None:
    # Given a container instance of cluster e2e-game (tagged) running a task of service "lobby" at 100% minimum
    # healthy, and a bystander container instance in the same cluster
    b = cloud.builder
    b.ecs_cluster("e2e-game")
    victim = b.spot_instance("ecs-1", tags={"ECSCluster": "e2e-game"})
    victim_ci = b.container_instance("e2e-game", victim.instance_id)
    bystander_ci = b.container_instance("e2e-game", b.spot_instance("ecs-2").instance_id)
    b.ecs_service("e2e-game", "lobby", minimum_healthy_percent=100)
    b.ecs_tasks("e2e-game", victim_ci, "lobby", service="lobby")

    run = cloud.invoke("spot-interruption-ecs-container-instance.json", victim.instance_id)

    # Then its container instance is DRAINING, the bystander's ACTIVE, and the alert names the service and warns
    assert run.response == {"batchItemFailures": []}, run.error_message
    assert b.container_instance_status("e2e-game", victim_ci) == "DRAINING"
    assert b.container_instance_status("e2e-game", bystander_ci) == "ACTIVE"
    alert = only_alert_for(cloud, victim.instance_id)
    assert alert.document["outcome"] == "drained"
    assert alert.document["ecs"]["containerInstanceArn"] == victim_ci
    assert [(s["name"], s["mayNotMoveInTime"]) for s in alert.document["ecs"]["services"]] == [("lobby", True)]


@expect("spot-interruption-classic-elb.json")
def _classic_load_balancer(cloud: SamLocalRun) -> None:
    # Given an instance behind a Classic Load Balancer named in its tag, with 300 s connection draining
    b = cloud.builder
    name = b.classic_load_balancer("e2e-classic", draining_timeout=300)
    victim = b.spot_instance("legacy-1", tags={"LoadBalancerName": name})
    bystander = b.spot_instance("legacy-2")
    b.register_classic(name, [victim.instance_id, bystander.instance_id])

    run = cloud.invoke("spot-interruption-classic-elb.json", victim.instance_id)

    # Then only the bystander is left, draining is the 120 s budget, and the alert says it was lowered
    assert run.response == {"batchItemFailures": []}, run.error_message
    assert b.classic_instances(name) == [bystander.instance_id]
    assert b.connection_draining(name) == {"Enabled": True, "Timeout": 120}
    alert = only_alert_for(cloud, victim.instance_id)
    assert alert.document["outcome"] == "drained"
    [classic] = alert.document["classicLoadBalancers"]
    assert (classic["name"], classic["connectionDrainingLoweredFromSeconds"]) == ("e2e-classic", 300)


def _drained_with_action(cloud: SamLocalRun, event_file: str, action: str, group_name: str) -> None:
    b = cloud.builder
    arn, victim = b.instance_in_target_group(group_name, f"{action}-1")

    run = cloud.invoke(event_file, victim.instance_id)

    assert run.response == {"batchItemFailures": []}, run.error_message
    assert b.registered(arn) == []
    alert = only_alert_for(cloud, victim.instance_id)
    assert alert.document["action"] == action
    assert f"{victim.instance_id} ({action}-1) {action} in" in alert.subject


@expect("spot-interruption-stop.json")
def _stop(cloud: SamLocalRun) -> None:
    _drained_with_action(cloud, "spot-interruption-stop.json", "stop", "e2e-stop-tg")


@expect("spot-interruption-hibernate.json")
def _hibernate(cloud: SamLocalRun) -> None:
    _drained_with_action(cloud, "spot-interruption-hibernate.json", "hibernate", "e2e-hibernate-tg")


@expect("rebalance-recommendation.json")
def _rebalance(cloud: SamLocalRun) -> None:
    # Given a registered instance; by default a rebalance recommendation only alerts
    b = cloud.builder
    arn, victim = b.instance_in_target_group("e2e-rebalance-tg", "rebalance-1")

    run = cloud.invoke("rebalance-recommendation.json", victim.instance_id)

    assert run.response == {"batchItemFailures": []}, run.error_message
    assert b.registered(arn) == [f"{victim.instance_id}:80"]
    alert = only_alert_for(cloud, victim.instance_id)
    assert alert.document["outcome"] == "alert-only"
    assert alert.attributes["event_type"] == "EC2 Instance Rebalance Recommendation"


@expect("capacity-reservation-interruption.json")
def _capacity_reservation(cloud: SamLocalRun) -> None:
    b = cloud.builder
    arn, victim = b.instance_in_target_group("e2e-cr-tg", "cr-1")

    run = cloud.invoke("capacity-reservation-interruption.json", victim.instance_id)

    # Then it is drained, and the deadline is the event's own instance-termination-time
    assert run.response == {"batchItemFailures": []}, run.error_message
    assert b.registered(arn) == []
    alert = only_alert_for(cloud, victim.instance_id)
    assert alert.document["deadline"] == "2026-11-26T10:02:00Z"
    assert alert.subject.startswith("Capacity Reservation interruption: ")


@expect("spot-interruption-unknown-instance.json")
def _unknown_instance(cloud: SamLocalRun) -> None:
    # Given nothing: the notice names an instance this account does not have
    run = cloud.invoke("spot-interruption-unknown-instance.json")

    # Then no retry, and the alert says what is known
    assert run.response == {"batchItemFailures": []}, run.error_message
    alert = only_alert_for(cloud, "i-0fffffffffffff008")
    assert alert.document["outcome"] == "instance-not-found"
    assert "instance not found" in alert.subject


@expect("spot-interruption-gamelift-fleetiq.json")
def _gamelift_fleetiq(cloud: SamLocalRun) -> None:
    # Given a FleetIQ game server group with one AVAILABLE server on the victim and one on another instance
    group = "e2e-arena"
    group_arn = cloud.gamelift.add_game_server_group(group)["GameServerGroupArn"]
    victim = cloud.builder.spot_instance("fleetiq-1", tags={"GameLiftGameServerGroup": group_arn})
    other = cloud.builder.spot_instance("fleetiq-2", tags={"GameLiftGameServerGroup": group_arn})
    cloud.gamelift.add_game_server(
        group, "gs-e2e-victim", victim.instance_id, connection_info="10.20.1.5:7777", data='{"map":"harbor"}'
    )
    cloud.gamelift.add_game_server(group, "gs-e2e-other", other.instance_id, connection_info="10.20.1.6:7777")

    run = cloud.invoke("spot-interruption-gamelift-fleetiq.json", victim.instance_id)

    # Then the victim's server is UTILIZED (not claimed again), the other stays AVAILABLE
    assert run.response == {"batchItemFailures": []}, run.error_message
    status = {gid: s["UtilizationStatus"] for (name, gid), s in cloud.gamelift.game_servers.items() if name == group}
    assert status == {"gs-e2e-victim": "UTILIZED", "gs-e2e-other": "AVAILABLE"}
    alert = only_alert_for(cloud, victim.instance_id)
    assert [s["gameServerId"] for s in alert.document["gameLift"]["gameServers"]] == ["gs-e2e-victim"]
    # And the server is checkpointed in the stack's checkpoint table
    assert alert.document["failures"] == []
    items = cloud.checkpoints(victim.instance_id)
    assert sorted(items) == [f"{EVENT_ACCOUNT}#game-server#{group}#gs-e2e-victim"]
    item = items[f"{EVENT_ACCOUNT}#game-server#{group}#gs-e2e-victim"]
    assert (item["connectionInfo"], item["gameServerData"]) == ("10.20.1.5:7777", '{"map":"harbor"}')
    assert item["noticeId"] == load_event("spot-interruption-gamelift-fleetiq.json")["id"]


@expect("spot-interruption-gamelift-fleet-compute.json")
def _gamelift_fleet_compute(cloud: SamLocalRun) -> None:
    # Given an Anywhere fleet with the victim registered as a compute hosting two sessions with players
    fleet = "fleet-5e2c1a4b-0000-4000-8000-0000000000e2"
    victim = cloud.builder.spot_instance("game-1", tags={"GameLiftFleetId": fleet})
    cloud.gamelift.add_fleet(fleet)
    cloud.gamelift.add_compute(fleet, victim.instance_id, ip_address=victim.private_ips[0])
    ranked = cloud.gamelift.add_game_session(
        fleet, victim.instance_id, name="ranked-1", game_session_id="gs-e2e-ranked", game_session_data="map=dust"
    )
    casual = cloud.gamelift.add_game_session(
        fleet, victim.instance_id, name="casual-2", game_session_id="gs-e2e-casual"
    )
    for player in ("p1", "p2"):
        cloud.gamelift.add_player_session(ranked["GameSessionId"], player)

    run = cloud.invoke("spot-interruption-gamelift-fleet-compute.json", victim.instance_id)

    # Then both sessions deny new players, and the alert counts sessions and players
    assert run.response == {"batchItemFailures": []}, run.error_message
    sessions = cloud.gamelift.game_sessions
    assert [sessions[s["GameSessionId"]]["PlayerSessionCreationPolicy"] for s in (ranked, casual)] == ["DENY_ALL"] * 2
    alert = only_alert_for(cloud, victim.instance_id)
    assert (alert.document["gameLift"]["gameSessionCount"], alert.document["gameLift"]["playerCount"]) == (2, 2)
    # And each session is checkpointed with its roster
    assert alert.document["failures"] == []
    items = cloud.checkpoints(victim.instance_id)
    assert sorted(items) == sorted(f"{EVENT_ACCOUNT}#game-session#{s['GameSessionId']}" for s in (ranked, casual))
    stored = items[f"{EVENT_ACCOUNT}#game-session#{ranked['GameSessionId']}"]
    assert sorted(p["playerId"] for p in stored["players"]) == ["p1", "p2"]
    assert stored["gameSessionData"] == "map=dust"


@expect("malformed-notice.json")
def _malformed(cloud: SamLocalRun) -> None:
    run = cloud.invoke("malformed-notice.json")

    # Then the function raises the documented error (sam local invoke still exits 0), the notice waits in the DLQ
    # with its reason, and no alert goes out
    assert run.error_type == "MalformedNotice", (run.error_type, run.error_message)
    assert "instance-id" in run.error_message
    [parked] = cloud.dead_letters()
    assert "instance-id" in parked["MessageAttributes"]["RejectReason"]["StringValue"]
    assert parked["MessageAttributes"]["Origin"]["StringValue"] == "direct-invocation"
    assert cloud.alerts() == []


@expect("sqs-batch.json")
def _sqs_batch(cloud: SamLocalRun) -> None:
    # Given the sample batch: three notices for instances in one target group, and one truncated record
    b = cloud.builder
    arn = b.target_group("e2e-batch-tg", "instance", delay=60)
    placeholders = placeholder_ids("sqs-batch.json")
    instances = [
        b.spot_instance(f"batch-{n}", tags={"TargetGroupArn": arn}).instance_id for n in range(len(placeholders))
    ]
    b.register(arn, instances, ports=[80])

    run = cloud.invoke("sqs-batch.json", **dict(zip(placeholders, instances)))

    # Then all three are drained and alerted, nothing is retried, and the truncated record is parked with its reason
    assert run.response == {"batchItemFailures": []}, run.error_message
    assert len(instances) == 3
    assert b.registered(arn) == []
    assert sorted(a.document["instanceId"] for a in cloud.alerts()) == sorted(instances)
    [parked] = cloud.dead_letters()
    assert "not JSON" in parked["MessageAttributes"]["RejectReason"]["StringValue"]


def _group_with_hook(cloud: SamLocalRun, event_file: str, target_group: str | None) -> tuple[str, str, dict]:
    """The sample's Auto Scaling group with the handler's hook, optionally attached to a target group (moto registers
    its instances there); (victim, other member, event)."""
    event = load_event(event_file)
    group = event["detail"]["AutoScalingGroupName"]
    arns = [target_group] if target_group else []
    [victim, other] = cloud.builder.auto_scaling_group(group, arns, size=2)
    cloud.builder.lifecycle_hook(group, "spot-interruption-drain")
    return victim, other, event


def _completed_already(cloud: SamLocalRun, event: dict, instance_id: str) -> bool:
    """True when the action is no longer active: completing it again is refused, as AWS refuses it."""
    detail = event["detail"]
    try:
        cloud.client("autoscaling").complete_lifecycle_action(
            AutoScalingGroupName=detail["AutoScalingGroupName"],
            LifecycleHookName=detail["LifecycleHookName"],
            LifecycleActionToken=detail["LifecycleActionToken"],
            LifecycleActionResult="CONTINUE",
            InstanceId=instance_id,
        )
    except cloud.client("autoscaling").exceptions.ClientError as exc:
        return "No active Lifecycle Action" in str(exc)
    return False


@expect("lifecycle-terminate.json")
def _lifecycle_terminate(cloud: SamLocalRun) -> None:
    # Given an Auto Scaling group with the handler's terminate hook, its instance in the group's target group
    b = cloud.builder
    arn = b.target_group("e2e-lifecycle-tg", "instance", delay=60)
    victim, other, event = _group_with_hook(cloud, "lifecycle-terminate.json", arn)
    b.register(arn, [victim, other], ports=[80])

    run = cloud.invoke("lifecycle-terminate.json", victim, fresh=True)

    # Then it is draining out of the target group, the action waits for it, and a follow-up is on its way
    assert run.response == {"batchItemFailures": []}, run.error_message
    assert b.registered(arn) == [f"{other}:80"] and b.target_states(arn)[f"{victim}:80"] == "draining"
    assert not _completed_already(cloud, event, victim)  # (this completes it: the follow-up will find it done)
    alert = only_alert_for(cloud, victim)
    assert alert.document["detailType"] == "EC2 Instance-terminate Lifecycle Action"
    assert alert.document["lifecycleAction"]["completed"] is False
    queue = cloud.function_env["NOTICE_QUEUE_URL"].rsplit("/", 1)[-1]
    notices = cloud.client("sqs").get_queue_url(QueueName=queue)["QueueUrl"]
    delayed = cloud.client("sqs").get_queue_attributes(
        QueueUrl=notices, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert int(delayed) >= 1


@expect("lifecycle-warm-pool.json")
def _lifecycle_warm_pool(cloud: SamLocalRun) -> None:
    # Given an instance of a group with the hook, registered nowhere, going back to the warm pool
    victim, _, event = _group_with_hook(cloud, "lifecycle-warm-pool.json", None)

    run = cloud.invoke("lifecycle-warm-pool.json", victim, fresh=True)

    # Then the action is completed at once, and the alert says where the instance goes
    assert run.response == {"batchItemFailures": []}, run.error_message
    assert _completed_already(cloud, event, victim)
    alert = only_alert_for(cloud, victim)
    assert alert.document["lifecycleAction"]["instanceGoes"] == "back to the group's warm pool"
    assert alert.document["lifecycleAction"]["completed"] is True


@expect("lifecycle-other-hook.json")
def _lifecycle_other_hook(cloud: SamLocalRun) -> None:
    # Given a registered instance, and a lifecycle action of a hook another tool owns
    b = cloud.builder
    arn = b.target_group("e2e-other-hook-tg", "instance", delay=60)
    victim = b.spot_instance("other-hook-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80])

    run = cloud.invoke("lifecycle-other-hook.json", victim.instance_id)

    # Then the handler leaves it alone: nothing drained, no alert, nothing parked
    assert run.error_type is None, run.error_message
    assert b.registered(arn) == [f"{victim.instance_id}:80"]
    assert cloud.alerts() == [] and cloud.dead_letters() == []


@expect("state-change-shutting-down.json")
def _state_change_shutting_down(cloud: SamLocalRun) -> None:
    # Given a Spot instance EC2 is terminating, whose warning never came
    b = cloud.builder
    arn, victim = b.instance_in_target_group("e2e-late-tg", "late-1")
    b.interrupt_spot(victim.instance_id, "terminate", complete=False)

    run = cloud.invoke("state-change-shutting-down.json", victim.instance_id, fresh=True)

    # Then it is drained at its state change, with one alert saying no warning came
    assert run.error_type is None, run.error_message
    assert b.registered(arn) == []
    alert = only_alert_for(cloud, victim.instance_id)
    assert alert.document["outcome"] == "missed-warning"


@expect("state-change-stopping.json")
def _state_change_stopping(cloud: SamLocalRun) -> None:
    # Given two Spot instances: one EC2 is stopping for an interruption (no warning came), one its user stopped
    b = cloud.builder
    arn, victim = b.instance_in_target_group("e2e-stopping-tg", "stopping-1")
    mine = b.spot_instance("stopped-by-user", tags={"TargetGroupArn": arn})
    b.register(arn, [mine.instance_id], ports=[80])
    b.interrupt_spot(victim.instance_id, "stop", complete=False)
    b.stop(mine.instance_id)

    user = cloud.invoke("state-change-stopping.json", mine.instance_id, fresh=True)
    assert user.error_type is None, user.error_message
    assert cloud.alerts() == [] and f"{mine.instance_id}:80" in b.registered(arn)
    run = cloud.invoke("state-change-stopping.json", victim.instance_id, fresh=True)

    assert run.error_type is None, run.error_message
    assert b.registered(arn) == [f"{mine.instance_id}:80"]
    assert only_alert_for(cloud, victim.instance_id).document["outcome"] == "missed-warning"


@expect("state-change-running.json")
def _state_change_running(cloud: SamLocalRun) -> None:
    # Given an instance drained on a stop warning, stopped by EC2, then started again
    b = cloud.builder
    arn, victim = b.instance_in_target_group("e2e-resume-tg", "resume-1", ports=(80, 8080))
    drained = cloud.invoke("spot-interruption-stop.json", victim.instance_id, fresh=True)
    assert drained.error_type is None, drained.error_message
    assert b.registered(arn) == []
    b.interrupt_spot(victim.instance_id, "stop")
    b.resume(victim.instance_id)

    run = cloud.invoke("state-change-running.json", victim.instance_id, fresh=True)

    # Then it is back on both ports, with one `restored` alert
    assert run.error_type is None, run.error_message
    assert b.registered(arn) == [f"{victim.instance_id}:80", f"{victim.instance_id}:8080"]
    assert only_alert_for(cloud, victim.instance_id).document["outcome"] == "restored"


@expect("reconcile-sweep.json")
def _reconcile_sweep(cloud: SamLocalRun) -> None:
    # Given a Spot instance in an ip target group that EC2 terminated, and no signal of it reached the handler
    b = cloud.builder
    arn, victim = b.instance_in_target_group("e2e-swept-tg", "swept-1", target_type="ip", ports=(443,))
    b.interrupt_spot(victim.instance_id, "terminate")

    first = cloud.invoke("reconcile-sweep.json", fresh=True)
    assert first.error_type is None, first.error_message
    alert = only_alert_for(cloud, victim.instance_id)
    again = cloud.invoke("reconcile-sweep.json", fresh=True)

    # Then its ip target is deregistered, and it is alerted once, as missed
    assert again.error_type is None, again.error_message
    assert b.registered(arn) == []
    assert alert.document["outcome"] == "missed"
    assert cloud.alerts() == []


# ---- the tests ------------------------------------------------------------------------------------------------------


def test_every_expectation_has_its_event_file():
    assert sorted(set(SCENARIOS) - set(EVENT_FILES)) == [], "expectations for files no longer in events/"


@pytest.mark.parametrize("event_file", EVENT_FILES)
def test_sample_event_through_sam_local_invoke(event_file, request):
    check = SCENARIOS.get(event_file)
    assert check is not None, f"events/{event_file} has no expectation: add an @expect({event_file!r}) in {__file__}"
    check(request.getfixturevalue("local_cloud"))
