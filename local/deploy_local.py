"""`make deploy-local`: the dress rehearsal for `sam deploy --guided`, offline, in an emulated account.

1. Installs what it needs (Docker engine and the Lambda base image as the e2e suite does: local/sam_local.py;
   LocalStack, Java and DynamoDB Local: tools/localstack/install.sh) and starts LocalStack on this machine.
2. `sam build --config-env local` (template.yaml for this machine's architecture: local/sam_local.py) and
   `sam deploy --config-env local` (samconfig.toml), pointed at LocalStack: the emulated CloudFormation applies the
   SAM transform and the conditions and creates every resource of the template, the function, its layer and its
   event source mapping included.
3. Seeds a Spot instance registered in a target group its tag names, subscribes an SQS queue to the deployed alert
   topic, and puts an "EC2 Spot Instance Interruption Warning" on the default event bus. The deployed rule, notice
   queue and event source mapping run the deployed function in a container from the offline Lambda image.
4. Waits (bounded) until the target is deregistered and the alert reaches the subscriber queue.
5. Seeds an Auto Scaling group with a terminate lifecycle hook named as the stack's (Mappings), its instances
   registered in a target group attached to the group, and puts an "EC2 Instance-terminate Lifecycle Action" for one
   of them (a fresh token, time now) on the bus. Waits (bounded) until the deployed function has deregistered it and
   either completed the lifecycle action or left it waiting for the drain with a follow-up delayed on the notice
   queue (the follow-up completes it once the registration has left draining).
6. Hub and spoke: the stack is deployed as a hub (MemberAccountIds=MEMBER_ACCOUNT). member/template.yaml is
   deployed into that second emulated account (CloudFormation, with the member's credentials; parameters from the hub
   stack's outputs), an instance of that account is registered in a target group its tag names, and a Spot warning is
   put on the member's default bus. The member's forwarding rule (through its role) puts it on the hub's bus, the
   hub bus's rule sends it to the notice queue, and the deployed function assumes the member role and deregisters
   the instance in the member account. Waits (bounded) for that and for the alert, which names the member account.
7. Prints the alerts, the stack's resources and outputs, stops everything it started, and ends with the line

   DEPLOY stack=<status> resources=<created>/<in template, after conditions> outputs=<n> drained=<0|1> alert=<0|1>
   deploy_s=<s> lifecycle=<0|1> member_stack=<status> member_drained=<0|1> member_alert=<0|1>

Exit status 0 only when the stack is CREATE_COMPLETE with every resource, the target was drained, the alert
arrived, the lifecycle action was handled (lifecycle=1), and the member stack is CREATE_COMPLETE, its instance
drained by the hub and the alert for it (account_id: the member) arrived. Without Docker, LocalStack's prerequisites
or a python3.13 it exits 2 saying what is missing (in CI, as set by .ci/run, that is a failure like any other).
tests/deploy runs the same path in `make test`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3

from local import localstack, sam_local
from local.account import AccountBuilder
from local.stack import template_constant
from local.template_resources import ExpectedStack, expected_stack

STACK = "spot-interruption-handler"  # samconfig.toml [local.global.parameters]
REGION = "us-east-2"
CONFIG_ENV = "local"
# LocalStack takes a 12-digit access key id as the account id: the account the sample events name.
ACCOUNT = "123456789012"
NOTICE_EVENT = sam_local.ROOT / "events" / "spot-interruption-instance-tg.json"
WAIT_SECONDS = 180  # for the notice to be handled: the first invocation starts the function's container
LIFECYCLE_EVENT = sam_local.ROOT / "events" / "lifecycle-terminate.json"
# For the lifecycle action: the follow-up that completes it is delayed 30 s (followups.CHECK_EVERY_SECONDS).
LIFECYCLE_WAIT_SECONDS = 150
# Hub and spoke: the second emulated account, and the stack member/template.yaml makes there.
MEMBER_ACCOUNT = "111111111111"
MEMBER_STACK = "spot-interruption-member"
MEMBER_TEMPLATE = sam_local.ROOT / "member" / "template.yaml"
MEMBER_STACK_WAIT_SECONDS = 120


class DeployUnavailable(RuntimeError):
    """Something the rehearsal needs is missing and could not be installed here."""


@dataclass
class DeployedStack:
    status: str
    resources: list[dict]  # StackResourceSummaries
    outputs: dict[str, str]
    parameters: dict[str, str]
    expected: ExpectedStack  # from template.yaml after the SAM transform and conditions, without the emulator
    # Types the emulated CloudFormation has no provider for: it reports them CREATE_COMPLETE and creates nothing.
    not_really_created: set[str] = field(default_factory=set)

    @property
    def created(self) -> list[dict]:
        return [
            r
            for r in self.resources
            if r["ResourceStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
            and r["ResourceType"] not in self.not_really_created
        ]

    def missing(self) -> list[str]:
        """Resources the template asks for that the stack does not have (created)."""
        have = {(_comparable(r["LogicalResourceId"], r["ResourceType"]), r["ResourceType"]) for r in self.created}
        return sorted(
            logical_id
            for logical_id, kind in self.expected.resources.items()
            if (_comparable(logical_id, kind), kind) not in have
        )


# What LocalStack logs when it marks a resource complete without a provider to create it.
_NO_PROVIDER = re.compile(r'No resource provider found for "(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)"')


def _comparable(logical_id: str, resource_type: str) -> str:
    # SAM names a layer version after a hash of its content: the built layer's hash differs from the one computed
    # from the source template here.
    if resource_type == "AWS::Lambda::LayerVersion":
        return re.sub(r"[0-9a-f]{10}$", "", logical_id)
    return logical_id


@dataclass
class NoticeOutcome:
    instance_id: str
    target_group_arn: str
    registered_before: list[str]
    registered_after: list[str]
    deregistration_delay_after: int
    alert: dict | None  # the SNS envelope the subscriber queue received, Message parsed into "document"
    seconds: float

    @property
    def drained(self) -> bool:
        """The instance was registered before the notice and is not any more (targets read "id:port")."""
        return _registered(self.registered_before, self.instance_id) and not _registered(
            self.registered_after, self.instance_id
        )


def _registered(targets: list[str], instance_id: str) -> bool:
    """Targets read "id:port"."""
    return any(t.split(":")[0] == instance_id for t in targets)


@dataclass
class LifecycleOutcome:
    group: str
    hook: str
    token: str
    instance_id: str
    target_group_arn: str  # attached to the group
    registered_before: list[str]
    registered_after: list[str]
    completed: bool  # Auto Scaling has no active action with the token any more
    follow_ups_delayed: int  # the notice queue's ApproximateNumberOfMessagesDelayed, at most, while it waited
    alert: dict | None
    seconds: float

    @property
    def drained(self) -> bool:
        """The instance was registered before the action and is not any more."""
        return _registered(self.registered_before, self.instance_id) and not _registered(
            self.registered_after, self.instance_id
        )

    @property
    def handled(self) -> bool:
        """Drained, and the action completed, or waiting for the drain with its follow-up on the way."""
        return self.drained and (self.completed or self.follow_ups_delayed >= 1)


@dataclass
class MemberStack:
    """member/template.yaml as the emulated CloudFormation created it in MEMBER_ACCOUNT."""

    status: str
    resources: list[dict]  # StackResourceSummaries
    outputs: dict[str, str]
    parameters: dict[str, str]
    seconds: float


def _described(cloudformation, name: str) -> tuple[str, list[dict], dict[str, str], dict[str, str]]:
    """A stack's status, resources (all pages), outputs and parameters, as the emulated CloudFormation reports them."""
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    resources = [
        summary
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
        for summary in page["StackResourceSummaries"]
    ]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return stack["StackStatus"], resources, outputs, parameters


