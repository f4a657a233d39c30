"""`sam deploy` proven: the real SAM CLI deploys template.yaml into an emulated account (LocalStack on this machine)
and one Spot interruption warning runs through the deployed rule, queue, event source mapping and function; then one
terminate lifecycle action of an Auto Scaling group with the stack's hook. The stack is a hub: member/template.yaml is
deployed into a second emulated account, and a Spot warning there is forwarded to the hub's bus and drained in the
member account by the hub's function through the member role.

    make deploy-local       (the same path, printed for a person: python -m local.deploy_local)

Assertions are on the emulated account afterwards, never on exit codes. Without Docker, a python3.13 or
LocalStack's prerequisites this module skips with the reason; in CI (CI set, as .ci/run does) a missing piece fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from local import deploy_local, sam_local
from local.lambda_runtime import EventSourceMapping
from local.rehearsal import accounts, report, stacks
from local.rehearsal.pollers import LifecycleOutcome, NoticeOutcome
from local.stack import template_constant

pytestmark = pytest.mark.deploy


@dataclass
class Deployed:
    rehearsal: deploy_local.Rehearsal
    stack: stacks.DeployedStack
    outcome: NoticeOutcome
    lifecycle: LifecycleOutcome
    member_stack: stacks.MemberStack
    member_outcome: NoticeOutcome


@pytest.fixture(scope="module")  # one deploy for the module; LocalStack stops when its tests are done
def deployed(tmp_path_factory, deploy_summary):
    work_dir = tmp_path_factory.mktemp("deploy-local")
    try:
        with deploy_local.emulated_account(work_dir) as rehearsal:
            # When the template is built and deployed with the SAM CLI, and a Spot warning is put on the bus
            rehearsal.build()
            stack = rehearsal.deploy()
            outcome = rehearsal.interrupt(stack)
            # and then an Auto Scaling terminate lifecycle action of the stack's hook
            lifecycle = rehearsal.lifecycle_action(stack)
            # and the member template is deployed into a second account, where a Spot warning is put on its bus
            member_stack = rehearsal.deploy_member(stack)
            member_outcome = rehearsal.member_interrupt(stack)
            deploy_summary.append(
                report.summary_line(stack, outcome, rehearsal.timings, lifecycle, member_stack, member_outcome)
            )
            deploy_summary.append(", ".join(f"{k} {v:.1f} s" for k, v in rehearsal.timings.items()))
            if not report.succeeded(stack, outcome, lifecycle, member_stack, member_outcome):  # shown on failure
                print(rehearsal.function_logs(stack.outputs["InterruptionHandlerFunctionName"]))
            yield Deployed(rehearsal, stack, outcome, lifecycle, member_stack, member_outcome)
    except deploy_local.DeployUnavailable as missing:
        pytest.skip(f"deploy-local skipped: {missing}")


def test_every_resource_of_the_template_is_created_by_the_emulated_cloudformation(deployed):
    stack = deployed.stack
    assert stack.status == "CREATE_COMPLETE"
    assert stack.not_really_created == set(), "types the emulator reported complete without creating anything"
    assert stack.missing() == [], "resources in template.yaml (after the SAM transform and conditions) not created"
    assert len(stack.created) == len(stack.expected.resources) == len(stack.resources)
    # the parts moto's CloudFormation never created are there
    types = {r["ResourceType"] for r in stack.created}
    assert {
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::EventSourceMapping",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
    } <= types
    # conditional resources follow their conditions: no e-mail subscription, no drill by default
    assert not {"AlertEmailSubscription", "SpotDrillRole", "SpotDrillExperiment"} & {
        r["LogicalResourceId"] for r in stack.resources
    }
    # a hub of listed member accounts: its bus, the bus policy naming them, the bus's rules; no organization policy
    logical_ids = {r["LogicalResourceId"] for r in stack.created}
    assert {
        "HubEventBus",
        "HubEventBusMembersPolicy",
        "HubEc2InterruptionRule",
        "HubLifecycleActionRule",
    } <= logical_ids
    assert "HubEventBusOrganizationPolicy" not in logical_ids
    assert sorted(stack.outputs) == stack.expected.outputs


def test_dashboard_is_created_in_the_emulated_cloudwatch(deployed):
    name = deployed.stack.outputs["DashboardName"]
    assert name == f"{stacks.STACK}-spot-interruptions"
    body = json.loads(deployed.rehearsal.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
    assert body["widgets"], "the template's widgets"


def test_event_source_mappings_have_the_template_settings(deployed):
    # Given the template's settings of each queue's mapping (Mappings.NoticeBatching)
    expected = EventSourceMapping.all_from_template()
    mappings = deployed.rehearsal.client("lambda").list_event_source_mappings(
        FunctionName=deployed.stack.outputs["InterruptionHandlerFunctionName"]
    )["EventSourceMappings"]
    queues = {
        deployed.stack.outputs["NoticeQueueArn"]: "NoticeQueue",
        deployed.stack.outputs["LoneNoticeQueueArn"]: "LoneNoticeQueue",
        deployed.stack.outputs["StateChangeQueueArn"]: "StateChangeQueue",
    }
    assert sorted(queues[m["EventSourceArn"]] for m in mappings) == sorted(expected)
    for mapping in mappings:
        settings = expected[queues[mapping["EventSourceArn"]]]
        assert mapping["BatchSize"] == settings.batch_size
        assert mapping["MaximumBatchingWindowInSeconds"] == int(settings.batching_window_s)
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"]["MaximumConcurrency"] == settings.max_concurrency
        assert mapping["State"] == "Enabled"


def test_function_runs_with_its_layer(deployed):
    function = deployed.rehearsal.client("lambda").get_function(
        FunctionName=deployed.stack.outputs["InterruptionHandlerFunctionName"]
    )["Configuration"]
    [layer] = function["Layers"]
    layer_ids = {r["PhysicalResourceId"] for r in deployed.stack.created if r["ResourceType"].endswith("LayerVersion")}
    assert layer["Arn"] in layer_ids
    assert function["Runtime"] == "python3.13"
    # deployed, the local-only endpoint variables do not exist (the SamLocalOnly condition)
    assert "AWS_ENDPOINT_URL" not in function["Environment"]["Variables"]


def test_the_interrupted_instance_is_deregistered_in_the_emulated_elbv2(deployed):
    outcome = deployed.outcome
    elbv2 = deployed.rehearsal.client("elbv2")
    health = elbv2.describe_target_health(TargetGroupArn=outcome.target_group_arn)["TargetHealthDescriptions"]
    registered = [d["Target"]["Id"] for d in health]
    assert outcome.instance_id not in registered
    assert len(registered) == 1, "the bystander stays registered"
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=outcome.target_group_arn)["Attributes"]
    delay = {a["Key"]: a["Value"] for a in attributes}["deregistration_delay.timeout_seconds"]
    assert _ends_before_the_deadline(int(delay), outcome), "a 300 s delay is lowered to end 10 s before the deadline"


def test_the_alert_reaches_a_queue_subscribed_to_the_deployed_topic(deployed):
    alert = deployed.outcome.alert
    assert alert is not None, "no alert reached the subscriber queue"
    assert alert["TopicArn"] == deployed.stack.outputs["AlertTopicArn"]
    instance_id = deployed.outcome.instance_id
    assert alert["Subject"].startswith(f"Spot interruption: {instance_id} (web-1) terminate in ")
    document = alert["document"]
    assert (document["schema"], document["instanceId"], document["outcome"]) == (
        "spot-interruption-alert/1",
        instance_id,
        "drained",
    )
    [target_group] = document["targetGroups"]
    assert target_group["deregistered"] == [f"{instance_id}:80"]
    assert target_group["delayLoweredFromSeconds"] == 300
    assert _ends_before_the_deadline(target_group["deregistrationDelaySeconds"], deployed.outcome)
    assert document["failures"] == []
    attributes = {k: v["Value"] for k, v in alert.get("MessageAttributes", {}).items()}
    assert attributes["outcome"] == "drained" and attributes["instance_id"] == instance_id


def test_the_lifecycle_action_drains_the_group_instance_and_is_completed_or_waits_for_the_drain(deployed):
    lifecycle = deployed.lifecycle
    rehearsal = deployed.rehearsal
    # Then the instance left the target group attached to its group; the other member stays
    health = rehearsal.client("elbv2").describe_target_health(TargetGroupArn=lifecycle.target_group_arn)
    registered = [d["Target"]["Id"] for d in health["TargetHealthDescriptions"]]
    assert lifecycle.instance_id in {t.split(":")[0] for t in lifecycle.registered_before}
    assert lifecycle.instance_id not in registered
    assert len(registered) == 1, "the group's other instance stays registered"
    # and the action was completed (by the follow-up, once the drain was over) or waits for the drain with its
    # follow-up delayed on the notice queue, never left alone
    completed = lifecycle.completed or rehearsal.lifecycle_completed(
        lifecycle.group, lifecycle.hook, lifecycle.token, lifecycle.instance_id
    )
    assert completed or lifecycle.follow_ups_delayed >= 1
    # the hook is the stack's (a constant: Mappings), its GlobalTimeout as AWS computes it: local/moto_fidelity's
    # lifecycle patch runs in LocalStack's moto (min(172,800, 100 x the 300 s heartbeat timeout))
    assert lifecycle.hook == template_constant("Names", "LifecycleHook") == "spot-interruption-drain"
    [hook] = rehearsal.client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName=lifecycle.group)[
        "LifecycleHooks"
    ]
    assert (hook["LifecycleHookName"], hook["GlobalTimeout"]) == (lifecycle.hook, 30_000)
    # and its alert says so
    assert lifecycle.alert is not None, "no alert for the lifecycle action reached the subscriber queue"
    document = lifecycle.alert["document"]
    assert (document["instanceId"], document["detailType"]) == (
        lifecycle.instance_id,
        "EC2 Instance-terminate Lifecycle Action",
    )
    action = document["lifecycleAction"]
    assert (action["autoScalingGroup"], action["hook"]) == (lifecycle.group, lifecycle.hook)
    [target_group] = document["targetGroups"]
    assert target_group["deregistered"] == [f"{lifecycle.instance_id}:80"]


def test_the_member_template_is_deployed_into_the_second_account_wired_to_the_hub(deployed):
    member = deployed.member_stack
    hub_outputs = deployed.stack.outputs
    # Then every resource of member/template.yaml is created (in the hub's region the member role is one of them)
    assert member.status == "CREATE_COMPLETE"
    assert {r["LogicalResourceId"] for r in member.resources} == set(_template(stacks.MEMBER_TEMPLATE)["Resources"])
    assert {r["ResourceStatus"] for r in member.resources} == {"CREATE_COMPLETE"}
    assert member.parameters["HubEventBusArn"] == hub_outputs["HubEventBusArn"]
    assert member.parameters["HubHandlerRoleArn"] == hub_outputs["InterruptionHandlerRoleArn"]
    # in the member account, not the hub's
    rehearsal = deployed.rehearsal
    [summary] = rehearsal.member_client("cloudformation").describe_stacks(StackName=stacks.MEMBER_STACK)["Stacks"]
    assert f":{accounts.MEMBER_ACCOUNT}:stack/" in summary["StackId"]
    # each of its forwarding rules on the member's default bus targets the hub's bus through the forwarding role
    resources = _template(stacks.MEMBER_TEMPLATE)["Resources"]
    rules = [name for name, body in resources.items() if body["Type"] == "AWS::Events::Rule"]
    assert rules
    for rule in rules:
        [target] = rehearsal.member_client("events").list_targets_by_rule(Rule=_physical_id(member, rule))["Targets"]
        forwarding = (hub_outputs["HubEventBusArn"], member.outputs["ForwardingRoleArn"])
        assert (target["Arn"], target["RoleArn"]) == forwarding, rule
    # the member role is trusted by the hub's handler role only
    role = rehearsal.member_client("iam").get_role(RoleName=template_constant("Names", "MemberRole"))["Role"]
    assert role["Arn"] == member.outputs["MemberRoleArn"]
    [statement] = _document(role["AssumeRolePolicyDocument"])["Statement"]
    assert statement["Principal"] == {"AWS": hub_outputs["InterruptionHandlerRoleArn"]}
    # and the hub's bus lets the member account put events on it
    bus = rehearsal.client("events").describe_event_bus(Name=hub_outputs["HubEventBusArn"])
    [statement] = _document(bus["Policy"])["Statement"]
    assert accounts.MEMBER_ACCOUNT in json.dumps(statement["Principal"])
    assert statement["Action"] == "events:PutEvents"


def test_a_notice_from_the_member_account_is_forwarded_to_the_hub_and_drained_in_the_member_account(deployed):
    outcome = deployed.member_outcome
    member = deployed.rehearsal.member_client("elbv2")
    # Then the member's instance left the member's target group; the bystander stays
    assert f":{accounts.MEMBER_ACCOUNT}:targetgroup/" in outcome.target_group_arn
    health = member.describe_target_health(TargetGroupArn=outcome.target_group_arn)["TargetHealthDescriptions"]
    registered = [d["Target"]["Id"] for d in health]
    assert outcome.instance_id in {t.split(":")[0] for t in outcome.registered_before}
    assert outcome.instance_id not in registered
    assert len(registered) == 1, "the bystander stays registered"
    attributes = member.describe_target_group_attributes(TargetGroupArn=outcome.target_group_arn)["Attributes"]
    delay = {a["Key"]: a["Value"] for a in attributes}["deregistration_delay.timeout_seconds"]
    assert _ends_before_the_deadline(int(delay), outcome)
    # (the hub's own credentials do not see the member's target groups: only the member role could have drained it)
    hub_groups = deployed.rehearsal.client("elbv2").describe_target_groups()["TargetGroups"]
    assert outcome.target_group_arn not in {g["TargetGroupArn"] for g in hub_groups}
    # and the hub's alert says whose instance it was: account and region in the document and the message attributes
    alert = outcome.alert
    assert alert is not None, "no alert for the member's instance reached the subscriber queue"
    assert alert["TopicArn"] == deployed.stack.outputs["AlertTopicArn"]
    document = alert["document"]
    assert (document["instanceId"], document["account"], document["region"], document["outcome"]) == (
        outcome.instance_id,
        accounts.MEMBER_ACCOUNT,
        accounts.REGION,
        "drained",
    )
    [target_group] = document["targetGroups"]
    assert target_group["deregistered"] == [f"{outcome.instance_id}:80"]
    assert document["failures"] == []
    message_attributes = {k: v["Value"] for k, v in alert["MessageAttributes"].items()}
    assert (message_attributes["account_id"], message_attributes["region"]) == (
        accounts.MEMBER_ACCOUNT,
        accounts.REGION,
    )


def test_the_deploy_line_keeps_its_fields_and_ends_with_the_member_fields(deployed):
    line = report.summary_line(
        deployed.stack,
        deployed.outcome,
        deployed.rehearsal.timings,
        deployed.lifecycle,
        deployed.member_stack,
        deployed.member_outcome,
    )
    fields = dict(field.split("=", 1) for field in line.split()[1:])
    assert list(fields) == [
        "stack",
        "resources",
        "outputs",
        "drained",
        "alert",
        "deploy_s",
        "lifecycle",
        "member_stack",
        "member_drained",
        "member_alert",
    ]
    assert (fields["drained"], fields["alert"], fields["lifecycle"]) == ("1", "1", "1")
    assert (fields["member_stack"], fields["member_drained"], fields["member_alert"]) == ("CREATE_COMPLETE", "1", "1")


def _ends_before_the_deadline(delay: int, outcome: NoticeOutcome) -> bool:
    """A 300 s delay outlasts the instance (deadline: the notice's time + 120 s), so the handler lowers it to end 10 s
    before the deadline (below MaxDeregistrationDelaySeconds, 120): 110 s less the seconds from the notice to the
    handler's look, which the rehearsal's wait bounds (outcome.seconds; a second more for rounding down)."""
    return 110 - outcome.seconds - 1 <= delay <= 110


def _template(path=sam_local.TEMPLATE) -> dict:
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


def _physical_id(stack: stacks.MemberStack, logical_id: str) -> str:
    [resource] = [r for r in stack.resources if r["LogicalResourceId"] == logical_id]
    return resource["PhysicalResourceId"]


def _document(policy: str | dict) -> dict:
    """A policy document as IAM or EventBridge returns it (a string, URL-encoded or not, or already parsed)."""
    from urllib.parse import unquote

    return policy if isinstance(policy, dict) else json.loads(unquote(policy))
