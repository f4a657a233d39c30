"""What the rehearsal reports: the DEPLOY line, whether it passed, and the tables printed for a person."""

from __future__ import annotations

import json

from local.rehearsal.accounts import MEMBER_ACCOUNT
from local.rehearsal.pollers import LifecycleOutcome, NoticeOutcome
from local.rehearsal.stacks import MEMBER_STACK, STACK, DeployedStack, MemberStack


def summary_line(
    stack: DeployedStack | None,
    outcome: NoticeOutcome | None,
    timings: dict[str, float],
    lifecycle: LifecycleOutcome | None = None,
    member_stack: MemberStack | None = None,
    member_outcome: NoticeOutcome | None = None,
) -> str:
    """The DEPLOY line that ends the run (its fields: local/deploy_local.py); NONE and 0 for a step not reached."""
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
    """The rehearsal passed: every resource created, every notice drained and alerted, the action handled."""
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


def print_stack(stack: DeployedStack) -> None:
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


def print_outcome(outcome: NoticeOutcome, where: str = "") -> None:
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


def print_member_stack(member: MemberStack) -> None:
    print(f"\nMember stack {MEMBER_STACK} in account {MEMBER_ACCOUNT}: {member.status} ({member.seconds:.0f} s)")
    for r in sorted(member.resources, key=lambda r: r["LogicalResourceId"]):
        print(f"  {r['LogicalResourceId']:<42} {r['ResourceType']:<36} {r['ResourceStatus']}")
    for key, value in sorted(member.outputs.items()):
        print(f"  {key:<34} {value}")


def print_lifecycle(lifecycle: LifecycleOutcome) -> None:
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
