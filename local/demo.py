"""The embedded default: one Spot interruption end to end on a local AWS, with no account.

    make demo            (or: python -m local.demo [--in-process | --sam-local] [--member-account | --missed])

With --member-account (make demo ARGS=--member-account) the stack is a hub (MemberAccountIds set) and the
interrupted instance lives in member account MEMBER_ACCOUNT, seeded by that account's own administrator with the role
member/template.yaml creates there; the notice reaches the hub's queue as the member's forwarding rule and the hub
bus's rule deliver it (the envelope keeps the member's account), and the handler, in-process, drains the instance in
the member account through AssumeRole.

With --missed (make demo ARGS=--missed): a Spot instance EC2 terminates with no warning, caught by its state change
(outcome missed-warning), and a hibernated one drained on its warning, put back once it is running again (restored).

1. starts a moto server (with the project's fidelity patches) and the GameLift fake on this machine;
2. creates the stack's resources from template.yaml itself (SAM transform, then moto's CloudFormation);
3. seeds a realistic account: a VPC, Spot instances, an instance-type and an ip-type target group, an Auto Scaling
   group with its own target group, and GameLift game sessions on the interrupted instance;
4. puts an "EC2 Spot Instance Interruption Warning" on EventBridge, whose rule routes it to the notice queue;
5. runs the handler on what the queue delivers, the way Lambda's SQS poller hands it over: through
   `sam local invoke` when Docker and the Lambda image are there, otherwise in this process;
6. prints target health before and after, and the alert as an e-mail subscriber reads it;
7. stops every server it started.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from local import sam_local
from local.account import AccountBuilder, account_session, create_member_role
from local.cloud import LocalCloud, local_cloud
from local.gamelift_seed import SeededGameLift, seed_gamelift
from local.lambda_runtime import ACCOUNT, REGION, LambdaContext, QueuePoller, failed_ids, in_process_function

ROOT = Path(__file__).resolve().parents[1]
MEMBER_ACCOUNT = "111111111111"  # hub and spoke (--member-account)
STACK = "spot-handler"
ALERT_EMAIL = "ops@example.com"
RUN_DIR = ROOT / ".local-run"


@dataclass
class Scenario:
    victim: str
    bystander: str
    target_groups: dict[str, str]  # label -> ARN
    gamelift: SeededGameLift | None = None
    classic_load_balancer: str = ""
    ecs_cluster: str = ""
    container_instances: dict[str, str] | None = None  # victim / bystander -> container instance ARN


def seed(builder: AccountBuilder) -> Scenario:
    """A web tier behind two target groups and an Auto Scaling group: one of its Spot instances gets the notice."""
    web = builder.target_group("web-instance-tg", "instance", delay=300)
    api = builder.target_group("api-ip-tg", "ip", delay=60)
    asg_tg = builder.target_group("asg-web-tg", "instance", delay=120)
    victim, bystander = builder.auto_scaling_group("web-spot-asg", [asg_tg], size=2)
    for instance_id, name in ((victim, "web-spot-1"), (bystander, "web-spot-2")):
        builder.tag(instance_id, {"Name": name, "TargetGroupArn": f"{web}, {api}"})
    builder.register(web, [victim, bystander], ports=[80, 8080])
    builder.register(api, builder.private_ips(victim) + builder.private_ips(bystander), ports=[443])
    builder.register(asg_tg, [victim, bystander], ports=[80])  # what the Auto Scaling group does for its instances
    # The older half of the web tier: a Classic Load Balancer (named by a tag), and ECS running a service on both.
    classic = builder.classic_load_balancer("legacy-web-clb", draining_timeout=300)
    cluster = "web-cluster"
    builder.ecs_cluster(cluster)
    builder.ecs_service(cluster, "web-api", minimum_healthy_percent=100)
    containers = {}
    for instance_id, label in ((victim, "victim"), (bystander, "bystander")):
        builder.tag(instance_id, {"LoadBalancerName": classic, "ECSCluster": cluster})
        containers[label] = builder.container_instance(cluster, instance_id)
        builder.ecs_tasks(cluster, containers[label], "web-api", service="web-api")
    builder.register_classic(classic, [victim, bystander])
    return Scenario(
        victim,
        bystander,
        {"web-instance-tg": web, "api-ip-tg": api, "asg-web-tg": asg_tg},
        classic_load_balancer=classic,
        ecs_cluster=cluster,
        container_instances=containers,
    )


def seed_game_servers(builder: AccountBuilder, scenario: Scenario, gamelift_url: str) -> None:
    """The victim also hosts game sessions (as an Anywhere compute) and FleetIQ game servers."""
    seeded = seed_gamelift(
        gamelift_url,
        fleetiq_instance_id=scenario.victim,
        compute_instance_id=scenario.victim,
        bystander_instance_id=scenario.bystander,
    )
    builder.tag(
        scenario.victim,
        {"GameLiftGameServerGroup": seeded.game_server_group, "GameLiftFleetId": seeded.fleet_id},
    )
    scenario.gamelift = seeded


def print_gamelift(gamelift, scenario: Scenario, heading: str) -> None:
    """What a game backend sees through the GameLift API: sessions on the victim's compute, its game servers."""
    seeded = scenario.gamelift
    print(f"\n{heading}")
    sessions = [
        s
        for status in ("ACTIVE", "ACTIVATING")
        for page in gamelift.get_paginator("describe_game_sessions").paginate(
            FleetId=seeded.fleet_id, StatusFilter=status
        )
        for s in page["GameSessions"]
        if s.get("ComputeName") == seeded.compute_name
    ]
    for session in sessions:
        players = gamelift.describe_player_sessions(GameSessionId=session["GameSessionId"])["PlayerSessions"]
        print(
            f"  game session {session['Name']:<14} {session['CurrentPlayerSessionCount']} players  "
            f"new players: {session['PlayerSessionCreationPolicy']}"
        )
        print("      players: " + ", ".join(p["PlayerId"] for p in players))
    servers = gamelift.list_game_servers(GameServerGroupName=seeded.game_server_group)["GameServers"]
    for server in servers:
        if server.get("InstanceId") == scenario.victim:
            print(
                f"  game server  {server['GameServerId']:<14} {server.get('UtilizationStatus')}, "
                f"{server.get('ClaimStatus') or 'unclaimed'}  ({server.get('ConnectionInfo')})"
            )


