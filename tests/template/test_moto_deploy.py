"""template.yaml, SAM-transformed, deployed into moto's CloudFormation: the encryption it promises is really created."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from local import moto_fidelity
from local.stack import NOT_CREATED_LOCALLY, create_moto_stack
from tests.support.events import load_event
from tests.support.template import REGION

pytestmark = pytest.mark.template

STACK = "spot-handler"

# moto's CloudFormation skips these types with a warning and still completes the stack (local.stack names them);
# their documents are checked statically instead (tests/template/test_static_checks.py: parliament on every policy).
MOTO_GAPS = {
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::CloudWatch::Alarm",
    "AWS::Events::EventBusPolicy",  # the hub bus's policy: checked statically (tests/template/test_static_checks.py)
}

# Every optional piece on, the hub (issue 14) included, so every conditional resource is deployed too.
PARAMETERS = {
    "EnableSpotDrill": "true",
    "AlertEmail": "ops@example.com",
    "OrganizationId": "o-a1b2c3d4e5",
    "MemberAccountIds": "111111111111,222222222222",
}


@pytest.fixture(scope="module")
def stack():
    """The stack created the way the demo and the e2e suite create it: local.stack.create_moto_stack."""
    moto_fidelity.apply()  # moto's CloudFormation would create the checkpoint table unencrypted otherwise
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        local = create_moto_stack(session, STACK, PARAMETERS)
        print(f"\nleft out of the moto deployment: {sorted(local.left_out)}; moto skipped: {local.skipped_by_moto}")
        yield session, local.physical_ids, local, local.template


def test_only_the_resources_moto_cannot_create_are_left_out(stack):
    _, physical, local, template = stack
    kept_types = {r["Type"] for r in template["Resources"].values()}
    assert not kept_types & set(NOT_CREATED_LOCALLY)
    assert set(local.skipped_by_moto.values()) <= MOTO_GAPS
    assert set(template["Resources"]) - set(local.skipped_by_moto) <= set(physical)
    assert {"HandlerKey", "NoticeQueue", "DeadLetterQueue", "AlertTopic", "InterruptionHandlerRole"} <= set(physical)


def test_customer_managed_key_rotates(stack):
    session, physical, _, _ = stack
    kms = session.client("kms")
    key_id = physical["HandlerKey"]
    assert key_id in [k["KeyId"] for k in kms.list_keys()["Keys"]]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_every_queue_is_encrypted_with_the_stack_key(stack):
    session, physical, _, template = stack
    sqs = session.client("sqs")
    key_id = physical["HandlerKey"]
    queues = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"]
    assert sorted(queues) == [
        "AlertDeadLetterQueue",
        "DeadLetterQueue",
        "LoneNoticeQueue",
        "NoticeQueue",
        "StateChangeQueue",
    ]
    for logical_id in queues:
        attributes = sqs.get_queue_attributes(QueueUrl=physical[logical_id], AttributeNames=["All"])["Attributes"]
        assert attributes.get("KmsMasterKeyId") == key_id, logical_id


def test_the_alert_topic_is_encrypted_with_the_stack_key(stack):
    session, physical, _, _ = stack
    attributes = session.client("sns").get_topic_attributes(TopicArn=physical["AlertTopic"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == physical["HandlerKey"]


def test_every_table_is_encrypted(stack):
    session, physical, _, template = stack
    dynamodb = session.client("dynamodb")
    tables = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
    print(f"\nDynamoDB tables in the template: {tables or 'none yet'}")
    for logical_id in tables:
        sse = dynamodb.describe_table(TableName=physical[logical_id])["Table"].get("SSEDescription", {})
        assert sse.get("Status") == "ENABLED" and sse.get("SSEType") == "KMS", (logical_id, sse)


def test_the_log_group_keeps_logs_for_the_retention_parameter(stack):
    session, physical, _, template = stack
    [group] = session.client("logs").describe_log_groups(logGroupNamePrefix=physical["InterruptionHandlerLogGroup"])[
        "logGroups"
    ]
    assert group["retentionInDays"] == 30
    # moto's CloudFormation drops KmsKeyId on log groups; the template's own value is asserted instead.
    assert template["Resources"]["InterruptionHandlerLogGroup"]["Properties"]["KmsKeyId"] == {
        "Fn::GetAtt": ["HandlerKey", "Arn"]
    }


def test_the_handler_role_is_created_with_its_one_inline_policy(stack):
    session, physical, _, _ = stack
    iam = session.client("iam")
    role = physical["InterruptionHandlerRole"]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["interruption-handler"]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


def test_the_lifecycle_rule_routes_only_the_handlers_own_hook_to_the_notice_queue(stack):
    # Given the deployed rules, and the notice queue they deliver to
    session, physical, _, _ = stack
    events, sqs = session.client("events"), session.client("sqs")
    queue_url = physical["NoticeQueue"]
    sqs.purge_queue(QueueUrl=queue_url)

    # When Auto Scaling sends a terminate lifecycle action of the handler's hook, and one of another tool's hook
    for name in ("lifecycle-terminate.json", "lifecycle-other-hook.json"):
        event = load_event(name)
        events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )

    # Then only the first reaches the queue
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    hooks = [json.loads(m["Body"])["detail"]["LifecycleHookName"] for m in got]
    assert hooks == ["spot-interruption-drain"]