@dataclass
class Rehearsal:
    """An emulated account on this machine, with the SAM CLI pointed at it."""

    runtime: sam_local.Runtime
    emulator: localstack.RunningLocalStack
    work_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
    _builder: AccountBuilder | None = None
    _member_builder: AccountBuilder | None = None

    @property
    def session(self) -> boto3.session.Session:
        return boto3.session.Session(aws_access_key_id=ACCOUNT, aws_secret_access_key="local", region_name=REGION)

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.emulator.endpoint)

    def _sam(self, *args: str, timeout: int) -> subprocess.CompletedProcess[str]:
        environment = sam_local.sam_environment(self.runtime, REGION, sts_endpoint=self.emulator.endpoint)
        environment.update(
            AWS_ACCESS_KEY_ID=ACCOUNT,
            AWS_SECRET_ACCESS_KEY="local",
            AWS_ENDPOINT_URL=self.emulator.endpoint,  # every AWS call of the SAM CLI goes to the emulated account
        )
        command = [self.runtime.sam, *args, "--config-env", CONFIG_ENV]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=sam_local.ROOT, env=environment
        )
        if done.returncode != 0:
            output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            raise RuntimeError(f"sam {args[0]} failed (exit {done.returncode}):\n{output}")
        return done

    def build(self) -> None:
        started = time.perf_counter()
        # The cloud's arm64, made this machine's architecture: LocalStack runs the function in a local container.
        template = sam_local.machine_template(self.work_dir)
        self._sam("build", "--template-file", str(template), "--base-dir", str(sam_local.ROOT), timeout=900)
        self.timings["build"] = time.perf_counter() - started

    def deploy(self) -> DeployedStack:
        """`sam deploy --config-env local`, then what the emulated CloudFormation made of the stack: a hub, with
        MEMBER_ACCOUNT as its member (its own account's notices are handled as in a single-account stack)."""
        overrides = {"MemberAccountIds": MEMBER_ACCOUNT}
        started = time.perf_counter()
        self._sam("deploy", "--parameter-overrides", " ".join(f"{k}={v}" for k, v in overrides.items()), timeout=900)
        self.timings["deploy"] = time.perf_counter() - started
        status, resources, outputs, parameters = _described(self.client("cloudformation"), STACK)
        return DeployedStack(
            status=status,
            resources=resources,
            outputs=outputs,
            parameters=parameters,
            expected=expected_stack(self.session, STACK, overrides),
            not_really_created=set(_NO_PROVIDER.findall(self.emulator.log_path.read_text(errors="replace"))),
        )

    def interrupt(self, stack: DeployedStack, wait_seconds: float = WAIT_SECONDS) -> NoticeOutcome:
        """Seed a tagged Spot instance in a target group, send its interruption warning, wait for the outcome."""
        subscriber = self._subscribe_queue(stack.outputs["AlertTopicArn"])
        outcome = self._spot_warning(self.builder, ACCOUNT, subscriber, wait_seconds)
        self.timings["notice"] = outcome.seconds
        return outcome

    def member_session(self) -> boto3.session.Session:
        """The member account's administrator (LocalStack: the access key id is the account id). Only the rehearsal
        uses it, to deploy member/template.yaml and seed the account; the hub's function gets in through the role."""
        return boto3.session.Session(
            aws_access_key_id=MEMBER_ACCOUNT, aws_secret_access_key="local", region_name=REGION
        )

    def member_client(self, service: str):
        return self.member_session().client(service, endpoint_url=self.emulator.endpoint)

    def deploy_member(self, stack: DeployedStack, wait_seconds: float = MEMBER_STACK_WAIT_SECONDS) -> MemberStack:
        """member/template.yaml into MEMBER_ACCOUNT as a StackSet instance would be (plain CloudFormation, so no SAM
        CLI): its parameters are the hub stack's outputs (the role and hook names are constants of both templates)."""
        parameters = {
            "HubEventBusArn": stack.outputs["HubEventBusArn"],
            "HubHandlerRoleArn": stack.outputs["InterruptionHandlerRoleArn"],
        }
        cloudformation = self.member_client("cloudformation")
        started = time.perf_counter()
        cloudformation.create_stack(
            StackName=MEMBER_STACK,
            TemplateBody=MEMBER_TEMPLATE.read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],  # the member role has a name (the hub assumes it by name)
        )
        deadline = time.monotonic() + wait_seconds
        while True:
            status = cloudformation.describe_stacks(StackName=MEMBER_STACK)["Stacks"][0]["StackStatus"]
            if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
                break
            time.sleep(1)
        seconds = time.perf_counter() - started
        self.timings["member_deploy"] = seconds
        status, resources, outputs, parameters = _described(cloudformation, MEMBER_STACK)
        return MemberStack(status=status, resources=resources, outputs=outputs, parameters=parameters, seconds=seconds)

    @property
    def member_builder(self) -> AccountBuilder:
        """One network in the member account for what the rehearsal seeds there."""
        if self._member_builder is None:
            self._member_builder = AccountBuilder(self.member_session(), endpoint_url=self.emulator.endpoint).network()
        return self._member_builder

    def member_interrupt(self, stack: DeployedStack, wait_seconds: float = WAIT_SECONDS) -> NoticeOutcome:
        """A Spot warning on the member's default bus, for a tagged instance of the member account: forwarded to the
        hub's bus by the member stack's rule and drained in the member account by the hub's function."""
        subscriber = self._subscribe_queue(stack.outputs["AlertTopicArn"], "rehearsal-member-subscriber")
        outcome = self._spot_warning(self.member_builder, MEMBER_ACCOUNT, subscriber, wait_seconds)
        self.timings["member_notice"] = outcome.seconds
        return outcome

    def _spot_warning(
        self, builder: AccountBuilder, account: str, subscriber: str, wait_seconds: float
    ) -> NoticeOutcome:
        """In `account` (builder's): a tagged Spot instance and a bystander in a target group; the victim's
        interruption warning on that account's default bus; wait until it is deregistered and its alert is in
        `subscriber`."""
        target_group = builder.target_group("rehearsal-web", "instance", delay=300)
        victim = builder.spot_instance("web-1", tags={"TargetGroupArn": target_group})
        bystander = builder.spot_instance("web-2", tags={"TargetGroupArn": target_group})
        builder.register(target_group, [victim.instance_id, bystander.instance_id], ports=[80])
        registered_before = builder.registered(target_group)

        notice = json.loads(NOTICE_EVENT.read_text())
        notice["detail"]["instance-id"] = victim.instance_id
        started = time.perf_counter()
        # A fresh notice, as EC2 sends it: EventBridge stamps the time (the deadline is that time + 120 s).
        builder.client("events").put_events(
            Entries=[
                {
                    "Source": notice["source"],
                    "DetailType": notice["detail-type"],
                    "Detail": json.dumps(notice["detail"]),
                    "Resources": [f"arn:aws:ec2:{REGION}:{account}:instance/{victim.instance_id}"],
                    "Time": datetime.now(UTC),
                }
            ]
        )
        alert = None
        registered_after = registered_before
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            registered_after = builder.registered(target_group)
            alert = alert or self._alert_for(subscriber, victim.instance_id)
            if alert and not _registered(registered_after, victim.instance_id):
                break
            time.sleep(1)
        seconds = time.perf_counter() - started
        return NoticeOutcome(
            instance_id=victim.instance_id,
            target_group_arn=target_group,
            registered_before=registered_before,
            registered_after=registered_after,
            deregistration_delay_after=builder.deregistration_delay(target_group),
            alert=alert,
            seconds=seconds,
        )

    @property
    def builder(self) -> AccountBuilder:
        """One network (VPC, subnets) in the emulated account for everything the rehearsal seeds."""
        if self._builder is None:
            self._builder = AccountBuilder(self.session, endpoint_url=self.emulator.endpoint).network()
        return self._builder

    def lifecycle_action(self, stack: DeployedStack, wait_seconds: float = LIFECYCLE_WAIT_SECONDS) -> LifecycleOutcome:
        """Seed an Auto Scaling group with the stack's terminate hook, its instances in an attached target group, send
        a terminate lifecycle action for one, wait until it is drained and the action completed or waiting with a
        follow-up delayed (the lifecycle step never completes at once what is still draining)."""
        builder = self.builder
        hook = template_constant("Names", "LifecycleHook")
        notice = json.loads(LIFECYCLE_EVENT.read_text())
        group = "rehearsal-asg"
        target_group = builder.target_group("rehearsal-asg-web", "instance", delay=60)
        victim, other = builder.auto_scaling_group(group, [target_group], size=2)
        builder.lifecycle_hook(group, hook)
        builder.register(target_group, [victim, other], ports=[80])
        registered_before = builder.registered(target_group)
        subscriber = self._subscribe_queue(stack.outputs["AlertTopicArn"], "rehearsal-lifecycle-subscriber")
        token = str(uuid.uuid4())  # 36 characters, as Auto Scaling's
        detail = {
            **notice["detail"],
            "LifecycleActionToken": token,
            "AutoScalingGroupName": group,
            "LifecycleHookName": hook,
            "EC2InstanceId": victim,
        }
        group_arn = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
            "AutoScalingGroups"
        ][0]["AutoScalingGroupARN"]
        started = time.perf_counter()
        self.client("events").put_events(
            Entries=[
                {
                    "Source": notice["source"],
                    "DetailType": notice["detail-type"],
                    "Detail": json.dumps(detail),
                    "Resources": [group_arn],
                    "Time": datetime.now(UTC),  # the hook's timeouts run from it
                }
            ]
        )
        alert, completed, delayed = None, False, 0
        registered_after = registered_before
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            registered_after = builder.registered(target_group)
            alert = alert or self._alert_for(subscriber, victim)
            delayed = max(delayed, self._delayed(stack.outputs["NoticeQueueUrl"]))
            completed = self.lifecycle_completed(group, hook, token, victim)
            if completed and alert and not _registered(registered_after, victim):
                break
            time.sleep(2)
        seconds = time.perf_counter() - started
        self.timings["lifecycle"] = seconds
        return LifecycleOutcome(
            group=group,
            hook=hook,
            token=token,
            instance_id=victim,
            target_group_arn=target_group,
            registered_before=registered_before,
            registered_after=registered_after,
            completed=completed,
            follow_ups_delayed=delayed,
            alert=alert,
            seconds=seconds,
        )

    def lifecycle_completed(self, group: str, hook: str, token: str, instance_id: str) -> bool:
        """True once the action is no longer active: a heartbeat for it is refused, as AWS refuses it. (A heartbeat
        for an active action only extends it; completing it to find out would do the function's work.)"""
        autoscaling = self.client("autoscaling")
        try:
            autoscaling.record_lifecycle_action_heartbeat(
                AutoScalingGroupName=group, LifecycleHookName=hook, LifecycleActionToken=token, InstanceId=instance_id
            )
        except autoscaling.exceptions.ClientError as refused:
            if "No active Lifecycle Action" in str(refused):
                return True
            raise
        return False

    def _delayed(self, queue_url: str) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesDelayed"])

    def _alert_for(self, queue_url: str, instance_id: str) -> dict | None:
        sqs = self.client("sqs")
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in messages.get("Messages", []):
            envelope = json.loads(message["Body"])
            envelope["document"] = json.loads(envelope["Message"])  # the "default" key of the JSON message structure
            if envelope["document"].get("instanceId") == instance_id:
                return envelope
        return None

    def _subscribe_queue(self, topic_arn: str, name: str = "rehearsal-alert-subscriber") -> str:
        sqs = self.client("sqs")
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return queue_url

    def function_logs(self, function_name: str, limit: int = 60) -> str:
        """The deployed function's log lines in the emulated CloudWatch Logs (shown when the notice is not handled)."""
        logs = self.client("logs")
        group = f"/aws/lambda/{function_name}"
        try:
            events = logs.filter_log_events(logGroupName=group, limit=limit)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return f"(no log group {group})"
        return "\n".join(e["message"].rstrip() for e in events)


