"""local/moto_fidelity.py: the DynamoDB patches keep moto's answers (they only make it safe and fast under load);
the ECS and Classic ELB patches make moto answer as AWS does where the handler depends on it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

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
