"""Hostile and odd input never costs a drain: each case against a moto account, asserting on what is left in it
(targets still registered, records parked in the DLQ with their reasons, the PublishBatch requests SNS received)."""

from __future__ import annotations

import json
import unicodedata

import pytest
from spot_handler.aws.sns import PUBLISH_REQUEST_MAX_BYTES
from spot_handler.invocation import handle_invocation

from tests.support.events import load_event

SPOT = "spot-interruption-instance-tg.json"


def invoke(account, event, **settings):
    return handle_invocation(event, account.clients, account.settings(**settings))


def sqs_batch(*bodies) -> dict:
    """An SQS batch as the event source mapping delivers it: dict bodies written as JSON, others kept as they are."""
    return {
        "Records": [
            {"messageId": f"m-{i}", "body": json.dumps(body) if isinstance(body, dict) else body}
            for i, body in enumerate(bodies)
        ]
    }


def parked(account) -> dict[str, str]:
    """Origin -> RejectReason of every record in the DLQ."""
    return {
        m["MessageAttributes"]["Origin"]["StringValue"]: m["MessageAttributes"]["RejectReason"]["StringValue"]
        for m in account.dead_letters()
    }


def record_publish_requests(account) -> list[int]:
    """Sizes in bytes of the PublishBatch requests the handler's SNS client sends, as they go on the wire."""
    sizes: list[int] = []

    def keep(request, **_):
        sizes.append(len(request.body))

    account.clients.sns.meta.events.register("before-send.sns.PublishBatch", keep)
    return sizes


