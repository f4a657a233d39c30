"""The foundation's behaviour, each case against a moto account, asserting on the account's state afterwards."""

from __future__ import annotations

from tests.support.events import load_event, placeholder_ids

SPOT = "spot-interruption-instance-tg.json"


def test_instance_registered_on_two_ports_is_removed_from_both(account):
    # Given an instance registered on ports 80 and 8080 of an instance-type target group, plus a bystander
    b = account.builder
    web = b.target_group("web", "instance", delay=60)
    victim = b.spot_instance("web-1", tags={"TargetGroupArn": web})
    bystander = b.spot_instance("web-2", tags={"TargetGroupArn": web})
    b.register(web, [victim.instance_id, bystander.instance_id], ports=[80, 8080])

    # When its Spot interruption warning arrives
    account.invoke(load_event(SPOT, victim.instance_id))

    # Then both of its registrations are gone and the bystander's stay
    assert b.registered(web) == sorted([f"{bystander.instance_id}:80", f"{bystander.instance_id}:8080"])
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"
    assert sorted(alert.document["targetGroups"][0]["deregistered"]) == [
        f"{victim.instance_id}:80",
        f"{victim.instance_id}:8080",
    ]


def test_ip_target_group_loses_every_private_ip_of_the_instance(account):
    # Given an instance with secondary IPs and a second ENI, all registered in an ip-type target group
    b = account.builder
    api = b.target_group("api", "ip", delay=30)
    victim = b.spot_instance("api-1", tags={"TargetGroupArn": api}, secondary_ips=2, extra_enis=1)
    other = b.spot_instance("api-2", tags={"TargetGroupArn": api})
    assert len(victim.private_ips) == 5
    b.register(api, victim.private_ips + other.private_ips, ports=[443])

    # When the instance is interrupted
    account.invoke(load_event("spot-interruption-ip-tg.json", victim.instance_id))

    # Then none of its IPs is registered any more, and the other instance's IP is
    assert b.registered(api) == [f"{other.private_ips[0]}:443"]
    [alert] = account.alerts()
    assert alert.document["targetGroups"][0]["targetType"] == "ip"
    assert len(alert.document["targetGroups"][0]["deregistered"]) == 5


def test_tag_with_two_arns_and_the_blog_alias_key_and_asg_target_groups(account):
    # Given one instance whose tag names two target groups, whose blog-sample alias tag names a third,
    # and which belongs to an Auto Scaling group attached to a fourth
    b = account.builder
    arns = [b.target_group(f"tg-{n}", delay=60) for n in range(4)]
    asg_members = b.auto_scaling_group("game-asg", [arns[3]], size=1)
    victim = asg_members[0]
    b.tag(victim, {"Name": "edge-1", "TargetGroupArn": f"{arns[0]}, {arns[1]}", "loadBalancerTargetGroup": arns[2]})
    for arn in arns:
        b.register(arn, [victim], ports=[80])

    # When the instance is interrupted
    account.invoke(load_event("spot-interruption-two-target-groups.json", victim))

    # Then it is out of all four target groups
    assert [b.registered(arn) for arn in arns] == [[], [], [], []]
    [alert] = account.alerts()
    assert sorted(tg["name"] for tg in alert.document["targetGroups"]) == ["tg-0", "tg-1", "tg-2", "tg-3"]


def test_asg_discovery_can_be_turned_off(account):
    b = account.builder
    arn = b.target_group("asg-tg", delay=60)
    [victim] = b.auto_scaling_group("web-asg", [arn], size=1)
    b.register(arn, [victim], ports=[80])

    account.invoke(load_event(SPOT, victim), discover_asg_target_groups=False)

    assert b.registered(arn) == [f"{victim}:80"]
    [alert] = account.alerts()
    assert alert.document["outcome"] == "nothing-to-drain"


