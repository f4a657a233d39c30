"""What the rehearsal puts in an emulated account before an event, and the events it puts on the account's default
bus, stamped now as EventBridge stamps what EC2 and Auto Scaling send."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from local import sam_local
from local.account import AccountBuilder
from local.rehearsal.accounts import REGION, EmulatedAccount
from local.stack import template_constant

NOTICE_EVENT = sam_local.ROOT / "events" / "spot-interruption-instance-tg.json"
LIFECYCLE_EVENT = sam_local.ROOT / "events" / "lifecycle-terminate.json"


@dataclass
class SeededSpotInstance:
    """A tagged Spot instance (web-1) and a bystander (web-2), both registered in the target group its tag names."""

    instance_id: str
    target_group_arn: str
    registered_before: list[str]  # "id:port"


@dataclass
class SeededHookFleet:
    """An Auto Scaling group with the stack's terminate hook; its two instances registered in a target group attached
    to the group. The lifecycle action is for `instance_id`."""

    group: str
    group_arn: str
    hook: str
    instance_id: str
    target_group_arn: str
    registered_before: list[str]  # "id:port"


def seed_spot_instance(builder: AccountBuilder) -> SeededSpotInstance:
    target_group = builder.target_group("rehearsal-web", "instance", delay=300)
    victim = builder.spot_instance("web-1", tags={"TargetGroupArn": target_group})
    bystander = builder.spot_instance("web-2", tags={"TargetGroupArn": target_group})
    builder.register(target_group, [victim.instance_id, bystander.instance_id], ports=[80])
    return SeededSpotInstance(victim.instance_id, target_group, builder.registered(target_group))


def put_spot_warning(account: EmulatedAccount, instance_id: str) -> None:
    """The instance's interruption warning on the account's default bus."""
    notice = json.loads(NOTICE_EVENT.read_text())
    notice["detail"]["instance-id"] = instance_id
    # A fresh notice, as EC2 sends it: EventBridge stamps the time (the deadline is that time + 120 s).
    account.client("events").put_events(
        Entries=[
            {
                "Source": notice["source"],
                "DetailType": notice["detail-type"],
                "Detail": json.dumps(notice["detail"]),
                "Resources": [f"arn:aws:ec2:{REGION}:{account.account_id}:instance/{instance_id}"],
                "Time": datetime.now(UTC),
            }
        ]
    )


def seed_hook_fleet(builder: AccountBuilder) -> SeededHookFleet:
    """The group's hook is named as the stack's (a constant of the template: Mappings)."""
    hook = template_constant("Names", "LifecycleHook")
    group = "rehearsal-asg"
    target_group = builder.target_group("rehearsal-asg-web", "instance", delay=60)
    victim, other = builder.auto_scaling_group(group, [target_group], size=2)
    builder.lifecycle_hook(group, hook)
    builder.register(target_group, [victim, other], ports=[80])
    group_arn = builder.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
        "AutoScalingGroups"
    ][0]["AutoScalingGroupARN"]
    return SeededHookFleet(
        group=group,
        group_arn=group_arn,
        hook=hook,
        instance_id=victim,
        target_group_arn=target_group,
        registered_before=builder.registered(target_group),
    )


def put_lifecycle_action(account: EmulatedAccount, fleet: SeededHookFleet, token: str) -> None:
    """A terminate lifecycle action for the fleet's instance on the account's default bus, with `token`."""
    notice = json.loads(LIFECYCLE_EVENT.read_text())
    detail = {
        **notice["detail"],
        "LifecycleActionToken": token,
        "AutoScalingGroupName": fleet.group,
        "LifecycleHookName": fleet.hook,
        "EC2InstanceId": fleet.instance_id,
    }
    account.client("events").put_events(
        Entries=[
            {
                "Source": notice["source"],
                "DetailType": notice["detail-type"],
                "Detail": json.dumps(detail),
                "Resources": [fleet.group_arn],
                "Time": datetime.now(UTC),  # the hook's timeouts run from it
            }
        ]
    )


def subscribe_queue(account: EmulatedAccount, topic_arn: str, name: str) -> str:
    """An SQS queue subscribed to the alert topic: the rehearsal's subscriber. Returns its URL."""
    sqs = account.client("sqs")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    account.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url