def print_checkpoints(dynamodb, table_name: str, instance_id: str) -> None:
    """The checkpoint items a game backend reads back: one Query by instance id."""
    items = dynamodb.query(
        TableName=table_name,
        KeyConditionExpression="instanceId = :i",
        ExpressionAttributeValues={":i": {"S": instance_id}},
    )["Items"]
    print(f"\nCheckpoint items in DynamoDB table {table_name} for {instance_id}: {len(items)}")
    for item in items:
        print(f"  {item['checkpointId']['S']}")


def print_target_health(builder: AccountBuilder, scenario: Scenario, heading: str) -> None:
    print(f"\n{heading}")
    names = {scenario.victim: "victim", scenario.bystander: "bystander"}
    for ip in builder.private_ips(scenario.victim):
        names[ip] = "victim"
    for ip in builder.private_ips(scenario.bystander):
        names[ip] = "bystander"
    for label, arn in scenario.target_groups.items():
        registered = builder.registered(arn)
        delay = builder.deregistration_delay(arn)
        print(f"  {label:<16} delay {delay:>3} s  {len(registered)} registrations")
        for entry in registered:
            target = entry.rsplit(":", 1)[0]
            print(f"      {entry:<28} {names.get(target, '')}")


def print_classic_and_ecs(builder: AccountBuilder, scenario: Scenario, heading: str) -> None:
    print(f"\n{heading}")
    names = {scenario.victim: "victim", scenario.bystander: "bystander"}
    draining = builder.connection_draining(scenario.classic_load_balancer)
    registered = builder.classic_instances(scenario.classic_load_balancer)
    print(f"  Classic Load Balancer {scenario.classic_load_balancer}: connection draining {draining.get('Timeout')} s")
    for instance_id in registered:
        print(f"      {instance_id:<28} {names.get(instance_id, '')}")
    print(f"  ECS cluster {scenario.ecs_cluster}:")
    for label, arn in (scenario.container_instances or {}).items():
        status = builder.container_instance_status(scenario.ecs_cluster, arn)
        print(f"      container instance {arn.rsplit('/', 1)[-1]} ({label}): {status}")


