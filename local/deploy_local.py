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
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from local import localstack, sam_local
from local.rehearsal import pollers, seeders, stacks
from local.rehearsal.accounts import HUB_ACCOUNT, MEMBER_ACCOUNT, EmulatedAccount
from local.rehearsal.pollers import LifecycleOutcome, NoticeOutcome
from local.rehearsal.report import (
    member_alert_names_the_member,
    print_lifecycle,
    print_member_stack,
    print_outcome,
    print_stack,
    succeeded,
    summary_line,
)
from local.rehearsal.stacks import CONFIG_ENV, DeployedStack, MemberStack


class DeployUnavailable(RuntimeError):
    """Something the rehearsal needs is missing and could not be installed here."""


@dataclass
class Rehearsal:
    """The emulated accounts (hub and member) on this machine, with the SAM CLI pointed at the hub: the steps of the
    rehearsal, in the order main() runs them, each timed."""

    runtime: sam_local.Runtime
    emulator: localstack.RunningLocalStack
    work_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
    hub: EmulatedAccount = field(init=False)
    member: EmulatedAccount = field(init=False)

    def __post_init__(self) -> None:
        self.hub = EmulatedAccount(HUB_ACCOUNT, self.emulator.endpoint)
        self.member = EmulatedAccount(MEMBER_ACCOUNT, self.emulator.endpoint)

    def client(self, service: str):
        """A client of the hub account, where the stack is deployed."""
        return self.hub.client(service)

    def member_client(self, service: str):
        return self.member.client(service)

    def build(self) -> None:
        started = time.perf_counter()
        stacks.sam_build(self.runtime, self.emulator.endpoint, self.work_dir)
        self.timings["build"] = time.perf_counter() - started

    def deploy(self) -> DeployedStack:
        """`sam deploy --config-env local` of a hub whose member is MEMBER_ACCOUNT, and what the emulator made of it."""
        started = time.perf_counter()
        stacks.sam_deploy(self.runtime, self.emulator.endpoint)
        self.timings["deploy"] = time.perf_counter() - started
        return stacks.deployed_stack(self.hub, self.emulator.log_path)

    def interrupt(self, stack: DeployedStack, wait_seconds: float = pollers.WAIT_SECONDS) -> NoticeOutcome:
        """Seed a tagged Spot instance in a target group, send its interruption warning, wait for the outcome."""
        subscriber = seeders.subscribe_queue(self.hub, stack.outputs["AlertTopicArn"], "rehearsal-alert-subscriber")
        outcome = self._spot_warning(self.hub, subscriber, wait_seconds)
        self.timings["notice"] = outcome.seconds
        return outcome

    def lifecycle_action(
        self, stack: DeployedStack, wait_seconds: float = pollers.LIFECYCLE_WAIT_SECONDS
    ) -> LifecycleOutcome:
        """Seed an Auto Scaling group with the stack's terminate hook, its instances in an attached target group, send
        a terminate lifecycle action for one, wait until it is drained and the action completed or waiting with a
        follow-up delayed."""
        fleet = seeders.seed_hook_fleet(self.hub.builder)
        subscriber = seeders.subscribe_queue(self.hub, stack.outputs["AlertTopicArn"], "rehearsal-lifecycle-subscriber")
        token = str(uuid.uuid4())  # 36 characters, as Auto Scaling's
        started = time.perf_counter()
        seeders.put_lifecycle_action(self.hub, fleet, token)
        outcome = pollers.wait_for_lifecycle_action(
            self.hub.builder,
            fleet,
            token,
            self.hub.client("sqs"),
            subscriber,
            stack.outputs["NoticeQueueUrl"],
            started,
            wait_seconds,
        )
        self.timings["lifecycle"] = outcome.seconds
        return outcome

    def deploy_member(
        self, stack: DeployedStack, wait_seconds: float = stacks.MEMBER_STACK_WAIT_SECONDS
    ) -> MemberStack:
        """member/template.yaml into the member account, wired to the hub stack's bus and role."""
        member_stack = stacks.deploy_member_stack(self.member, stack, wait_seconds)
        self.timings["member_deploy"] = member_stack.seconds
        return member_stack

    def member_interrupt(self, stack: DeployedStack, wait_seconds: float = pollers.WAIT_SECONDS) -> NoticeOutcome:
        """A Spot warning on the member's default bus, for a tagged instance of the member account: forwarded to the
        hub's bus by the member stack's rule and drained in the member account by the hub's function."""
        subscriber = seeders.subscribe_queue(self.hub, stack.outputs["AlertTopicArn"], "rehearsal-member-subscriber")
        outcome = self._spot_warning(self.member, subscriber, wait_seconds)
        self.timings["member_notice"] = outcome.seconds
        return outcome

    def _spot_warning(self, account: EmulatedAccount, subscriber: str, wait_seconds: float) -> NoticeOutcome:
        """In `account`: a tagged Spot instance and a bystander in a target group; the instance's interruption warning
        on that account's default bus; wait until it is deregistered and its alert is in `subscriber` (the hub's)."""
        seeded = seeders.seed_spot_instance(account.builder)
        started = time.perf_counter()
        seeders.put_spot_warning(account, seeded.instance_id)
        return pollers.wait_for_drain(
            account.builder, seeded, self.hub.client("sqs"), subscriber, started, wait_seconds
        )

    def lifecycle_completed(self, group: str, hook: str, token: str, instance_id: str) -> bool:
        """True once the hub's lifecycle action is no longer active (pollers.lifecycle_completed)."""
        return pollers.lifecycle_completed(self.client("autoscaling"), group, hook, token, instance_id)

    def function_logs(self, function_name: str, limit: int = 60) -> str:
        """The deployed function's log lines in the emulated CloudWatch Logs (shown when the notice is not handled)."""
        return pollers.function_logs(self.client("logs"), function_name, limit)


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
            print_stack(stack)
            outcome = rehearsal.interrupt(stack)
            print_outcome(outcome)
            if not (outcome.drained and outcome.alert):
                print(
                    "\nThe function's log:\n"
                    + rehearsal.function_logs(stack.outputs["InterruptionHandlerFunctionName"])
                )
            lifecycle = rehearsal.lifecycle_action(stack)
            print_lifecycle(lifecycle)
            if not lifecycle.handled:
                print(
                    "\nThe function's log:\n"
                    + rehearsal.function_logs(stack.outputs["InterruptionHandlerFunctionName"])
                )
            member_stack = rehearsal.deploy_member(stack)
            print_member_stack(member_stack)
            member_outcome = rehearsal.member_interrupt(stack)
            print_outcome(member_outcome, f" in member account {MEMBER_ACCOUNT} (forwarded to the hub)")
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
