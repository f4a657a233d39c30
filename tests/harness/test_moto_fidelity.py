"""local/moto_fidelity.py: the DynamoDB patches keep moto's answers (they only make it safe and fast under load);
the ECS, Classic ELB and EC2 patches make moto answer as AWS does where the handler depends on it (the AWS facts and
their sources are in the module's docstrings)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from local.account import AMI

TABLE = "claims"


@pytest.fixture
def dynamodb(account):
    client = account.builder.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def put(key: str, conditional: bool = True) -> dict:
    action = {"TableName": TABLE, "Item": {"id": {"S": key}, "status": {"S": "INPROGRESS"}}}
    if conditional:
        action |= {
            "ConditionExpression": "attribute_not_exists(#id)",
            "ExpressionAttributeNames": {"#id": "id"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    return {"Put": action}


def keys(dynamodb) -> set[str]:
    return {item["id"]["S"] for item in dynamodb.scan(TableName=TABLE)["Items"]}


def test_a_cancelled_transaction_writes_nothing_and_names_each_reason(dynamodb):
    # Given a table of 300 records (the snapshot for rollback is taken once per table now, not once per action)
    for start in range(0, 300, 100):
        dynamodb.transact_write_items(TransactItems=[put(f"old-{n}") for n in range(start, start + 100)])

    # When a transaction of new records meets one that exists
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as cancelled:
        dynamodb.transact_write_items(TransactItems=[put("new-1"), put("old-7"), put("new-2")])

    # Then no action of it was applied, and the answer says which action failed, with the record in the way
    assert keys(dynamodb) == {f"old-{n}" for n in range(300)}
    reasons = cancelled.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "None"]
    assert reasons[1]["Item"] == {"id": {"S": "old-7"}, "status": {"S": "INPROGRESS"}}


def test_transactions_from_many_threads_all_land(dynamodb):
    def write(worker: int) -> None:
        for batch in range(5):
            dynamodb.transact_write_items(TransactItems=[put(f"{worker}-{batch}-{n}") for n in range(40)])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(8)))

    assert len(keys(dynamodb)) == 8 * 5 * 40


# ---- ECS and Classic ELB: the gaps the patches close (each would hide a handler bug) -----------------------------


def test_ecs_services_carry_their_deployment_configuration_with_the_aws_default(account):
    b = account.builder
    b.ecs_cluster("c")
    b.ecs_service("c", "chosen", minimum_healthy_percent=50)
    b.client("ecs").create_service(cluster="c", serviceName="defaulted", taskDefinition="chosen", desiredCount=1)

    described = b.client("ecs").describe_services(cluster="c", services=["chosen", "defaulted"])["services"]

    assert {s["serviceName"]: s["deploymentConfiguration"] for s in described} == {
        "chosen": {"minimumHealthyPercent": 50, "maximumPercent": 200},
        "defaulted": {"minimumHealthyPercent": 100, "maximumPercent": 200},
    }


def test_update_container_instances_state_refuses_more_than_ten_as_aws_does(account):
    from botocore.exceptions import ClientError

    b = account.builder
    b.ecs_cluster("c")
    arns = [b.container_instance("c", i.instance_id) for i in b.spot_instances(11, "ci")]

    with pytest.raises(ClientError, match="InvalidParameterException"):
        b.client("ecs").update_container_instances_state(cluster="c", containerInstances=arns, status="DRAINING")
    assert {b.container_instance_status("c", arn) for arn in arns} == {"ACTIVE"}


def test_an_instance_registered_by_its_auto_scaling_group_leaves_a_classic_load_balancer_when_deregistered(account):
    b = account.builder
    name = b.classic_load_balancer("asg-classic")
    [instance] = b.auto_scaling_group("g", [], size=1, load_balancer_names=[name])

    b.client("elb").deregister_instances_from_load_balancer(LoadBalancerName=name, Instances=[{"InstanceId": instance}])

    assert b.classic_instances(name) == []


def test_a_classic_instance_deregistered_with_connection_draining_is_reported_deregistering_until_it_ends(account):
    # AWS (Classic Load Balancer user guide, "Configure connection draining"): while in-flight requests are served the
    # instance is `InService`, "Instance deregistration currently in progress."; after, `OutOfService`, "Instance is
    # not currently registered with the LoadBalancer."
    from local import moto_fidelity

    b = account.builder
    b.classic_load_balancer("drains", draining_timeout=60)
    b.classic_load_balancer("cuts", draining_timeout=None)
    instance = b.spot_instance("web-1").instance_id
    b.register_classic("drains", [instance])
    b.register_classic("cuts", [instance])
    elb = b.client("elb")

    def health(name: str) -> tuple[str, str]:
        [state] = elb.describe_instance_health(LoadBalancerName=name, Instances=[{"InstanceId": instance}])[
            "InstanceStates"
        ]
        return state["State"], state["Description"]

    for name in ("drains", "cuts"):
        elb.deregister_instances_from_load_balancer(LoadBalancerName=name, Instances=[{"InstanceId": instance}])

    assert health("drains") == ("InService", "Instance deregistration currently in progress.")
    assert health("cuts") == ("OutOfService", "Instance is not currently registered with the LoadBalancer.")
    assert b.classic_instances("drains") == []  # no longer registered, while its connections drain
    moto_fidelity.advance(61)
    assert health("drains") == ("OutOfService", "Instance is not currently registered with the LoadBalancer.")


# ---- EC2: state reasons, and EC2 interrupting a Spot instance (what the late signal and the sweep read) ----------

USER_REASON = {
    "Code": "Client.UserInitiatedShutdown",
    "Message": "Client.UserInitiatedShutdown: User initiated shutdown",
}
SPOT_TERMINATION = {
    "Code": "Server.SpotInstanceTermination",
    "Message": "Server.SpotInstanceTermination: Spot instance termination",
}
SPOT_SHUTDOWN = {
    "Code": "Server.SpotInstanceShutdown",
    "Message": "Server.SpotInstanceShutdown: Spot instance shutdown",
}
USER_INITIATED = re.compile(r"^User initiated \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\)$")
INTERRUPTED_AT = datetime(2026, 11, 26, 10, 0, 2, tzinfo=UTC)


def on_demand_instance(b) -> str:
    subnet, _ = b.subnets[0]
    return b.client("ec2").run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0][
        "InstanceId"
    ]


def selected(b, **filters: list[str]) -> set[str]:
    """Ids of the instances DescribeInstances returns for the filters (name=values, '_' for '-')."""
    described = b.client("ec2").describe_instances(
        Filters=[{"Name": name.replace("_", "-"), "Values": values} for name, values in filters.items()]
    )
    return {i["InstanceId"] for r in described["Reservations"] for i in r["Instances"]}


def test_a_users_stop_and_terminate_leave_the_user_initiated_reason(account):
    b = account.builder
    stopped, terminated = b.spot_instance("stopped").instance_id, b.spot_instance("terminated").instance_id

    b.stop(stopped)
    b.terminate(terminated)

    for instance_id, state in ((stopped, "stopped"), (terminated, "terminated")):
        described = b.described(instance_id)
        assert described["State"]["Name"] == state
        assert described["StateReason"] == USER_REASON
        assert USER_INITIATED.match(described["StateTransitionReason"]), described["StateTransitionReason"]
        assert described["InstanceLifecycle"] == "spot"


@pytest.mark.parametrize(
    ("action", "passing", "ends", "reason"),
    [
        ("terminate", "shutting-down", "terminated", SPOT_TERMINATION),
        ("stop", "stopping", "stopped", SPOT_SHUTDOWN),
        ("hibernate", "stopping", "stopped", SPOT_SHUTDOWN),  # a hibernated Spot instance is `stopped` at AWS
    ],
)
def test_ec2_interrupting_a_spot_instance_passes_through_its_state_and_keeps_the_spot_reason(
    account, action, passing, ends, reason
):
    b = account.builder
    instance_id = b.spot_instance("victim").instance_id

    # When EC2 begins the interruption, DescribeInstances sees the state it passes through, with the Spot reason
    b.interrupt_spot(instance_id, action, complete=False, at=INTERRUPTED_AT)
    during = b.described(instance_id)
    assert during["State"]["Name"] == passing
    assert during["StateReason"] == reason
    assert during["StateTransitionReason"] == "Service initiated (2026-11-26 10:00:02 GMT)"

    # And once it is over, the instance is stopped or terminated and keeps the reason (moto keeps terminated ones)
    b.complete_interruption(instance_id)
    after = b.described(instance_id)
    assert after["State"]["Name"] == ends
    assert after["StateReason"] == reason
    assert after["StateTransitionReason"] == "Service initiated (2026-11-26 10:00:02 GMT)"


def test_the_three_filters_select_the_spot_instances_ec2_interrupted(account):
    # Given Spot instances EC2 interrupted (one still shutting down), a user's stop and terminate, a running one, and
    # an On-Demand instance the user stopped
    b = account.builder
    ids = {name: b.spot_instance(name).instance_id for name in ("terminated", "stopped", "hibernated", "going")}
    ids |= {name: b.spot_instance(name).instance_id for name in ("user-stopped", "user-terminated", "running")}
    ids["on-demand"] = on_demand_instance(b)
    b.interrupt_spot(ids["terminated"], "terminate")
    b.interrupt_spot(ids["stopped"], "stop")
    b.interrupt_spot(ids["hibernated"], "hibernate")
    b.interrupt_spot(ids["going"], "terminate", complete=False)
    b.stop(ids["user-stopped"])
    b.terminate(ids["user-terminated"])
    b.stop(ids["on-demand"])
    spot_codes = [SPOT_TERMINATION["Code"], SPOT_SHUTDOWN["Code"]]

    # Then each filter selects by its own field, and together they find exactly what EC2 interrupted
    assert selected(b, instance_lifecycle=["spot"]) == {ids[n] for n in ids if n != "on-demand"}
    assert selected(b, instance_state_name=["shutting-down"]) == {ids["going"]}
    assert selected(b, state_reason_code=[USER_REASON["Code"]]) == {
        ids["user-stopped"],
        ids["user-terminated"],
        ids["on-demand"],
    }
    assert selected(
        b,
        instance_lifecycle=["spot"],
        instance_state_name=["stopped", "terminated"],
        state_reason_code=spot_codes,
    ) == {ids["terminated"], ids["stopped"], ids["hibernated"]}


def test_ec2_resumes_a_spot_instance_it_stopped_and_only_that(account):
    b = account.builder
    hibernated, user_stopped = b.spot_instance("hibernated").instance_id, b.spot_instance("user").instance_id
    b.interrupt_spot(hibernated, "hibernate")
    b.stop(user_stopped)

    b.resume(hibernated)

    resumed = b.described(hibernated)
    assert resumed["State"]["Name"] == "running"
    assert not resumed.get("StateReason", {}).get("Code") and resumed["StateTransitionReason"] == ""
    with pytest.raises(ValueError, match="resumes only a Spot instance it stopped"):
        b.resume(user_stopped)
    with pytest.raises(ValueError, match="not a Spot instance"):
        b.interrupt_spot(on_demand_instance(b), "terminate")


def test_a_spot_termination_takes_instance_targets_out_of_their_group_and_leaves_ip_targets(account):
    # AWS deregisters a terminated instance's instance targets; ip targets stay registered (nothing ties an address to
    # an instance), which is what the reconciliation sweep cleans up.
    b = account.builder
    by_instance = b.target_group("by-instance", "instance", delay=0)
    by_ip = b.target_group("by-ip", "ip", delay=0)
    victim = b.spot_instance("victim")
    b.register(by_instance, [victim.instance_id], ports=[80])
    b.register(by_ip, victim.private_ips, ports=[443])

    b.interrupt_spot(victim.instance_id, "terminate")

    assert b.registered(by_instance) == []
    assert b.registered(by_ip) == [f"{ip}:443" for ip in victim.private_ips]


def test_an_auto_scaling_group_launching_from_a_spot_launch_template_launches_spot_instances(account):
    b = account.builder
    [instance_id, _] = b.auto_scaling_group("spot-group", [], size=2)

    assert b.described(instance_id)["InstanceLifecycle"] == "spot"
    b.interrupt_spot(instance_id, "terminate")  # and EC2 can interrupt it
    assert b.described(instance_id)["State"]["Name"] == "terminated"