def interruption_event(instance_id: str) -> dict:
    """PutEvents entry shaped like EC2's own notice (the sample in events/ with this account's instance)."""
    sample = json.loads((ROOT / "events" / "spot-interruption-instance-tg.json").read_text())
    detail = dict(sample["detail"], **{"instance-id": instance_id})
    return {
        "Source": sample["source"],
        "DetailType": sample["detail-type"],
        "Detail": json.dumps(detail),
        "Resources": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"],
        "Time": datetime.now(UTC),
    }


def invoke_in_process(cloud: LocalCloud, event: dict, log_path: Path) -> dict:
    captured = io.StringIO()
    with (
        # Powertools logs and metrics go to stdout, as in Lambda; its logger keeps the stdout it finds at import.
        contextlib.redirect_stdout(captured),
        in_process_function(cloud.in_process_environment()) as lambda_handler,
    ):
        response = lambda_handler(event, LambdaContext(f"{STACK}-interruption-handler"))
    log_path.write_text(captured.getvalue())
    return response


def email_as_received(topic_arn: str) -> list[tuple[str, str]]:
    """(subject, body) as an e-mail subscriber reads them: SNS delivers the message's "email" key to e-mail."""
    from moto.sns import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[topic_arn]
    return [(subject, json.loads(message).get("email", "")) for _, message, subject, _, _ in topic.sent_notifications]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one Spot interruption end to end on a local AWS.")
    runner = parser.add_mutually_exclusive_group()
    runner.add_argument(
        "--sam-local",
        dest="runner",
        action="store_const",
        const="sam-local",
        help="run the handler through sam build + sam local invoke (Docker); fail if that cannot run",
    )
    runner.add_argument(
        "--in-process",
        dest="runner",
        action="store_const",
        const="in-process",
        help="run the handler in this process (no Docker)",
    )
    parser.add_argument(
        "--lifecycle",
        action="store_true",
        help="then a terminate lifecycle action for the bystander: drained, and completed once its drain is over",
    )
    parser.add_argument(
        "--member-account",
        action="store_true",
        help=f"hub and spoke: interrupt an instance of member account {MEMBER_ACCOUNT}, drained through its role",
    )
    parser.add_argument(
        "--missed",
        action="store_true",
        help="a warning that never came, caught by the state change; a hibernated instance restored when it runs again",
    )
    parser.set_defaults(runner="auto")  # sam local invoke when Docker and the Lambda image are here, else in-process
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    RUN_DIR.mkdir(exist_ok=True)
    if args.member_account:
        try:
            parameters = {"AlertEmail": ALERT_EMAIL, "MemberAccountIds": MEMBER_ACCOUNT}
            with local_cloud(STACK, parameters) as cloud:
                return run_member_demo(cloud)
        finally:
            print("\nStopped the local moto server and the GameLift fake.")
    runtime = choose_runtime(args.runner)
    try:
        with local_cloud(STACK, {"AlertEmail": ALERT_EMAIL}) as cloud:
            if args.missed:
                return run_missed_demo(cloud, runtime)
            return run_demo(cloud, runtime, lifecycle=args.lifecycle)
    finally:
        print("\nStopped the local moto server and the GameLift fake.")


def choose_runtime(requested: str) -> sam_local.Runtime | None:
    """The sam local invoke runtime, or None to run in-process. --sam-local provisions it and fails loudly."""
    if requested == "in-process":
        return None
    explicit = requested == "sam-local"
    runtime, missing = sam_local.ensure_runtime(RUN_DIR / "sam-local", provision=explicit, ci=explicit)
    if runtime is None:
        print(f"sam local invoke not available, running the handler in-process instead: {missing}")
    return runtime


