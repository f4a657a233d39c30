"""The mass-reclaim scenario: the fleet, its target groups, and when each interruption notice arrives.

The account is seeded through local/account.py, the builder the tests and the demo use. Instances carry the
original blog sample's tag key (`loadBalancerTargetGroup`), which our handler accepts as an alias, so one account
serves both designs unchanged.
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
TARGET_PORT = 80
INITIAL_DELAY_SECONDS = 300  # ELB's default deregistration delay
SPOT_WARNING_SECONDS = 120


@dataclass(frozen=True)
class Scenario:
    instances: int = 1000
    target_groups: int = 10  # alternately instance- and ip-type
    arrival_window_s: float = 60.0  # every notice arrives within this many seconds of the first
    latency_s: tuple[float, float] | None = (0.020, 0.050)  # per call, uniform
    throttle: bool = True
    seed: int = 7


@dataclass(frozen=True)
class Member:
    instance_id: str
    private_ip: str
    target_group_arn: str
    target_type: str  # "instance" or "ip"

    @property
    def target_id(self) -> str:
        return self.instance_id if self.target_type == "instance" else self.private_ip


@dataclass
class Fleet:
    members: list[Member]
    target_groups: dict[str, str]  # ARN -> target type
    topic_arn: str

    def by_target(self) -> dict[str, Member]:
        """'target group ARN|target id' (the server's deregistration key) -> member."""
        return {f"{m.target_group_arn}|{m.target_id}": m for m in self.members}


@dataclass(frozen=True)
class Notice:
    member: Member
    offset_s: float  # when it arrives, seconds after the first notice
    event: dict = field(hash=False, compare=False)


def seed_fleet(builder: AccountBuilder, scenario: Scenario) -> Fleet:
    """Target groups, a Spot fleet spread evenly over them, every instance registered, and the alert topic."""
    groups: dict[str, str] = {}
    members: list[Member] = []
    per_group, extra = divmod(scenario.instances, scenario.target_groups)
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


def register_all(builder: AccountBuilder, fleet: Fleet) -> None:
    """Put every member back in its target group with the default delay: the state each run starts from."""
    elbv2 = builder.client("elbv2")
    for arn in fleet.target_groups:
        targets = [m.target_id for m in fleet.members if m.target_group_arn == arn]
        builder.register(arn, targets, ports=[TARGET_PORT])
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(INITIAL_DELAY_SECONDS)}],
        )


def still_registered(builder: AccountBuilder, fleet: Fleet) -> int:
    """How many members are still registered (in any state but draining) after a run."""
    elbv2 = builder.client("elbv2")
    left = 0
    for arn in fleet.target_groups:
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
        event = dict(template)
        event["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        event["resources"] = [f"arn:aws:ec2:{template['region']}:{template['account']}:instance/{member.instance_id}"]
        event["detail"] = {**template["detail"], "instance-id": member.instance_id}
        result.append(Notice(member, offset, event))
    return result


def stamp(event: dict, when: float) -> dict:
    """The event as EventBridge delivers it at `when` (epoch seconds): its `time` is the notice time."""
    stamped = dict(event)
    stamped["time"] = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return stamped