@contextmanager
def emulated_account(work_dir: Path) -> Iterator[Rehearsal]:
    """Install (cached) and start the emulated account; stop it, and the containers it started, afterwards.

    Raises DeployUnavailable (outside CI) or RuntimeUnavailable / LocalStackUnavailable (in CI) when a piece is
    missing; sam_local.ensure_runtime decides for Docker and the image exactly as it does for the e2e suite.
    """
    started = time.perf_counter()
    runtime, missing = sam_local.ensure_runtime(work_dir)
    if runtime is None:
        raise DeployUnavailable(missing)
    try:
        installation = localstack.install()
    except localstack.LocalStackUnavailable as failed:
        if sam_local.in_ci():
            raise
        raise DeployUnavailable(str(failed)) from None
    timings = {"install": time.perf_counter() - started}
    started = time.perf_counter()
    emulator = localstack.start(installation, work_dir / "localstack", sam_local.BASE_IMAGE)
    timings["start"] = time.perf_counter() - started
    try:
        yield Rehearsal(runtime, emulator, work_dir, timings)
    finally:
        emulator.stop()


def summary_line(
    stack: DeployedStack | None,
    outcome: NoticeOutcome | None,
    timings: dict[str, float],
    lifecycle: LifecycleOutcome | None = None,
    member_stack: MemberStack | None = None,
    member_outcome: NoticeOutcome | None = None,
) -> str:
    status = stack.status if stack else "NONE"
    created = len(stack.created) if stack else 0
    expected = len(stack.expected.resources) if stack else 0
    outputs = len(stack.outputs) if stack else 0
    drained = int(bool(outcome and outcome.drained))
    alert = int(bool(outcome and outcome.alert))
    deploy_s = timings.get("deploy", 0.0)
    return (
        f"DEPLOY stack={status} resources={created}/{expected} outputs={outputs} drained={drained} alert={alert} "
        f"deploy_s={deploy_s:.0f} lifecycle={int(bool(lifecycle and lifecycle.handled))} "
        f"member_stack={member_stack.status if member_stack else 'NONE'} "
        f"member_drained={int(bool(member_outcome and member_outcome.drained))} "
        f"member_alert={int(member_alert_names_the_member(member_outcome))}"
    )