def invoke_with_sam_local(runtime: sam_local.Runtime, cloud: LocalCloud, event: dict, log_path: Path) -> dict:
    """sam build, then sam local invoke with the batch.

    The function reaches this process's moto over Docker's bridge."""
    work = RUN_DIR / "sam-local"
    print("sam build (python3.13, x86_64) ...", flush=True)
    build_seconds = sam_local.build(runtime, work / "build", region=REGION)
    event_path = work / "event.json"
    event_path.write_text(json.dumps(event, indent=2))
    environment = cloud.function_environment(host_address=runtime.host_address)
    run = sam_local.invoke(runtime, work / "build", event_path, environment, sts_endpoint=cloud.endpoint, region=REGION)
    log_path.write_text(run.stderr)
    if run.failed:
        raise RuntimeError(f"the function failed under sam local invoke: {run.error_type}: {run.error_message}")
    print(f"sam build took {build_seconds:.1f} s; sam local invoke {run.seconds:.1f} s.")
    return run.response


def run_demo(cloud: LocalCloud, runtime: sam_local.Runtime | None = None, lifecycle: bool = False) -> int:
    print(f"Local AWS (moto) on {cloud.endpoint}, account {ACCOUNT}, region {REGION}.")

    stack = cloud.stack
    outputs = stack.outputs
    print(f"\nStack '{STACK}' created from template.yaml in moto's CloudFormation.")
    print("  left out (run by this demo instead): " + ", ".join(sorted(stack.left_out)))
    if stack.skipped_by_moto:
        print(
            "  moto's CloudFormation cannot create: "
            + ", ".join(f"{k} ({v})" for k, v in stack.skipped_by_moto.items())
        )
    sns = cloud.client("sns")
    # moto's CloudFormation lacks AWS::SNS::Subscription: create the template's e-mail subscription directly.
    sns.subscribe(TopicArn=outputs["AlertTopicArn"], Protocol="email", Endpoint=ALERT_EMAIL)

    builder = cloud.builder()
    scenario = seed(builder)
    print(f"\nSeeded: VPC {builder.vpc_id}, Auto Scaling group web-spot-asg with Spot instances")
    print(f"  victim    {scenario.victim} (web-spot-1)   bystander {scenario.bystander} (web-spot-2)")
    seed_game_servers(builder, scenario, cloud.gamelift_url)
    print(
        f"  GameLift (fake on {cloud.gamelift_url}): the victim hosts game sessions of fleet "
        f"{scenario.gamelift.fleet_id}"
    )
    print(f"  and game servers of FleetIQ group {scenario.gamelift.game_server_group}")
    gamelift = cloud.client("gamelift")
    print_target_health(builder, scenario, "Target health BEFORE the interruption:")
    print_gamelift(gamelift, scenario, "GameLift BEFORE the interruption:")
    print_classic_and_ecs(builder, scenario, "Classic Load Balancer and ECS BEFORE the interruption:")

    events = cloud.client("events")
    entry = interruption_event(scenario.victim)
    put = events.put_events(Entries=[entry])
    print(
        f"\nPut '{entry['DetailType']}' for {scenario.victim} on EventBridge"
        f" (event {put['Entries'][0].get('EventId')})."
    )

    poller = QueuePoller(cloud.client("sqs"), outputs["NoticeQueueUrl"])
    messages = poller.receive(wait_seconds=5)
    if not messages:
        print("The rule did not deliver the notice to the queue: nothing to handle.", file=sys.stderr)
        return 1
    print(f"The rule routed it to the notice queue; the poller hands the handler a batch of {len(messages)}.")

    failed = run_handler(cloud, runtime, poller, messages, RUN_DIR / "handler.log")

    print_target_health(builder, scenario, "Target health AFTER the interruption:")
    print_gamelift(gamelift, scenario, "GameLift AFTER the interruption:")
    print_classic_and_ecs(builder, scenario, "Classic Load Balancer and ECS AFTER the interruption:")
    print_checkpoints(cloud.client("dynamodb"), outputs["CheckpointTableName"], scenario.victim)

    print(f"\nThe alert as {ALERT_EMAIL} reads it:")
    alerts = email_as_received(outputs["AlertTopicArn"])
    print_alerts(alerts)
    if not alerts or failed:
        return 1
    return run_lifecycle_demo(cloud, runtime, builder, scenario, poller, len(alerts)) if lifecycle else 0


