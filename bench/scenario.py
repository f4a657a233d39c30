"""The mass-reclaim scenario: the fleet, where it serves, and when each interruption notice arrives.

A mixed fleet: most instances behind target groups, some ECS container instances, some behind Classic Load
Balancers. The account is seeded through local/account.py, the builder the tests and the demo use. Instances carry
the original blog sample's tag key (`loadBalancerTargetGroup`), which our handler accepts as an alias, and the
default ECSCluster / LoadBalancerName keys, which both designs read, so one account serves both unchanged.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from local.account import AccountBuilder

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EVENT = ROOT / "events" / "spot-interruption-instance-tg.json"
BLOG_TAG_KEY = "loadBalancerTargetGroup"
ECS_CLUSTER_TAG_KEY = "ECSCluster"
CLASSIC_TAG_KEY = "LoadBalancerName"
TARGET_PORT = 80
INITIAL_DELAY_SECONDS = 300  # ELB's default deregistration delay
SPOT_WARNING_SECONDS = 120


@dataclass(frozen=True)
class Scenario:
    instances: int = 1000
    target_groups: int = 10  # alternately instance- and ip-type
    ecs_instances: int = 200  # of `instances`: container instances, spread over `ecs_clusters`
    ecs_clusters: int = 2
    classic_instances: int = 200  # of `instances`: behind Classic Load Balancers, spread over `classic_load_balancers`
    classic_load_balancers: int = 4
    arrival_window_s: float = 60.0  # every notice arrives within this many seconds of the first
    latency_s: tuple[float, float] | None = (0.020, 0.050)  # per call, uniform
    throttle: bool = True
    seed: int = 7


@dataclass(frozen=True)
class Member:
    instance_id: str
    private_ip: str
    target_group_arn: str  # or, for the other kinds, the ECS cluster or the Classic Load Balancer name
    target_type: str  # "instance" or "ip" (target groups), "ecs" or "classic"
    container_instance_arn: str = ""
    account: str = ""  # the account it runs in (bench/accounts.py); "" for the sample event's

    @property
    def target_id(self) -> str:
        if self.target_type == "ecs":
            return self.container_instance_arn
        return self.private_ip if self.target_type == "ip" else self.instance_id


@dataclass
class Fleet:
    members: list[Member]
    target_groups: dict[str, str]  # ARN -> target type; ECS clusters -> "ecs", Classic Load Balancers -> "classic"
    topic_arn: str

    def by_target(self) -> dict[str, Member]:
        """'target group ARN|target id' (the server's deregistration key; cluster or load balancer name for the
        other kinds) -> member."""
        return {f"{m.target_group_arn}|{m.target_id}": m for m in self.members}


@dataclass(frozen=True)
class Notice:
    member: Member
    offset_s: float  # when it arrives, seconds after the first notice
    event: dict = field(hash=False, compare=False)


def seed_fleet(builder: AccountBuilder, scenario: Scenario) -> Fleet:
    """Target groups, ECS clusters and Classic Load Balancers, a Spot fleet spread evenly over each kind, every
    instance registered, and the alert topic."""
    groups: dict[str, str] = {}
    members: list[Member] = []
    # No clusters or load balancers at all when the fleet has none of that kind: an empty cluster still costs our
    # handler its discovery calls, which a target-group-only account would not pay.
    for index in range(scenario.ecs_clusters if scenario.ecs_instances else 0):
        cluster = f"bench-cluster-{index}"
        builder.ecs_cluster(cluster)
        count = _share(scenario.ecs_instances, scenario.ecs_clusters, index)
        for i in builder.spot_instances(count, f"bench-ecs-{index}", tags={ECS_CLUSTER_TAG_KEY: cluster}):
            arn = builder.container_instance(cluster, i.instance_id)
            members.append(Member(i.instance_id, i.private_ips[0], cluster, "ecs", arn))
        groups[cluster] = "ecs"
    for index in range(scenario.classic_load_balancers if scenario.classic_instances else 0):
        name = builder.classic_load_balancer(f"bench-classic-{index}", draining_timeout=INITIAL_DELAY_SECONDS)
        count = _share(scenario.classic_instances, scenario.classic_load_balancers, index)
        fleet = builder.spot_instances(count, f"bench-classic-{index}", tags={CLASSIC_TAG_KEY: name})
        members += [Member(i.instance_id, i.private_ips[0], name, "classic") for i in fleet]
        groups[name] = "classic"
    in_target_groups = scenario.instances - scenario.ecs_instances - scenario.classic_instances
    if in_target_groups < 0:
        raise ValueError("--ecs-instances and --classic-instances are part of --instances: they add up to more")
    per_group, extra = divmod(in_target_groups, scenario.target_groups)
    for index in range(scenario.target_groups):
        target_type = "instance" if index % 2 == 0 else "ip"
        arn = builder.target_group(
            f"bench-{target_type}-{index}", target_type, delay=INITIAL_DELAY_SECONDS, port=TARGET_PORT
        )
        groups[arn] = target_type
        count = per_group + (1 if index < extra else 0)
        fleet = builder.spot_instances(count, f"bench-{index}", tags={BLOG_TAG_KEY: arn}, zone_index=index % 2)
        members += [Member(i.instance_id, i.private_ips[0], arn, target_type) for i in fleet]
    topic_arn = builder.client("sns").create_topic(Name="bench-alerts")["TopicArn"]
    fleet = Fleet(members, groups, topic_arn)
    register_all(builder, fleet)
    return fleet


def _share(total: int, parts: int, index: int) -> int:
    per, extra = divmod(total, parts)
    return per + (1 if index < extra else 0)


def register_all(builder: AccountBuilder, fleet: Fleet) -> None:
    """Put every member back where it serves with the default delay: the state each run starts from."""
    elbv2 = builder.client("elbv2")
    ecs = builder.client("ecs")
    elb = builder.client("elb")
    for arn, kind in fleet.target_groups.items():
        targets = [m.target_id for m in fleet.members if m.target_group_arn == arn]
        if kind == "ecs":
            for start in range(0, len(targets), 10):
                ecs.update_container_instances_state(
                    cluster=arn, containerInstances=targets[start : start + 10], status="ACTIVE"
                )
            continue
        if kind == "classic":
            registered = set(builder.classic_instances(arn))
            builder.register_classic(arn, [t for t in targets if t not in registered])
            elb.modify_load_balancer_attributes(
                LoadBalancerName=arn,
                LoadBalancerAttributes={"ConnectionDraining": {"Enabled": True, "Timeout": INITIAL_DELAY_SECONDS}},
            )
            continue
        builder.register(arn, targets, ports=[TARGET_PORT])
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(INITIAL_DELAY_SECONDS)}],
        )


def still_registered(builder: AccountBuilder, fleet: Fleet) -> int:
    """How many members are still registered (in any state but draining; ECS: still ACTIVE) after a run."""
    elbv2 = builder.client("elbv2")
    left = 0
    for arn, kind in fleet.target_groups.items():
        if kind == "ecs":
            arns = [m.target_id for m in fleet.members if m.target_group_arn == arn]
            for start in range(0, len(arns), 100):
                described = builder.client("ecs").describe_container_instances(
                    cluster=arn, containerInstances=arns[start : start + 100]
                )
                left += sum(1 for c in described["containerInstances"] if c["status"] == "ACTIVE")
            continue
        if kind == "classic":
            left += len(builder.classic_instances(arn))
            continue
        health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        left += sum(1 for d in health if d["TargetHealth"]["State"] not in ("draining", "unused"))
    return left


def notices(fleet: Fleet, scenario: Scenario) -> list[Notice]:
    """Every member interrupted once, at seeded random times within the arrival window, in arrival order."""
    rng = random.Random(scenario.seed)
    template = json.loads(SAMPLE_EVENT.read_text())
    order = list(fleet.members)
    rng.shuffle(order)
    offsets = sorted(rng.uniform(0, scenario.arrival_window_s) for _ in order)
    offsets = [o - offsets[0] for o in offsets] if offsets else offsets
    result = []
    for member, offset in zip(order, offsets):
        event = _event(template, rng, member.account or template["account"], member.instance_id)
        result.append(Notice(member, offset, event))
    return result


def stamp(event: dict, when: float) -> dict:
    """The event as EventBridge delivers it at `when` (epoch seconds): its `time` is the notice time."""
    stamped = dict(event)
    stamped["time"] = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return stamped


def quiet_notices(fleet: Fleet, scenario: Scenario, count: int, gap_s: float) -> list[Notice]:
    """`count` members interrupted one at a time, `gap_s` apart: the seeded mass reclaim's first `count` notices (a
    random draw over every kind and account), each at its own moment."""
    picked = notices(fleet, scenario)[:count]
    return [Notice(n.member, index * gap_s, n.event) for index, n in enumerate(picked)]


STATE_CHANGE_EVENT = ROOT / "events" / "state-change-stopping.json"
UNRELATED_STATES = ("stopping", "shutting-down", "running")  # the states template.yaml's state-change rule routes


def unrelated_state_changes(builder: AccountBuilder, scenario: Scenario, count: int) -> list[tuple[float, dict]]:
    """`count` state changes no interruption is behind, in the reclaim's own window: EC2 sends one for every instance
    of the account and region, so a fleet's ordinary churn reaches the notice queue with the reclaim. Half Spot, half
    On-Demand instances; a third stopped by their users, a third terminated by them, a third just started (running,
    never drained): (arrival offset, event), the event as EventBridge delivers it before its time is stamped."""
    if count <= 0:
        return []
    ids = []
    for spot, share in ((True, count // 2), (False, count - count // 2)):
        for start in range(0, share, 500):  # at most 500 an instance request
            size = min(500, share - start)
            launched = builder.instances(size, "bench-unrelated", spot=spot, instance_type="m6g.large")
            ids += [i.instance_id for i in launched]
    random.Random(scenario.seed + 1).shuffle(ids)
    states = [UNRELATED_STATES[i % len(UNRELATED_STATES)] for i in range(len(ids))]
    ec2 = builder.client("ec2")
    for state, call in (("stopping", ec2.stop_instances), ("shutting-down", ec2.terminate_instances)):
        chosen = [i for i, s in zip(ids, states) if s == state]
        for start in range(0, len(chosen), 100):
            call(InstanceIds=chosen[start : start + 100])  # the user's own stop or terminate: no Spot state reason
    rng = random.Random(scenario.seed + 1)
    template = {**json.loads(STATE_CHANGE_EVENT.read_text()), "region": builder.region}
    changes = []
    for instance_id, state in zip(ids, states):
        event = _event(template, rng, builder.account_id, instance_id, state=state)
        changes.append((rng.uniform(0, scenario.arrival_window_s), event))
    return sorted(changes, key=lambda change: change[0])


def _event(template: dict, rng: random.Random, account: str, instance_id: str, **detail) -> dict:
    """The sample event for one instance of `account`: a fresh id, its ARN in `resources`, its id in `detail`."""
    event = dict(template)
    event["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
    event["account"] = account
    event["resources"] = [f"arn:aws:ec2:{template['region']}:{account}:instance/{instance_id}"]
    event["detail"] = {**template["detail"], "instance-id": instance_id, **detail}
    return event