def victim_in_target_group(account, name="web"):
    b = account.builder
    arn = b.target_group(name, "instance", delay=60)
    victim = b.spot_instance(f"{name}-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80])
    return arn, victim


def with_field(event: dict, path: str, value) -> dict:
    """The event with the field at a dotted path (detail.instance-id) set to value."""
    *parents, last = path.split(".")
    target = event
    for key in parents:
        target = target[key]
    target[last] = value
    return event


HOSTILE = [
    # (what, the field the reason must name, how the record is made from a good notice)
    ("detail-type is a list", "detail-type", lambda e: with_field(e, "detail-type", ["EC2"])),
    ("detail-type is an object", "detail-type", lambda e: with_field(e, "detail-type", {"a": 1})),
    ("time is a number", "time", lambda e: with_field(e, "time", 1795687200)),
    ("time is in year 9999, no room for a deadline", "time", lambda e: with_field(e, "time", "9999-12-31T23:59:00Z")),
    ("time is year 1 ahead of UTC", "time", lambda e: with_field(e, "time", "0001-01-01T00:00:00+05:00")),
    ("time is year 9999 behind UTC", "time", lambda e: with_field(e, "time", "9999-12-31T23:00:00-05:00")),
    ("instance id is a list", "detail.instance-id", lambda e: with_field(e, "detail.instance-id", ["i-0abc"])),
    ("instance id ends in a newline", "detail.instance-id", None),  # filled in below: needs the real id
    ("instance id has a trailing space", "detail.instance-id", None),
    ("instance action is an object", "detail.instance-action", lambda e: with_field(e, "detail.instance-action", {})),
    ("region is an object", "region", lambda e: with_field(e, "region", {"name": "us-east-2"})),
    ("id is a number", "id", lambda e: with_field(e, "id", 7)),
    ("account has non-ASCII digits", "account", lambda e: with_field(e, "account", "١٢٣٤٥٦٧٨٩٠١٢")),
    ("termination time is a list", "detail.instance-termination-time", None),
]


def test_every_hostile_record_is_parked_with_its_field_and_the_valid_one_is_drained(account):
    # Given an instance in a target group, and one record of each hostile kind next to its valid notice
    arn, victim = victim_in_target_group(account)
    good = load_event(SPOT, victim.instance_id)
    bodies: list = [good]
    expected: dict[str, str] = {}
    for what, field, make in HOSTILE:
        event = load_event(SPOT, victim.instance_id)
        if what == "instance id ends in a newline":
            event["detail"]["instance-id"] = victim.instance_id + "\n"
        elif what == "instance id has a trailing space":
            event["detail"]["instance-id"] = victim.instance_id + " "
        elif what == "termination time is a list":
            event = load_event("capacity-reservation-interruption.json", victim.instance_id)
            event["detail"]["instance-termination-time"] = ["2026-11-26T10:02:00Z"]
        else:
            event = make(event)
        bodies.append(event)
        expected[f"sqs:m-{len(bodies) - 1}"] = field
    deep = "[" * 50_000 + "]" * 50_000  # deeper than the JSON parser's stack
    bodies += [deep, 12345, None, {"not": "a notice"}]
    expected |= {f"sqs:m-{len(bodies) - 4}": "body", f"sqs:m-{len(bodies) - 3}": "body"}
    expected |= {f"sqs:m-{len(bodies) - 2}": "body", f"sqs:m-{len(bodies) - 1}": "source"}

    # When they arrive in one batch
    report = invoke(account, sqs_batch(*bodies))

    # Then the valid notice drained its instance and alerted, nothing is delivered again,
    assert account.builder.registered(arn) == []
    assert report.batch_item_failures == []
    [alert] = account.alerts()
    assert alert.document["instanceId"] == victim.instance_id and alert.document["outcome"] == "drained"
    # and every other record is in the DLQ with a reason that names the field at fault
    reasons = parked(account)
    assert set(reasons) == set(expected)
    for origin, field in expected.items():
        assert reasons[origin].startswith(f"{field}") or f"; {field}" in reasons[origin], (origin, reasons[origin])


def test_a_bare_event_nested_thousands_deep_is_parked_not_crashed_on(account):
    event = load_event(SPOT)
    nested: list = []
    for _ in range(5_000):
        nested = [nested]
    event["detail"]["instance-id"] = nested

    with pytest.raises(ValueError, match=r"detail\.instance-id"):
        invoke(account, event)

    [(origin, reason)] = parked(account).items()
    assert origin == "direct-invocation" and reason.startswith("detail.instance-id: not an instance id")


@pytest.mark.parametrize(
    "time",
    ["0001-01-01T00:00:00Z", "0001-01-01T10:00:00+09:59", "9999-12-31T23:57:59Z", "9999-12-31T20:00:00-03:00"],
)
def test_a_notice_at_the_edge_of_the_calendar_is_handled_and_alerted(account, time):
    # Given an instance in a target group and a notice whose time is at the edge of what datetime holds
    arn, victim = victim_in_target_group(account)
    event = with_field(load_event(SPOT, victim.instance_id), "time", time)

    # When it arrives
    invoke(account, sqs_batch(event))

    # Then the instance is drained and the alert renders the dates
    assert account.builder.registered(arn) == []
    [alert] = account.alerts()
    assert alert.document["noticeTime"] and alert.document["deadline"]
    [(_, body)] = account.email_texts()
    assert "Deadline  " in body


# What an EC2 tag can hold (its XML answer cannot carry most C0 characters): a tab, DEL, C1 and a line separator
TAG_CONTROL = "\t\x7f\x85\x9b\u2028"


def has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def test_control_characters_from_tags_and_the_notice_never_reach_sns(account):
    # Given an instance whose Name tag is full of control characters, and a notice whose region and id hold some
    arn, victim = victim_in_target_group(account)
    account.builder.tag(victim.instance_id, {"Name": f"web{TAG_CONTROL}1" + "x" * 80})
    event = load_event(SPOT, victim.instance_id)
    event["region"] = "us-east-2\x00\x7f\x85"
    event["id"] = "event\x1b[31m-\ud800"  # an escape sequence and a lone surrogate (JSON can carry one)

    # When it is handled
    invoke(account, sqs_batch(event))

    # Then SNS accepted the alert (moto enforces the subject rules) and nothing in it carries a control character
    [alert] = account.alerts()
    assert not has_control(alert.subject) and len(alert.subject) < 100 and alert.subject.startswith("Spot")
    assert all(value and not has_control(value) for value in alert.attributes.values())
    [(_, body)] = account.email_texts()
    assert all(not has_control(line) for line in body.split("\n"))
    assert "web" in body and "event" in body
    assert not has_control(json.dumps(alert.document, ensure_ascii=False))
    assert account.builder.registered(arn) == []


def test_ten_dense_nodes_reclaimed_together_fit_publish_batch_and_count_every_registration(account):
    # Given ten nodes with a hundred addresses each (pod IPs), all registered in one ip target group
    b = account.builder
    ec2 = b.client("ec2")
    subnet = ec2.create_subnet(VpcId=b.vpc_id, CidrBlock="10.20.16.0/20", AvailabilityZone=f"{b.region}a")
    b.subnets.append((subnet["Subnet"]["SubnetId"], f"{b.region}a"))
    pods = b.target_group("pods", "ip", delay=30, port=8080)
    nodes = [
        b.spot_instance(f"node-{n}", tags={"TargetGroupArn": pods}, zone_index=2, secondary_ips=99) for n in range(10)
    ]
    for node in nodes:
        assert len(node.private_ips) == 100
        b.register(pods, node.private_ips, ports=[8080])
    sizes = record_publish_requests(account)

    # When all ten are reclaimed in one batch
    report = invoke(account, sqs_batch(*(load_event(SPOT, node.instance_id) for node in nodes)))

    # Then every address left the target group, every alert went out, and no request was over SNS's limit
    assert b.registered(pods) == []
    assert report.batch_item_failures == []
    alerts = account.alerts()
    assert len(alerts) == 10
    assert sizes and max(sizes) <= PUBLISH_REQUEST_MAX_BYTES
    for alert in alerts:
        [group] = alert.document["targetGroups"]
        assert group["deregisteredCount"] == 100  # the count is exact however few are listed
        assert len(group["deregistered"]) + group.get("deregisteredOmitted", 0) == 100


def test_an_ip_target_group_in_another_vpc_is_named_and_left_alone(account):
    # Given staging and production VPCs with the same CIDR, and an instance tagged by mistake with the other VPC's
    # ip target group, where another host holds the instance's address
    b = account.builder
    ec2, elbv2 = b.client("ec2"), b.client("elbv2")
    ours = b.target_group("ours", "ip", delay=30)
    other_vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    theirs = elbv2.create_target_group(Name="theirs", Protocol="HTTP", Port=80, VpcId=other_vpc, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    victim = b.spot_instance("api-1", tags={"TargetGroupArn": f"{ours},{theirs}"})
    b.register(ours, victim.private_ips, ports=[80])
    b.register(theirs, victim.private_ips, ports=[80])
    calls = []
    account.clients.elbv2.meta.events.register("before-call.*.DescribeTargetGroups", lambda **kw: calls.append(1))

    # When the instance is interrupted
    invoke(account, sqs_batch(load_event(SPOT, victim.instance_id)))

    # Then it left its own VPC's target group, the other host keeps its registration, and the alert says why
    assert b.registered(ours) == []
    assert b.registered(theirs) == [f"{victim.private_ips[0]}:80"]
    [alert] = account.alerts()
    assert alert.document["outcome"] == "partial"
    [failure] = alert.document["failures"]
    assert failure.startswith("target group theirs: in vpc-") and "left alone" in failure
    assert len(calls) == 1  # both target groups looked up in one call


def test_ipv6_addresses_are_drained_from_an_ip_target_group(account):
    # Given an instance with an IPv6 address registered (in another spelling) in an IPv6 ip target group
    b = account.builder
    ec2, elbv2 = b.client("ec2"), b.client("elbv2")
    ec2.associate_vpc_cidr_block(VpcId=b.vpc_id, AmazonProvidedIpv6CidrBlock=True)
    v6 = elbv2.create_target_group(
        Name="v6", Protocol="HTTP", Port=80, VpcId=b.vpc_id, TargetType="ip", IpAddressType="ipv6"
    )["TargetGroups"][0]["TargetGroupArn"]
    victim = b.spot_instance("v6-1", tags={"TargetGroupArn": v6})
    bystander = b.spot_instance("v6-2", tags={"TargetGroupArn": v6})
    for instance, address in ((victim, "2600:1f14:abcd:1::10"), (bystander, "2600:1f14:abcd:1::11")):
        eni = ec2.describe_instances(InstanceIds=[instance.instance_id])["Reservations"][0]["Instances"][0][
            "NetworkInterfaces"
        ][0]["NetworkInterfaceId"]
        ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=[address])
    b.register(v6, ["2600:1f14:abcd:0001:0000:0000:0000:0010", "2600:1f14:abcd:1::11"], ports=[80])

    # When the instance is interrupted
    invoke(account, sqs_batch(load_event(SPOT, victim.instance_id)))

    # Then its IPv6 registration is gone and the bystander's stays
    assert b.registered(v6) == ["2600:1f14:abcd:1::11:80"]
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"
    assert alert.document["targetGroups"][0]["deregisteredCount"] == 1


def test_an_instance_already_terminated_gets_a_truthful_alert(account):
    # Given an instance that is already terminated when its warning is handled
    _, victim = victim_in_target_group(account)
    account.builder.terminate(victim.instance_id)

    # When the warning arrives
    invoke(account, sqs_batch(load_event(SPOT, victim.instance_id)))

    # Then the alert says it is already terminated, not that rebalance recommendations only alert
    [alert] = account.alerts()
    assert alert.document["outcome"] == "already-terminated"
    assert alert.subject.endswith(": already terminated")
    [(_, body)] = account.email_texts()
    assert "already terminated" in body and "rebalance" not in body.lower()