def run_handler(cloud: LocalCloud, runtime, poller: QueuePoller, messages: list[dict], log_path: Path) -> list[str]:
    """The handler on one batch from the queue, as the event source mapping runs it; the ids it reported failed."""
    started = time.perf_counter()
    if runtime is not None:
        response = invoke_with_sam_local(runtime, cloud, poller.event(messages), log_path)
        how = "through sam local invoke (Docker)"
    else:
        response = invoke_in_process(cloud, poller.event(messages), log_path)
        how = "in-process"
    elapsed = time.perf_counter() - started
    print(
        f"Handler ran {how} in {elapsed:.2f} s; response {json.dumps(response)}; logs in {log_path.relative_to(ROOT)}"
    )
    failed = failed_ids(response)
    poller.delete_handled(messages, failed)  # what the poller does with records the function reports handled
    return failed


def print_alerts(alerts: list[tuple[str, str]]) -> None:
    for subject, body in alerts:
        print("  " + "-" * 72)
        print(f"  Subject: {subject}\n")
        print("\n".join("  " + line for line in body.splitlines()))
        print("  " + "-" * 72)


def run_lifecycle_demo(cloud: LocalCloud, runtime, builder, scenario: Scenario, poller, alerts_before: int) -> int:
    """The bystander leaves through the Auto Scaling group's terminate lifecycle hook (scale-in, instance refresh, or
    Capacity Rebalancing): drained like a Spot warning, and its action completed once its drain is over."""
    from local import moto_fidelity

    hook, token = "spot-interruption-drain", "d3e0a7c2-0000-4000-8000-00000000c0de"
    builder.lifecycle_hook("web-spot-asg", hook, heartbeat_timeout=120)
    sample = json.loads((ROOT / "events" / "lifecycle-terminate.json").read_text())
    detail = dict(
        sample["detail"],
        EC2InstanceId=scenario.bystander,
        AutoScalingGroupName="web-spot-asg",
        LifecycleActionToken=token,
    )
    entry = {"Source": sample["source"], "DetailType": sample["detail-type"], "Detail": json.dumps(detail)}
    cloud.client("events").put_events(Entries=[{**entry, "Time": datetime.now(UTC)}])
    print(f"\n\n=== Auto Scaling terminates {scenario.bystander} (web-spot-2) through its lifecycle hook '{hook}' ===")
    messages = poller.receive(wait_seconds=5)
    if not messages:
        print("The lifecycle rule did not deliver the action to the queue.", file=sys.stderr)
        return 1
    run_handler(cloud, runtime, poller, messages, RUN_DIR / "handler-lifecycle.log")
    print_target_health(builder, scenario, "Target health after the lifecycle action (draining ones left out):")
    print(f"  lifecycle action {token}: {_lifecycle_state(moto_fidelity, token)}")
    print(f"\nThe alert as {ALERT_EMAIL} reads it:")
    print_alerts(email_as_received(cloud.stack.outputs["AlertTopicArn"])[alerts_before:])

    moto_fidelity.end_draining()  # moto serves no traffic: its drains last their whole delay unless moved on
    print("\nmoto's drain clock moved past the deregistration delays: the bystander's connections have drained.")
    print("Waiting for the handler's follow-up (a delayed message on the notice queue, DelaySeconds 30) ...")
    follow_ups = poller.receive(wait_seconds=40)
    if not follow_ups:
        print("No follow-up arrived.", file=sys.stderr)
        return 1
    run_handler(cloud, runtime, poller, follow_ups, RUN_DIR / "handler-follow-up.log")
    state = _lifecycle_state(moto_fidelity, token)
    print(f"  lifecycle action {token}: {state}")
    return 0 if state.startswith("completed") else 1


def _lifecycle_state(moto_fidelity, token: str) -> str:
    action = moto_fidelity.lifecycle_actions(ACCOUNT, REGION).get(token, {})
    if action.get("result"):
        return f"completed with {action['result']} ({action.get('heartbeats', 0)} heartbeats)"
    return "waiting for the instance's registrations to leave draining"


