"""Second reading of issue 21's change: cases the change does not hold, each asserting the outcome the issue and
docs/delivery-guarantees.md promise. Faults at botocore's boundary (tests/support/faults.py), moto account."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import boto3
from spot_handler.aws import AccountClients
from spot_handler.budget import TimeBudget

from local import moto_fidelity
from local.account import AccountBuilder, account_session, create_member_role
from tests.conftest import REGION
from tests.support.faults import ELBV2, Fault, FaultInjector, no_backoff
from tests.support.followups import (
    HOOK,
    batch,
    completions,
    deadline_look,
    fleet_with_hook,
    follow_ups,
    lifecycle_event,
    spot_event,
)
from tests.support.organization import (
    HUB,
    HUB_ROLE_ARN,
    MEMBER_A,
    MEMBER_B,
    Member,
    by_account_and_region,
    invoke,
    organization_with_session,
    spot_notice,
)

# ---- a lifecycle action completed while a target group still drains ------------------------------------------------


def test_a_target_group_unreadable_once_is_still_waited_for_by_the_later_looks(guarded, monkeypatch):
    # Given a lifecycle action whose instance drains from two target groups: "slow" (600 s) and "fast" (60 s)
    no_backoff(monkeypatch)
    b = guarded.builder
    slow = b.target_group("slow", "instance", delay=600)
    fast = b.target_group("fast", "instance", delay=60)
    members = b.auto_scaling_group("web-asg", [slow, fast], size=2)
    b.lifecycle_hook("web-asg", HOOK, heartbeat_timeout=300)
    b.register(slow, members, ports=[80])
    b.register(fast, members, ports=[80])
    victim = members[0]
    event = lifecycle_event(victim, "web-asg")
    token = event["detail"]["LifecycleActionToken"]
    guarded.invoke(batch(event), max_deregistration_delay=None)
    guarded.alerts()

    # When its first look cannot read the slow group's health once (throttled past the retries), the fast one drains
    slow_name = slow.split(":")[-1]
    injector = FaultInjector(
        [Fault(ELBV2, "DescribeTargetHealth", "throttle", only_if=lambda r: slow_name in r["body"])]
    ).install(guarded.clients.elbv2)
    guarded.invoke(batch(*follow_ups(guarded)))
    assert injector.injected, "the fault must have been met"
    injector.faults.clear()

    # And the next look comes once the fast group's 60 s are over, the slow group still draining
    moto_fidelity.advance(61)
    assert b.target_states(slow)[f"{victim}:80"] == "draining"
    guarded.invoke(batch(*follow_ups(guarded)))

    # Then the action is not completed while the instance still drains from the slow group
    assert b.target_states(slow)[f"{victim}:80"] == "draining"
    assert "result" not in completions().get(token, {}), "completed while a target group still drains"


def test_a_lifecycle_unconfirmed_alert_is_not_sent_for_an_action_that_was_not_completed(guarded, monkeypatch):
    # Given a lifecycle action whose target health cannot be read (AccessDenied), past the longest delay plus margin
    no_backoff(monkeypatch)
    _, victim, _ = fleet_with_hook(guarded, delay=60)
    event = lifecycle_event(victim, "web-asg")
    token = event["detail"]["LifecycleActionToken"]
    guarded.invoke(batch(event))
    guarded.alerts()
    FaultInjector([Fault(ELBV2, "DescribeTargetHealth", "access-denied")]).install(guarded.clients.elbv2)
    # And Auto Scaling throttling CompleteLifecycleAction past the retries (a transient refusal)
    FaultInjector([Fault("auto-scaling", "CompleteLifecycleAction", "throttle")]).install(guarded.clients.autoscaling)
    [body] = follow_ups(guarded)
    check = body["checks"][0]
    drained = datetime.fromisoformat(check["deregistered_at"].replace("Z", "+00:00"))
    check["deregistered_at"] = (drained - timedelta(seconds=60 + 31)).isoformat()

    # When its look comes back
    guarded.invoke(batch(body))

    # Then no alert says the action was completed, since it was not
    assert "result" not in completions().get(token, {})
    said_completed = [a for a in guarded.alerts() if a.attributes["outcome"] == "lifecycle-unconfirmed"]
    assert said_completed == [], [a.document["reasons"] for a in said_completed]


# ---- a deadline look lost silently ----------------------------------------------------------------------------------


def test_a_drain_retried_then_unreadable_once_is_still_looked_at_before_its_deadline(guarded, monkeypatch):
    # Given a Spot warning whose DeregisterTargets is throttled past its retries (a 120 s delay, left as it is)
    no_backoff(monkeypatch)
    b = guarded.builder
    arn = b.target_group("slow", "instance", delay=120)
    victim = b.spot_instance("slow-1", tags={"TargetGroupArn": arn}).instance_id
    b.register(arn, [victim], ports=[80])
    outage = {"on": True}
    FaultInjector([Fault(ELBV2, "DeregisterTargets", "throttle", active=lambda: outage["on"])]).install(
        guarded.clients.elbv2
    )
    guarded.invoke(batch(spot_event(victim)), max_deregistration_delay=None)
    guarded.alerts()
    [retry] = follow_ups(guarded)

    # When its retry look drains it, but the read of what still drains is throttled (the instance once deregistered)
    outage["on"] = False
    FaultInjector([Fault(ELBV2, "DescribeTargetHealth", "throttle", active=lambda: b.registered(arn) == [])]).install(
        guarded.clients.elbv2
    )
    guarded.invoke(batch(retry), max_deregistration_delay=None)
    assert b.registered(arn) == [] and b.target_states(arn) == {f"{victim}:80": "draining"}

    # Then the 120 s drain, which outlasts the deadline, is still looked at before the deadline (or said now)
    assert follow_ups(guarded) or guarded.alerts(), "the chain ended: no look at the deadline, nothing said"


# ---- the reserve for the owned steps does not hold when the idempotency table hangs ----------------------------------


def with_latency(*clients, seconds: float = 0.05) -> None:
    """Every request takes a network round trip, as at AWS (moto in-process answers at once, holding the GIL)."""
    for client in clients:
        client.meta.events.register("before-send", lambda **_: time.sleep(seconds))


def test_a_failed_drain_is_carried_by_a_look_while_the_idempotency_table_hangs(guarded, monkeypatch):
    # Given DeregisterTargets throttled past its retries and the idempotency table's claim hanging past the budget
    no_backoff(monkeypatch)
    _, victim = guarded.builder.instance_in_target_group("web", "web-1")
    FaultInjector([Fault(ELBV2, "DeregisterTargets", "throttle")]).install(guarded.clients.elbv2)
    hung = FaultInjector([Fault("dynamodb", "TransactWriteItems", "hang")]).install(guarded.clients.dynamodb)
    with_latency(guarded.clients.sqs)
    try:
        guarded.invoke(batch(spot_event(victim.instance_id)), budget=TimeBudget.start(work_seconds=3))
    finally:
        hung.release.set()

    # Then (docs: "the look that carries a failed drain is always asked for") the alert does not say the drain is
    # not looked at again, and a look is there to drain it again
    [alert] = guarded.alerts()
    assert not any("follow-up not scheduled" in f for f in alert.document["failures"]), alert.document["failures"]
    assert follow_ups(guarded)


def test_a_lifecycle_action_whose_drain_failed_is_followed_while_the_idempotency_table_hangs(guarded, monkeypatch):
    # Given a lifecycle action, DeregisterTargets throttled past its retries, the claim transaction hanging
    no_backoff(monkeypatch)
    arn, victim, _ = fleet_with_hook(guarded)
    FaultInjector([Fault(ELBV2, "DeregisterTargets", "throttle")]).install(guarded.clients.elbv2)
    hung = FaultInjector([Fault("dynamodb", "TransactWriteItems", "hang")]).install(guarded.clients.dynamodb)
    with_latency(guarded.clients.sqs, guarded.clients.autoscaling)
    event = lifecycle_event(victim, "web-asg")
    token = event["detail"]["LifecycleActionToken"]
    try:
        guarded.invoke(batch(event), budget=TimeBudget.start(work_seconds=3))
    finally:
        hung.release.set()

    # Then the action is not completed (the instance still takes traffic) and a look will drain and complete it
    assert f"{victim}:80" in guarded.builder.registered(arn)
    assert "result" not in completions().get(token, {})
    assert follow_ups(guarded), "no look: the lifecycle action is left to the hook's default result"


# ---- one look that raises fails every look of its account and region ------------------------------------------------


def test_a_look_that_cannot_be_acted_on_does_not_fail_the_other_looks_of_its_account(guarded):
    # Given a lifecycle action waiting for its drain, whose look is due
    _, victim, _ = fleet_with_hook(guarded, delay=600)
    event = lifecycle_event(victim, "web-asg")
    guarded.invoke(batch(event))
    [lifecycle] = follow_ups(guarded)
    # And, in the same batch, a look that parses but whose deadline no arithmetic can use (year 1)
    _, odd = deadline_look(guarded)
    odd["checks"][0]["deadline"] = "0001-01-01T00:00:00+00:00"

    report = guarded.invoke(batch(lifecycle, odd, ids=["lifecycle", "odd"]))

    # Then the lifecycle look is done: its record is not failed, and its chain goes on
    assert "lifecycle" not in report.batch_item_failures, report.follow_ups.failures
    assert any(c["kind"] == "lifecycle" for body in follow_ups(guarded) for c in body["checks"])


# ---- looks when the idempotency table is down: an alert twice, unmarked ----------------------------------------------


def test_a_look_delivered_twice_while_the_table_is_down_alerts_once_or_says_it_may_repeat(guarded, monkeypatch):
    no_backoff(monkeypatch)
    _, body = deadline_look(guarded)
    FaultInjector([Fault("dynamodb", "TransactWriteItems", "5xx")]).install(guarded.clients.dynamodb)

    guarded.invoke(batch(body, ids=["m-1"]))
    guarded.invoke(batch(body, ids=["m-2"]))

    alerts = guarded.alerts()
    assert len(alerts) == 1 or all(a.document.get("possiblyRepeated") for a in alerts), [
        a.attributes["outcome"] for a in alerts
    ]


# ---- member roles: a transient STS error remembered as a refusal; four hung roles starve a fifth ---------------------


def _member_b(account):
    session = boto3.session.Session(region_name=REGION)
    create_member_role(account_session(MEMBER_B, REGION), HUB_ROLE_ARN)
    builder = AccountBuilder(account_session(MEMBER_B, REGION)).network()
    arn = builder.target_group("web-b", "instance", delay=60)
    victim = builder.spot_instance("web-1", {"TargetGroupArn": arn}).instance_id
    builder.register(arn, [victim], ports=[80])
    accounts = AccountClients(account.clients, HUB, "SpotInterruptionHandlerMember", session=session)
    return Member(MEMBER_B, REGION, builder, arn, victim, victim), accounts, session


def test_sts_throttled_once_does_not_keep_the_accounts_looks_from_draining(account, monkeypatch):
    # Given member B, and STS throttling its AssumeRole past the retries for a moment
    no_backoff(monkeypatch)
    b, accounts, session = _member_b(account)
    outage = {"on": True}
    FaultInjector([Fault("sts", "AssumeRole", "throttle", active=lambda: outage["on"])]).install_on_session(session)
    invoke(account, accounts, spot_notice(MEMBER_B, REGION, b.victim))
    assert b.builder.registered(b.target_group) == [f"{b.victim}:80"]
    bodies = follow_ups(account)
    assert bodies, "a throttled role is not permanent: its drain is looked at again"

    # When the look comes back seconds later, STS answering again
    outage["on"] = False
    invoke(account, accounts, *bodies)

    # Then B's instance is drained (a throttle is not a refusal worth remembering for 60 s)
    assert b.builder.registered(b.target_group) == []


def test_four_member_roles_that_hang_do_not_starve_a_fifth_account(account):
    # Given four member accounts whose roles hang (their AssumeRole still running), and member B whose role answers
    b, accounts, session = _member_b(account)
    hanging = ["555555555551", "555555555552", "555555555553", "555555555554"]
    stuck = FaultInjector(
        [Fault("sts", "AssumeRole", "hang", only_if=lambda r: any(f"::{h}:role/" in r["body"] for h in hanging))]
    ).install_on_session(session)
    members = ",".join([*hanging, MEMBER_B])
    try:
        for h in hanging:  # notices of each (instances it never reaches): each waits its budget and gives up
            accounts.for_account_region(h, REGION, TimeBudget.start(work_seconds=0.5))
        threading.Event().wait(0.2)

        # When the next batch of this execution environment brings member B's notice
        report = invoke(
            account,
            accounts,
            spot_notice(MEMBER_B, REGION, b.victim),
            member_account_ids=members,
            budget=TimeBudget.start(work_seconds=3),
        )
    finally:
        stuck.release.set()

    # Then B's instance is drained: other accounts' roles cost only their own notices
    assert report.batch_item_failures == []
    assert b.builder.registered(b.target_group) == [], account.alerts()[0].document["failures"]


# ---- the answer's bound when the idempotency table hangs ------------------------------------------------------------


def test_the_handler_answers_by_its_tail_while_the_idempotency_table_hangs(guarded):
    # Given an idempotency table that does not answer at all (every DynamoDB call hangs)
    from spot_handler.invocation import TAIL_SECONDS

    _, victim = guarded.builder.instance_in_target_group("web", "web-1")
    injector = FaultInjector([Fault("dynamodb", "*", "hang")]).install(guarded.clients.dynamodb)
    try:
        started = time.monotonic()
        report = guarded.invoke(batch(spot_event(victim.instance_id)), budget=TimeBudget.start())
        took = time.monotonic() - started
    finally:
        injector.release.set()

    # Then the alert is out (marked possibly repeated) and the handler answered by its tail (docs: "the invocation
    # never runs out of time with its alerts out"), not after waiting for the claim and then for writing it again
    [alert] = guarded.alerts()
    assert alert.document["possiblyRepeated"] is True and report.batch_item_failures == []
    assert took < TAIL_SECONDS + 2, f"answered after {took:.1f} s"


# ---- a look sent again while its claim could not be released is taken for a duplicate -------------------------------


def test_a_look_sent_again_after_its_claim_could_not_be_released_still_continues_its_chain(guarded, monkeypatch):
    # Given a lifecycle action waiting for a long drain, whose look is due
    no_backoff(monkeypatch)
    _, victim, _ = fleet_with_hook(guarded, delay=600)
    event = lifecycle_event(victim, "web-asg")
    token = event["detail"]["LifecycleActionToken"]
    guarded.invoke(batch(event))
    [body] = follow_ups(guarded)
    # And SQS refusing the first SendMessageBatch (the next look), then answering (the look sent again)
    sends = {"n": 0}

    def first_send_fails() -> bool:
        sends["n"] += 1
        return sends["n"] <= 4  # every attempt of the first call

    FaultInjector([Fault("sqs", "SendMessageBatch", "5xx", active=first_send_fails)]).install(guarded.clients.sqs)
    # And DynamoDB failing the release of the look's claim (a Delete in the transaction)
    FaultInjector([Fault("dynamodb", "TransactWriteItems", "5xx", only_if=lambda r: '"Delete"' in r["body"])]).install(
        guarded.clients.dynamodb
    )

    # When the look comes back: its next look is not sent, so it is sent again as itself
    report = guarded.invoke(batch(body, ids=["first"]))
    assert report.batch_item_failures == [] and len(report.follow_ups.resent) == 1
    [again] = follow_ups(guarded)

    # When the look sent again comes back
    report = guarded.invoke(batch(again, ids=["again"]))

    # Then the chain goes on: a next look waits in the queue, the action is still waited for (not silently dropped)
    assert "result" not in completions().get(token, {})
    assert follow_ups(guarded), f"chain ended silently: duplicates={report.follow_ups.duplicates}"


# ---- a look's alert while the idempotency table hangs --------------------------------------------------------------


def test_a_drain_unfinished_alert_goes_out_while_the_idempotency_table_hangs(guarded, monkeypatch):
    # Given a look that finds the drain unfinished at the deadline, and a claim transaction that hangs
    from spot_handler import invocation

    monkeypatch.setattr(invocation, "TAIL_SECONDS", 4.0)
    _, body = deadline_look(guarded)
    hung = FaultInjector([Fault("dynamodb", "TransactWriteItems", "hang")]).install(guarded.clients.dynamodb)
    try:
        guarded.invoke(batch(body), budget=TimeBudget.start())
    finally:
        hung.release.set()

    # Then its alert goes out now, as a notice's does (marked as possibly repeated): the deadline is now
    [alert] = guarded.alerts()
    assert alert.attributes["outcome"] == "drain-unfinished"


# ---- heartbeat margin smaller than the time a look waits behind the notices of its batch -----------------------------


def test_a_heartbeat_due_at_its_margin_is_recorded_before_the_hook_times_out_behind_a_slow_batch(guarded):
    # Given a lifecycle look that arrives as late as its schedule allows: EXPIRY_MARGIN_SECONDS before the heartbeat
    # timeout (the batching window already spent)
    from spot_handler.followups.looks import EXPIRY_MARGIN_SECONDS

    _, victim, _ = fleet_with_hook(guarded, delay=600)
    guarded.invoke(batch(lifecycle_event(victim, "web-asg")))
    [look] = follow_ups(guarded)
    expires = datetime.now(UTC) + timedelta(seconds=EXPIRY_MARGIN_SECONDS)
    look["checks"][0]["heartbeat_expires"] = expires.isoformat()
    # And, in its batch, a Spot notice whose target group hangs (the drain uses its budget) and an SNS answering in 3 s
    _, other = guarded.builder.instance_in_target_group("slow-tg", "web-9")
    hung = FaultInjector([Fault(ELBV2, "DescribeTargetHealth", "hang", only_if=lambda r: "slow-tg" in r["body"])])
    hung.install(guarded.clients.elbv2)
    guarded.clients.sns.meta.events.register("before-send.sns.PublishBatch", lambda **_: time.sleep(3))
    beats = []
    guarded.clients.autoscaling.meta.events.register(
        "before-call.auto-scaling.RecordLifecycleActionHeartbeat", lambda **_: beats.append(datetime.now(UTC))
    )
    try:
        guarded.invoke(batch(spot_event(other.instance_id), look), budget=TimeBudget.start())
    finally:
        hung.release.set()

    # Then the heartbeat went out before the hook's heartbeat timeout (else Auto Scaling applies its default result
    # and terminates the instance while it drains)
    assert beats, "no heartbeat"
    assert beats[0] < expires, f"heartbeat {(beats[0] - expires).total_seconds():.1f} s after the timeout"


def test_a_role_that_answers_late_still_gets_its_look_when_sqs_takes_a_round_trip(account):
    # Given member A's role answering only after the group's budget, and SQS answering in 50 ms as at AWS (moto
    # in-process answers at once: test_organization's version of this test passes only because of that)
    members, accounts, session = organization_with_session(account)
    only_a = lambda request: f"::{MEMBER_A}:role/" in request["body"]  # noqa: E731
    slow = FaultInjector([Fault("sts", "AssumeRole", "hang", only_if=only_a)]).install_on_session(session)
    with_latency(account.clients.sqs)
    a = members[(MEMBER_A, REGION)]
    threading.Timer(3, slow.release.set).start()
    try:
        invoke(account, accounts, spot_notice(MEMBER_A, REGION, a.victim), budget=TimeBudget.start(work_seconds=2))
    finally:
        slow.release.set()

    # Then A's alert does not say its drain is not looked at again, and the look is there
    failures = by_account_and_region(account.alerts())[(MEMBER_A, REGION)].document["failures"]
    assert not any("follow-up not scheduled" in f for f in failures), failures
    assert follow_ups(account)