def member_alert_names_the_member(outcome: NoticeOutcome | None) -> bool:
    """The alert for the member's instance arrived and says whose it is (the account_id message attribute)."""
    if not (outcome and outcome.alert):
        return False
    attributes = outcome.alert.get("MessageAttributes", {})
    return attributes.get("account_id", {}).get("Value") == MEMBER_ACCOUNT


def succeeded(
    stack: DeployedStack | None,
    outcome: NoticeOutcome | None,
    lifecycle: LifecycleOutcome | None = None,
    member_stack: MemberStack | None = None,
    member_outcome: NoticeOutcome | None = None,
) -> bool:
    return bool(
        stack
        and stack.status == "CREATE_COMPLETE"
        and not stack.missing()
        and sorted(stack.outputs) == stack.expected.outputs
        and outcome
        and outcome.drained
        and outcome.alert
        and lifecycle
        and lifecycle.handled
        and member_stack
        and member_stack.status == "CREATE_COMPLETE"
        and member_outcome
        and member_outcome.drained
        and member_alert_names_the_member(member_outcome)
    )


def _print_stack(stack: DeployedStack) -> None:
    print(f"\nStack {STACK}: {stack.status}")
    for r in sorted(stack.resources, key=lambda r: r["LogicalResourceId"]):
        print(f"  {r['LogicalResourceId']:<42} {r['ResourceType']:<36} {r['ResourceStatus']}")
    if stack.missing():
        print(f"  not created: {', '.join(stack.missing())}")
    if stack.not_really_created:
        print(f"  reported complete, but no provider created them: {', '.join(sorted(stack.not_really_created))}")
    print("Outputs:")
    for key, value in sorted(stack.outputs.items()):
        print(f"  {key:<34} {value}")