def test_long_deregistration_delay_is_lowered_to_the_budget_and_the_alert_says_so(account):
    # Given a target group with a 300 s deregistration delay
    b = account.builder
    slow, victim = b.instance_in_target_group("slow", "slow-1", delay=300)

    account.invoke(load_event(SPOT, victim.instance_id))

    # Then the delay is the 120 s budget, and both alert forms say it was lowered
    assert b.deregistration_delay(slow) == 120
    [alert] = account.alerts()
    assert alert.document["targetGroups"][0]["delayLoweredFromSeconds"] == 300
    assert alert.document["targetGroups"][0]["deregistrationDelaySeconds"] == 120
    [(_, body)] = account.email_texts()
    assert "delay lowered 300 s -> 120 s" in body


def test_delay_is_left_alone_when_lowering_is_off(account):
    b = account.builder
    slow, victim = b.instance_in_target_group("slow", "slow-1", delay=300)

    account.invoke(load_event(SPOT, victim.instance_id), max_deregistration_delay=None)

    assert b.deregistration_delay(slow) == 300
    assert b.registered(slow) == []


def test_target_not_registered_counts_as_done(account):
    # Given an instance tagged with a target group it is not registered in
    b = account.builder
    empty = b.target_group("empty", delay=60)
    victim = b.spot_instance("idle-1", tags={"TargetGroupArn": empty})

    account.invoke(load_event(SPOT, victim.instance_id))

    # Then the alert reports success, not a failure
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"
    assert alert.document["failures"] == []
    assert alert.document["targetGroups"][0]["notRegistered"] is True
    [(_, body)] = account.email_texts()
    assert "was not registered (done)" in body


def test_instance_without_target_group_says_nothing_to_drain(account):
    victim = account.builder.spot_instance("batch-1")

    account.invoke(load_event(SPOT, victim.instance_id))

    [alert] = account.alerts()
    assert alert.document["outcome"] == "nothing-to-drain"
    assert alert.attributes["outcome"] == "nothing-to-drain"
    [(subject, body)] = account.email_texts()
    assert "nothing to drain" in subject
    assert "nothing to drain: no target group tag" in body


def test_unknown_instance_gets_an_alert_with_what_is_known(account):
    # Given a notice for an instance this account does not have
    event = load_event("spot-interruption-unknown-instance.json")

    report = account.invoke(event)

    # Then there is no exception and no retry, and the alert says the instance was not found
    assert report.batch_item_failures == []
    [alert] = account.alerts()
    assert alert.document["outcome"] == "instance-not-found"
    assert alert.document["instanceId"] == "i-0fffffffffffff008"
    [(subject, body)] = account.email_texts()
    assert "instance not found" in subject
    assert "not found: already terminated" in body


def test_terminated_instance_is_not_drained_but_alerted(account):
    b = account.builder
    arn = b.target_group("web", delay=60)
    victim = b.spot_instance("gone-1", tags={"TargetGroupArn": arn})
    b.terminate(victim.instance_id)

    report = account.invoke(load_event(SPOT, victim.instance_id))

    assert report.batch_item_failures == []
    [alert] = account.alerts()
    assert alert.document["instanceFound"] is True
    assert alert.document["targetGroups"] == []


def test_stop_and_hibernate_are_drained_and_named(account):
    b = account.builder
    arn = b.target_group("web", delay=60)
    stopping = b.spot_instance("stop-1", tags={"TargetGroupArn": arn})
    sleeping = b.spot_instance("sleep-1", tags={"TargetGroupArn": arn})
    b.register(arn, [stopping.instance_id, sleeping.instance_id], ports=[80])

    account.invoke(load_event("spot-interruption-stop.json", stopping.instance_id))
    account.invoke(load_event("spot-interruption-hibernate.json", sleeping.instance_id))

    assert b.registered(arn) == []
    subjects = sorted(subject for subject, _ in account.email_texts())
    assert any(f"{stopping.instance_id} (stop-1) stop in" in s for s in subjects)
    assert any(f"{sleeping.instance_id} (sleep-1) hibernate in" in s for s in subjects)
    assert sorted(a.document["action"] for a in account.alerts()) == ["hibernate", "stop"]