def run_missed_demo(cloud: LocalCloud, runtime) -> int:
    """Late signals and restore: a warning that never came, caught by the instance's state change; a hibernated
    instance drained on its warning, then put back when EC2 starts it again. Each through EventBridge, its queue
    and the handler, as in the cloud."""
    outputs = cloud.stack.outputs
    print(f"Local AWS (moto) on {cloud.endpoint}, account {ACCOUNT}, region {REGION}.")
    print(f"Stack '{STACK}' created from template.yaml in moto's CloudFormation.")
    cloud.client("sns").subscribe(TopicArn=outputs["AlertTopicArn"], Protocol="email", Endpoint=ALERT_EMAIL)
    builder = cloud.builder()
    web = builder.target_group("web-instance-tg", "instance", delay=300)
    api = builder.target_group("api-ip-tg", "ip", delay=60)
    groups = {"web-instance-tg": web, "api-ip-tg": api}
    late = builder.spot_instance("web-late-1", tags={"TargetGroupArn": f"{web}, {api}"}).instance_id
    sleeper = builder.spot_instance("game-sleeper-1", tags={"TargetGroupArn": f"{web}, {api}"}).instance_id
    for instance_id in (late, sleeper):
        builder.register(web, [instance_id], ports=[80, 8080])
        builder.register(api, builder.private_ips(instance_id), ports=[443])
    names = {late: "late (no warning)", sleeper: "sleeper (hibernates)"}
    names |= {ip: names[i] for i in (late, sleeper) for ip in builder.private_ips(i)}
    poller = QueuePoller(cloud.client("sqs"), outputs["NoticeQueueUrl"])
    # State changes have a queue of their own (template.yaml: StateChangeQueue), so a fleet's churn never takes
    # places in a mass reclaim's batches.
    state_changes = QueuePoller(cloud.client("sqs"), outputs["StateChangeQueueUrl"])

    def show(heading: str) -> None:
        print(f"\n{heading}")
        for label, arn in groups.items():
            registered = builder.registered(arn)
            print(f"  {label:<16} {len(registered)} registrations")
            for entry in registered:
                print(f"      {entry:<28} {names.get(entry.rsplit(':', 1)[0], '')}")

    def deliver(sample: str, instance_id: str, log: str, **detail) -> bool:
        """Put the sample event for the instance on EventBridge (now); run the handler on what its rule queues."""
        event = json.loads((ROOT / "events" / sample).read_text())
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(dict(event["detail"], **{"instance-id": instance_id}, **detail)),
            "Resources": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"],
            "Time": datetime.now(UTC),
        }
        cloud.client("events").put_events(Entries=[entry])
        print(f"\nPut '{event['detail-type']}' for {instance_id} ({names[instance_id]}) on EventBridge.")
        queue = state_changes if event["detail-type"] == "EC2 Instance State-change Notification" else poller
        messages = queue.receive(wait_seconds=5)
        if not messages:
            print("Its rule did not deliver it to its queue.", file=sys.stderr)
            return False
        return not run_handler(cloud, runtime, queue, messages, RUN_DIR / log)

    print(f"\nSeeded: Spot instances {late} (web-late-1) and {sleeper} (game-sleeper-1), in both target groups.")
    show("Target health BEFORE:")
    alerts_before = 0

    print(f"\n=== EC2 terminates {late}; its interruption warning never reaches the handler ===")
    builder.interrupt_spot(late, "terminate", complete=False)
    described = builder.described(late)
    print(f"  DescribeInstances: {described['State']['Name']}, state reason {described['StateReason']['Code']}")
    ok = deliver("state-change-shutting-down.json", late, "handler-late.log")

    print(f"\n=== EC2 hibernates {sleeper}, with its warning ===")
    ok = deliver("spot-interruption-hibernate.json", sleeper, "handler-hibernate.log") and ok
    show("Target health after both (draining ones left out):")
    alerts = email_as_received(outputs["AlertTopicArn"])
    print(f"\nThe alerts as {ALERT_EMAIL} reads them:")
    print_alerts(alerts[alerts_before:])
    alerts_before = len(alerts)

    print(f"\n=== Capacity comes back: EC2 starts {sleeper} again ===")
    builder.interrupt_spot(sleeper, "hibernate")
    builder.resume(sleeper)
    ok = deliver("state-change-running.json", sleeper, "handler-running.log") and ok
    show("Target health AFTER the restore:")
    alerts = email_as_received(outputs["AlertTopicArn"])
    print(f"\nThe alert as {ALERT_EMAIL} reads it:")
    print_alerts(alerts[alerts_before:])
    restored = f"{sleeper}:80" in builder.registered(web) and f"{late}:80" not in builder.registered(web)
    return 0 if ok and restored and len(alerts) == 3 else 1