def _print_outcome(outcome: NoticeOutcome, where: str = "") -> None:
    print(f"\nInterruption warning for {outcome.instance_id}{where}, handled in {outcome.seconds:.1f} s")
    print(f"  target group {outcome.target_group_arn}")
    print(f"  registered before: {', '.join(outcome.registered_before)}")
    print(f"  registered after:  {', '.join(outcome.registered_after) or '(none)'}")
    print(f"  deregistration delay after: {outcome.deregistration_delay_after} s")
    if outcome.alert:
        print(
            f"\nAlert received by the queue subscribed to the alert topic:\n  Subject: {outcome.alert.get('Subject')}"
        )
        attributes = {k: v["Value"] for k, v in outcome.alert.get("MessageAttributes", {}).items()}
        print("  message attributes: " + json.dumps(attributes))
        print("  " + json.dumps(outcome.alert["document"], indent=2).replace("\n", "\n  "))
    else:
        print("\nNo alert reached the subscriber queue.")


def _print_member_stack(member: MemberStack) -> None:
    print(f"\nMember stack {MEMBER_STACK} in account {MEMBER_ACCOUNT}: {member.status} ({member.seconds:.0f} s)")
    for r in sorted(member.resources, key=lambda r: r["LogicalResourceId"]):
        print(f"  {r['LogicalResourceId']:<42} {r['ResourceType']:<36} {r['ResourceStatus']}")
    for key, value in sorted(member.outputs.items()):
        print(f"  {key:<34} {value}")


