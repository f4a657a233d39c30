"""The stacks of the rehearsal: `sam build` and `sam deploy --config-env local` (samconfig.toml) pointed at LocalStack,
member/template.yaml deployed into the member account, and what the emulated CloudFormation made of each."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from local import sam_local
from local.rehearsal.accounts import HUB_ACCOUNT, MEMBER_ACCOUNT, REGION, EmulatedAccount
from local.template_resources import ExpectedStack, expected_stack

STACK = "spot-interruption-handler"  # samconfig.toml [local.global.parameters]
CONFIG_ENV = "local"
MEMBER_STACK = "spot-interruption-member"
MEMBER_TEMPLATE = sam_local.ROOT / "member" / "template.yaml"
MEMBER_STACK_WAIT_SECONDS = 120
# A hub, with MEMBER_ACCOUNT as its member (its own account's notices are handled as in a single-account stack).
HUB_PARAMETERS = {"MemberAccountIds": MEMBER_ACCOUNT}

# What LocalStack logs when it marks a resource complete without a provider to create it.
_NO_PROVIDER = re.compile(r'No resource provider found for "(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)"')


@dataclass
class DescribedStack:
    """A stack as the emulated CloudFormation reports it."""

    status: str
    resources: list[dict]  # StackResourceSummaries, all pages
    outputs: dict[str, str]
    parameters: dict[str, str]


@dataclass
class DeployedStack(DescribedStack):
    """The hub stack `sam deploy` made, and what template.yaml asks for."""

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


def _comparable(logical_id: str, resource_type: str) -> str:
    # SAM names a layer version after a hash of its content: the built layer's hash differs from the one computed
    # from the source template here.
    if resource_type == "AWS::Lambda::LayerVersion":
        return re.sub(r"[0-9a-f]{10}$", "", logical_id)
    return logical_id


@dataclass
class MemberStack(DescribedStack):
    """member/template.yaml as the emulated CloudFormation created it in MEMBER_ACCOUNT."""

    seconds: float


def sam_build(runtime: sam_local.Runtime, endpoint: str, work_dir: Path) -> None:
    # The cloud's arm64, made this machine's architecture: LocalStack runs the function in a local container.
    template = sam_local.machine_template(work_dir)
    _sam(runtime, endpoint, "build", "--template-file", str(template), "--base-dir", str(sam_local.ROOT), timeout=900)


def sam_deploy(runtime: sam_local.Runtime, endpoint: str) -> None:
    """`sam deploy --config-env local` of the hub stack (HUB_PARAMETERS over samconfig.toml's)."""
    overrides = " ".join(f"{k}={v}" for k, v in HUB_PARAMETERS.items())
    _sam(runtime, endpoint, "deploy", "--parameter-overrides", overrides, timeout=900)


def deployed_stack(hub: EmulatedAccount, emulator_log: Path) -> DeployedStack:
    """What the emulated CloudFormation made of the stack, and what template.yaml asks for with its parameters."""
    return DeployedStack(
        **vars(_described(hub.client("cloudformation"), STACK)),
        expected=expected_stack(hub.session, STACK, HUB_PARAMETERS),
        not_really_created=set(_NO_PROVIDER.findall(emulator_log.read_text(errors="replace"))),
    )


def deploy_member_stack(
    member: EmulatedAccount, stack: DeployedStack, wait_seconds: float = MEMBER_STACK_WAIT_SECONDS
) -> MemberStack:
    """member/template.yaml into the member account as a StackSet instance would be (plain CloudFormation, so no SAM
    CLI): its parameters are the hub stack's outputs (the role and hook names are constants of both templates)."""
    parameters = {
        "HubEventBusArn": stack.outputs["HubEventBusArn"],
        "HubHandlerRoleArn": stack.outputs["InterruptionHandlerRoleArn"],
    }
    cloudformation = member.client("cloudformation")
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
    return MemberStack(**vars(_described(cloudformation, MEMBER_STACK)), seconds=seconds)


def _sam(runtime: sam_local.Runtime, endpoint: str, *args: str, timeout: int) -> subprocess.CompletedProcess[str]:
    environment = sam_local.sam_environment(runtime, REGION, sts_endpoint=endpoint)
    environment.update(
        AWS_ACCESS_KEY_ID=HUB_ACCOUNT,
        AWS_SECRET_ACCESS_KEY="local",
        AWS_ENDPOINT_URL=endpoint,  # every AWS call of the SAM CLI goes to the emulated account
    )
    command = [runtime.sam, *args, "--config-env", CONFIG_ENV]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=sam_local.ROOT, env=environment)
    if done.returncode != 0:
        output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        raise RuntimeError(f"sam {args[0]} failed (exit {done.returncode}):\n{output}")
    return done


def _described(cloudformation, name: str) -> DescribedStack:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    resources = [
        summary
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
        for summary in page["StackResourceSummaries"]
    ]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return DescribedStack(stack["StackStatus"], resources, outputs, parameters)