def run_member_demo(cloud: LocalCloud) -> int:
    """Hub and spoke: the hub stack in ACCOUNT, an interrupted instance in MEMBER_ACCOUNT, handled in-process."""
    outputs = cloud.stack.outputs
    print(f"Local AWS (moto) on {cloud.endpoint}: hub account {ACCOUNT}, member account {MEMBER_ACCOUNT}, {REGION}.")
    print(f"Hub stack '{STACK}' created from template.yaml with MemberAccountIds={MEMBER_ACCOUNT}.")
    cloud.client("sns").subscribe(TopicArn=outputs["AlertTopicArn"], Protocol="email", Endpoint=ALERT_EMAIL)

    member = account_session(MEMBER_ACCOUNT, REGION)
    role = create_member_role(member, outputs["InterruptionHandlerRoleArn"], endpoint_url=cloud.endpoint)
    builder = AccountBuilder(member, endpoint_url=cloud.endpoint).network()
    scenario = seed(builder)
    print(f"Member account {MEMBER_ACCOUNT}: role {role}, trusted by the hub handler's role only")
    print(f"  victim {scenario.victim} (web-spot-1)   bystander {scenario.bystander} (web-spot-2)")
    print_target_health(builder, scenario, f"Target health in {MEMBER_ACCOUNT} BEFORE the interruption:")

    # What the hub bus's rule delivers: EC2's envelope, with the member's account and region (forwarding keeps them).
    sample = json.loads((ROOT / "events" / "spot-interruption-instance-tg.json").read_text())
    notice = dict(sample, id=str(uuid.uuid4()), account=MEMBER_ACCOUNT, region=REGION)
    notice["time"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    notice["detail"] = dict(sample["detail"], **{"instance-id": scenario.victim})
    sqs = cloud.client("sqs")
    sqs.send_message(QueueUrl=outputs["NoticeQueueUrl"], MessageBody=json.dumps(notice))
    print(f"\nThe member's Spot warning for {scenario.victim} is on the hub's notice queue.")
    poller = QueuePoller(sqs, outputs["NoticeQueueUrl"])
    messages = poller.receive(wait_seconds=5)
    if not messages:
        print("The notice did not reach the queue: nothing to handle.", file=sys.stderr)
        return 1

    captured = io.StringIO()
    # What the template sets from AWS::AccountId and MemberAccountIds (Refs the local wiring leaves to the stack).
    environment = {**cloud.in_process_environment(), "HUB_ACCOUNT_ID": ACCOUNT, "MEMBER_ACCOUNT_IDS": MEMBER_ACCOUNT}
    with contextlib.redirect_stdout(captured), in_process_function(environment) as lambda_handler:
        response = lambda_handler(poller.event(messages), LambdaContext(f"{STACK}-interruption-handler"))
    (RUN_DIR / "handler.log").write_text(captured.getvalue())
    print(f"Handler ran in-process as the hub; response {json.dumps(response)}")

    print_target_health(builder, scenario, f"Target health in {MEMBER_ACCOUNT} AFTER the interruption:")
    print(f"\nThe alert as {ALERT_EMAIL} reads it (the hub's topic):")
    alerts = email_as_received(outputs["AlertTopicArn"])
    for subject, body in alerts:
        print("  " + "-" * 72)
        print(f"  Subject: {subject}\n")
        print("\n".join("  " + line for line in body.splitlines()))
        print("  " + "-" * 72)
    return 0 if alerts and not failed_ids(response) else 1


if __name__ == "__main__":
    sys.exit(main())