def _print_lifecycle(lifecycle: LifecycleOutcome) -> None:
    print(
        f"\nLifecycle action of {lifecycle.instance_id} (group {lifecycle.group}, hook {lifecycle.hook}, token "
        f"{lifecycle.token}), looked at for {lifecycle.seconds:.1f} s"
    )
    print(f"  target group attached to the group {lifecycle.target_group_arn}")
    print(f"  registered before: {', '.join(lifecycle.registered_before)}")
    print(f"  registered after:  {', '.join(lifecycle.registered_after) or '(none)'}")
    state = "completed" if lifecycle.completed else "still active (waiting for the drain)"
    print(f"  lifecycle action: {state}; follow-ups delayed on the notice queue: {lifecycle.follow_ups_delayed}")
    if lifecycle.alert:
        document = lifecycle.alert["document"]
        print(f"  alert: {lifecycle.alert.get('Subject')}")
        print("  lifecycleAction: " + json.dumps(document.get("lifecycleAction")))
    else:
        print("  no alert for it reached the subscriber queue")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, help="where LocalStack keeps its state (default: a temporary dir)")
    args = parser.parse_args(argv)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="deploy-local-"))
    stack = outcome = lifecycle = member_stack = member_outcome = None
    timings: dict[str, float] = {}
    try:
        with emulated_account(work_dir) as rehearsal:
            timings = rehearsal.timings
            print(f"emulated account ready: install {timings['install']:.0f} s, start {timings['start']:.0f} s")
            rehearsal.build()
            print(f"sam build --config-env {CONFIG_ENV}: {timings['build']:.0f} s")
            stack = rehearsal.deploy()
            print(f"sam deploy --config-env {CONFIG_ENV}: {timings['deploy']:.0f} s")
            _print_stack(stack)
            outcome = rehearsal.interrupt(stack)
            _print_outcome(outcome)
            if not (outcome.drained and outcome.alert):
                print(
                    "\nThe function's log:\n"
                    + rehearsal.function_logs(stack.outputs["InterruptionHandlerFunctionName"])
                )
            lifecycle = rehearsal.lifecycle_action(stack)
            _print_lifecycle(lifecycle)
            if not lifecycle.handled:
                print(
                    "\nThe function's log:\n"
                    + rehearsal.function_logs(stack.outputs["InterruptionHandlerFunctionName"])
                )
            member_stack = rehearsal.deploy_member(stack)
            _print_member_stack(member_stack)
            member_outcome = rehearsal.member_interrupt(stack)
            _print_outcome(member_outcome, f" in member account {MEMBER_ACCOUNT} (forwarded to the hub)")
            if not (member_outcome.drained and member_alert_names_the_member(member_outcome)):
                print(
                    "\nThe function's log:\n"
                    + rehearsal.function_logs(stack.outputs["InterruptionHandlerFunctionName"])
                )
    except DeployUnavailable as missing:
        print(f"deploy-local cannot run here: {missing}", file=sys.stderr)
        return 2
    except (RuntimeError, subprocess.TimeoutExpired) as failed:  # a step failed: say which, still print the summary
        print(f"\ndeploy-local failed: {failed}", file=sys.stderr)
    print("\ntimes: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()))
    ok = succeeded(stack, outcome, lifecycle, member_stack, member_outcome)
    if not ok:
        print(f"kept for a look: {work_dir} (LocalStack's log: localstack/localstack.log)")
    print(summary_line(stack, outcome, timings, lifecycle, member_stack, member_outcome))
    if ok and args.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