def test_rebalance_recommendation_only_alerts_by_default(account):
    b = account.builder
    arn, victim = b.instance_in_target_group("web", "web-1")

    account.invoke(load_event("rebalance-recommendation.json", victim.instance_id))

    assert b.registered(arn) == [f"{victim.instance_id}:80"]
    [alert] = account.alerts()
    assert alert.document["outcome"] == "alert-only"
    assert alert.attributes["event_type"] == "EC2 Instance Rebalance Recommendation"


def test_rebalance_recommendation_drains_when_configured(account):
    b = account.builder
    arn, victim = b.instance_in_target_group("web", "web-1")

    account.invoke(load_event("rebalance-recommendation.json", victim.instance_id), drain_on_rebalance=True)

    assert b.registered(arn) == []
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"


def test_capacity_reservation_warning_uses_its_termination_time(account):
    b = account.builder
    arn, victim = b.instance_in_target_group("web", "cr-1")

    account.invoke(load_event("capacity-reservation-interruption.json", victim.instance_id))

    assert b.registered(arn) == []
    [alert] = account.alerts()
    assert alert.document["deadline"] == "2026-11-26T10:02:00Z"
    assert alert.subject.startswith("Capacity Reservation interruption: ")


def test_instance_without_scope_tag_is_ignored_quietly(account):
    b = account.builder
    arn, outsider = b.instance_in_target_group("web", "not-ours")

    report = account.invoke(load_event(SPOT, outsider.instance_id), scope_tag_key="spot-handler")

    assert b.registered(arn) == [f"{outsider.instance_id}:80"]
    assert account.alerts() == []
    assert report.batch_item_failures == []


def test_instance_with_scope_tag_is_handled(account):
    b = account.builder
    arn = b.target_group("web", delay=60)
    ours = b.spot_instance("ours", tags={"TargetGroupArn": arn, "spot-handler": "on"})
    b.register(arn, [ours.instance_id], ports=[80])

    account.invoke(load_event(SPOT, ours.instance_id), scope_tag_key="spot-handler")

    assert b.registered(arn) == []
    assert len(account.alerts()) == 1


def test_batch_mixing_valid_and_malformed_records(account):
    # Given the sample SQS batch: three valid notices and one truncated record
    b = account.builder
    arn = b.target_group("web", delay=60)
    placeholders = placeholder_ids("sqs-batch.json")
    instances = [b.spot_instance(f"web-{n}", tags={"TargetGroupArn": arn}) for n in range(len(placeholders))]
    b.register(arn, [i.instance_id for i in instances], ports=[80])
    event = load_event("sqs-batch.json", **dict(zip(placeholders, [i.instance_id for i in instances])))

    # When the handler gets the batch
    report = account.invoke(event)

    # Then every valid notice is drained and alerted, nothing is retried,
    # and the malformed record waits in the DLQ with its reason
    assert b.registered(arn) == []
    assert sorted(a.document["instanceId"] for a in account.alerts()) == sorted(i.instance_id for i in instances)
    assert report.batch_item_failures == []
    [parked] = account.dead_letters()
    assert "not JSON" in parked["MessageAttributes"]["RejectReason"]["StringValue"]
    assert parked["Body"] == event["Records"][-1]["body"]


def test_malformed_bare_event_is_parked_and_raised(account):
    import pytest
    from spot_handler.models import MalformedNotice

    event = load_event("malformed-notice.json")
    with pytest.raises(MalformedNotice) as raised:
        account.invoke(event)

    assert "instance-id" in raised.value.reason
    [parked] = account.dead_letters()
    assert parked["MessageAttributes"]["Origin"]["StringValue"] == "direct-invocation"
    assert account.alerts() == []
