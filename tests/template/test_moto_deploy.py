"""template.yaml, SAM-transformed, deployed into moto's CloudFormation: the encryption it promises is really created."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from local import moto_fidelity
from tests.support.template import REGION, sam_transformed

pytestmark = pytest.mark.template

STACK = "spot-handler"

# Resource types moto's CloudFormation cannot create, and why. Only these are left out; everything else (KMS,
# queues, topic, policies, rules, role, log group, alarms) is created from the template users deploy.
NOT_CREATED_IN_MOTO = {
    "AWS::Lambda::Function": "needs the packaged code; the handler runs in-process in the integration tests",
    "AWS::Lambda::LayerVersion": "needs the packaged code",
    "AWS::Lambda::EventSourceMapping": "refers to the function",
    "AWS::FIS::ExperimentTemplate": "moto has no FIS",
    "AWS::CloudWatch::Dashboard": "moto's CloudFormation does not create dashboards",
    # moto's CloudFormation skips these types with a warning; they are stripped so the list above is the whole truth.
    # Their documents are checked statically (tests/template/test_static_checks.py: parliament on every policy).
    "AWS::SQS::QueuePolicy": "not supported by moto's CloudFormation",
    "AWS::SNS::TopicPolicy": "not supported by moto's CloudFormation",
    "AWS::SNS::Subscription": "not supported by moto's CloudFormation",
    "AWS::CloudWatch::Alarm": "not supported by moto's CloudFormation",
}

PARAMETERS = {"EnableSpotDrill": "true", "AlertEmail": "ops@example.com"}


def without_unsupported(template: dict) -> tuple[dict, list[str]]:
    resources = template["Resources"]
    left_out = sorted(lid for lid, r in resources.items() if r["Type"] in NOT_CREATED_IN_MOTO)

    def replace(node):
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in left_out:
                return f"left-out-{node['Ref']}"
            if set(node) == {"Fn::GetAtt"}:
                target = node["Fn::GetAtt"]
                target = target.split(".")[0] if isinstance(target, str) else target[0]
                if target in left_out:
                    return f"left-out-{target}"
            if set(node) == {"Fn::Sub"}:
                text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
                for lid in left_out:
                    text = text.replace("${" + lid + "}", f"left-out-{lid}")
                return {"Fn::Sub": [text, replace(variables)] if variables else text}
            return {key: replace(value) for key, value in node.items()}
        if isinstance(node, list):
            return [replace(item) for item in node]
        return node

    kept = {lid: r for lid, r in resources.items() if lid not in left_out}
    for resource in kept.values():
        depends = resource.get("DependsOn")
        if depends:
            depends = [depends] if isinstance(depends, str) else depends
            resource["DependsOn"] = [d for d in depends if d not in left_out]
    template["Resources"] = replace(kept)
    template["Outputs"] = {
        key: replace(value) for key, value in template.get("Outputs", {}).items() if json.dumps(value).find("left-out") < 0
    }
    return template, left_out


@pytest.fixture(scope="module")
def stack():
    template, left_out = without_unsupported(sam_transformed(REGION))
    print(f"\nleft out of the moto deployment: {left_out}")
    moto_fidelity.apply()  # moto's CloudFormation would create the checkpoint table unencrypted otherwise
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        cloudformation = session.client("cloudformation")
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        description = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
        assert description["StackStatus"] == "CREATE_COMPLETE", description.get("StackStatusReason")
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        }
        yield session, physical, left_out, template


def test_only_the_resources_moto_cannot_create_are_left_out(stack):
    _, physical, left_out, template = stack
    kept_types = {r["Type"] for r in template["Resources"].values()}
    assert not kept_types & set(NOT_CREATED_IN_MOTO)
    assert set(template["Resources"]) <= set(physical)
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
    assert sorted(queues) == ["AlertDeadLetterQueue", "DeadLetterQueue", "NoticeQueue"]
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
