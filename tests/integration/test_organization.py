"""Hub and spoke (issue 14): one hub handles notices of member accounts and regions through their member role.

Three moto accounts and two regions: the hub (moto's default account, us-east-2) and two members, each with
instances in us-east-2 and eu-west-1, plus a member whose role refuses the hub and an account that is no member.
Every member is seeded as its own administrator would (local/account.account_session); the handler reaches it only
through AssumeRole, which local/moto_fidelity.py makes refuse a missing role or one whose trust policy does not admit
the hub. Assertions are on the state of each account and on the alerts as subscribers receive them.
"""

from __future__ import annotations

import json

import boto3
import pytest
from spot_handler.aws import AccountClients

from local import moto_fidelity
from local.account import AccountBuilder, account_session, create_member_role
from tests.conftest import REGION
from tests.support.alerts import received_alerts
from tests.support.events import load_event
from tests.support.followups import IDEMPOTENCY_TABLE, follow_ups, lifecycle_event, now_iso
from tests.support.organization import (
    FOREIGN,
    HUB,
    HUB_ROLE_ARN,
    HUB_SETTINGS,
    MEMBER_A,
    MEMBER_B,
    OTHER_REGION,
    REFUSING,
    Member,
    by_account_and_region,
    invoke,
    organization_with_session,
    spot_notice,
)

HOOK = "spot-interruption-drain"


@pytest.fixture
def organization(account):
    """The hub (the `account` fixture) and a fleet in each member account and region: a target group of two."""
    members: dict[tuple[str, str], Member] = {}
    for member in (MEMBER_A, MEMBER_B, REFUSING):
        trusted = HUB_ROLE_ARN if member != REFUSING else "arn:aws:iam::999999999999:role/someone-else"
        create_member_role(account_session(member, REGION), trusted)
        for region in (REGION, OTHER_REGION):
            builder = AccountBuilder(account_session(member, region)).network()
            arn = builder.target_group(f"web-{member[:3]}", "instance", delay=60)
            victim = builder.spot_instance("web-1", {"TargetGroupArn": arn}).instance_id
            bystander = builder.spot_instance("web-2", {"TargetGroupArn": arn}).instance_id
            builder.register(arn, [victim, bystander], ports=[80])
            members[(member, region)] = Member(member, region, builder, arn, victim, bystander)
    accounts = AccountClients(
        account.clients, HUB, "SpotInterruptionHandlerMember", session=boto3.session.Session(region_name=REGION)
    )
    return members, accounts


def test_one_batch_of_many_accounts_and_regions_is_drained_in_each_account_and_alerted_once_each(account, organization):
    # Given a hub fleet and member fleets in two regions, and a subscriber that wants member A's alerts only
    members, accounts = organization
    hub_arn = account.builder.target_group("hub-web", "instance", delay=60)
    hub_victim = account.builder.spot_instance("hub-1", {"TargetGroupArn": hub_arn}).instance_id
    account.builder.register(hub_arn, [hub_victim], ports=[80])
    team_a = filtered_subscriber(account, {"account_id": [MEMBER_A]})
    targets = [members[(m, r)] for m in (MEMBER_A, MEMBER_B) for r in (REGION, OTHER_REGION)]

    # When one batch brings a notice for the hub's instance and for one instance of each member fleet
    notices = [spot_notice(HUB, REGION, hub_victim)] + [spot_notice(t.account, t.region, t.victim) for t in targets]
    report = invoke(account, accounts, *notices)

    # Then each instance was taken out of its own account's target group, in its own region; bystanders stay
    assert report.batch_item_failures == []
    assert account.builder.target_states(hub_arn) == {f"{hub_victim}:80": "draining"}
    for t in targets:
        assert t.builder.target_states(t.target_group) == {
            f"{t.victim}:80": "draining",
            f"{t.bystander}:80": "healthy",
        }, (t.account, t.region)
    # And the member role was assumed once per member account, not per region or per notice
    assert accounts.assume_role_calls == 2

    # And one alert each, naming its account and region in the attributes, the JSON and the text
    alerts = by_account_and_region(account.alerts())
    assert sorted(alerts) == sorted([(HUB, REGION)] + [(t.account, t.region) for t in targets])
    for (account_id, region), alert in alerts.items():
        assert alert.document["account"] == account_id and alert.document["region"] == region
        assert alert.document["outcome"] == "drained"
        assert alert.attributes["outcome"] == "drained"
    texts = [body for _, body in account.email_texts()]
    for t in targets:
        [text] = [body for body in texts if t.victim in body]
        assert f"Account   {t.account}" in text and f"({t.region})" in text

    # And the team's filtered subscription got its own account's two alerts only
    received = received_alerts(account.clients.sqs, team_a)
    assert sorted((a.attributes["account_id"], a.attributes["region"]) for a in received) == [
        (MEMBER_A, OTHER_REGION),
        (MEMBER_A, REGION),
    ]

    # When another batch of the same accounts comes to the same execution environment
    again = [members[(m, REGION)] for m in (MEMBER_A, MEMBER_B)]
    invoke(account, accounts, *[spot_notice(t.account, t.region, t.bystander) for t in again])

    # Then it drained them with the credentials already held: no further AssumeRole
    assert accounts.assume_role_calls == 2
    for t in again:
        assert t.builder.registered(t.target_group) == []


def test_a_refusing_role_fails_only_its_accounts_notices_and_says_so_in_their_alerts(account, organization):
    # Given a member whose role does not trust the hub, and a member whose role does
    members, accounts = organization
    refusing, good = members[(REFUSING, REGION)], members[(MEMBER_B, OTHER_REGION)]

    # When one batch brings a notice from each
    report = invoke(
        account,
        accounts,
        spot_notice(REFUSING, REGION, refusing.victim),
        spot_notice(MEMBER_B, OTHER_REGION, good.victim),
    )

    # Then the good member's instance is drained; the refusing member's is untouched (nothing could act there)
    assert good.builder.target_states(good.target_group)[f"{good.victim}:80"] == "draining"
    assert refusing.builder.registered(refusing.target_group) == sorted(
        [f"{refusing.victim}:80", f"{refusing.bystander}:80"]
    )
    # And both were alerted: the refusing account's alert says it failed, naming the account, role and error
    alerts = by_account_and_region(account.alerts())
    assert alerts[(MEMBER_B, OTHER_REGION)].document["outcome"] == "drained"
    failed = alerts[(REFUSING, REGION)]
    assert failed.attributes["outcome"] == "failed" and failed.attributes["account_id"] == REFUSING
    [failure] = failed.document["failures"]
    assert f"account {REFUSING}: role arn:aws:iam::{REFUSING}:role/SpotInterruptionHandlerMember not assumed" in failure
    assert "AccessDenied" in failure
    # And the alert went out, so nothing is delivered again
    assert report.batch_item_failures == []


def test_a_missing_role_is_refused_the_same_way(account, organization):
    # Given a member account listed in the parameters whose role was never created
    _, accounts = organization
    missing = "555555555555"
    builder = AccountBuilder(account_session(missing, REGION)).network()
    victim = builder.spot_instance("lonely").instance_id

    # When its notice arrives
    invoke(account, accounts, spot_notice(missing, REGION, victim), member_account_ids=missing)

    # Then its alert names the account and the refusal
    [alert] = account.alerts()
    assert alert.attributes == {**alert.attributes, "account_id": missing, "outcome": "failed"}
    assert "AccessDenied" in alert.document["failures"][0] and missing in alert.document["failures"][0]


def test_a_notice_from_an_account_the_hub_does_not_serve_is_parked_with_the_reason(account, organization):
    # Given an account that is neither the hub's nor a member, with an instance in a target group
    members, accounts = organization
    builder = AccountBuilder(account_session(FOREIGN, REGION)).network()
    arn = builder.target_group("foreign-web", "instance", delay=60)
    victim = builder.spot_instance("foreign-1", {"TargetGroupArn": arn}).instance_id
    builder.register(arn, [victim], ports=[80])
    member = members[(MEMBER_A, REGION)]

    # When its notice arrives in a batch with a member's
    report = invoke(
        account, accounts, spot_notice(FOREIGN, REGION, victim), spot_notice(MEMBER_A, REGION, member.victim)
    )

    # Then it is parked in the dead-letter queue with the reason, not acted on, not alerted, and not retried
    [parked] = account.dead_letters()
    reason = parked["MessageAttributes"]["RejectReason"]["StringValue"]
    assert reason.startswith(f"account {FOREIGN} is neither the hub's ({HUB}) nor a member")
    assert json.loads(parked["Body"])["account"] == FOREIGN
    assert builder.registered(arn) == [f"{victim}:80"]
    assert [a.attributes["account_id"] for a in account.alerts()] == [MEMBER_A]
    assert report.foreign == [reason] and report.rejected == [] and report.batch_item_failures == []
    # And no AssumeRole was even tried for it
    assert accounts.assume_role_calls == 1


def test_with_an_organization_every_account_is_served(account, organization):
    # Given the hub set up for an organization (its bus admits only the organization's accounts) and no member list
    members, accounts = organization
    member = members[(MEMBER_B, REGION)]

    # When a notice of an account not listed anywhere arrives
    invoke(
        account, accounts, spot_notice(MEMBER_B, REGION, member.victim), member_account_ids="", organization_id="o-abc"
    )

    # Then it is acted on in that account
    assert member.builder.target_states(member.target_group)[f"{member.victim}:80"] == "draining"
    assert account.dead_letters() == []


def test_a_member_lifecycle_action_is_completed_in_the_member_account_by_the_follow_up(account, organization):
    # Given an Auto Scaling group with the handler's hook in member A's other region
    _, accounts = organization
    member = AccountBuilder(account_session(MEMBER_A, OTHER_REGION))
    member.network()
    arn = member.target_group("asg-web", "instance", delay=60)
    victim, bystander = member.auto_scaling_group("web-asg", [arn], size=2)
    member.lifecycle_hook("web-asg", HOOK)
    member.register(arn, [victim, bystander], ports=[80])
    event = lifecycle_event(victim, "web-asg")
    event.update(account=MEMBER_A, region=OTHER_REGION)
    token = event["detail"]["LifecycleActionToken"]

    # When the lifecycle action arrives at the hub
    invoke(account, accounts, event)

    # Then the instance drains in the member account and the follow-up waits on the hub's own queue
    assert member.target_states(arn)[f"{victim}:80"] == "draining"
    [follow_up] = follow_ups(account)
    assert follow_up["checks"][0]["account"] == MEMBER_A and follow_up["checks"][0]["region"] == OTHER_REGION

    # When the drain is over and the follow-up comes back
    moto_fidelity.end_draining()
    invoke(account, accounts, follow_up)

    # Then the action is completed in the member account and region, and nowhere else
    assert moto_fidelity.lifecycle_actions(MEMBER_A, OTHER_REGION)[token]["result"] == "CONTINUE"
    assert token not in moto_fidelity.lifecycle_actions(HUB, REGION)
    [alert] = account.alerts()
    assert alert.attributes["account_id"] == MEMBER_A and alert.attributes["region"] == OTHER_REGION


def test_single_account_mode_acts_with_the_functions_own_credentials_whatever_the_notice_names(account):
    # Given no member accounts and no organization (the default), and an instance of the hub's own
    arn = account.builder.target_group("solo", "instance", delay=60)
    victim = account.builder.spot_instance("solo-1", {"TargetGroupArn": arn}).instance_id
    account.builder.register(arn, [victim], ports=[80])

    # When a notice naming another account and region arrives (as a sample event copied between accounts would)
    account.invoke(spot_notice(FOREIGN, OTHER_REGION, victim))

    # Then it is handled as before: in the function's own account, no AssumeRole, nothing parked
    assert account.builder.target_states(arn) == {f"{victim}:80": "draining"}
    assert account.dead_letters() == []


def filtered_subscriber(account, policy: dict) -> str:
    """An SQS queue subscribed to the alert topic with a filter policy on the message attributes."""
    sqs, sns = account.clients.sqs, account.clients.sns
    url = sqs.create_queue(QueueName="team-subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=account.topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"FilterPolicy": json.dumps(policy)}
    )
    return url


def test_a_batch_of_many_accounts_is_claimed_in_one_transaction(account, organization):
    # Given the hub's idempotency table, and a count of the transactions the hub's DynamoDB client sends

    members, accounts = organization
    table = account.builder.idempotency_table(IDEMPOTENCY_TABLE)
    sent = []

    def count(params, **_):
        sent.append(len(params["TransactItems"]))

    account.clients.dynamodb.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", count)
    targets = [members[(m, r)] for m in (MEMBER_A, MEMBER_B) for r in (REGION, OTHER_REGION)]
    notices = [spot_notice(t.account, t.region, t.victim) for t in targets]

    # When one batch brings notices of two accounts in two regions (four groups)
    report = invoke(account, accounts, *notices, idempotency_table_name=table)

    # Then every group was drained and alerted, and the four groups' interruptions were claimed in one transaction,
    # not one per group (and nothing more is written for them: idempotency/claims.py)
    assert report.batch_item_failures == [] and len(account.alerts()) == 4
    for t in targets:
        assert t.builder.target_states(t.target_group)[f"{t.victim}:80"] == "draining"
    assert sent == [4]

    # When the same notices come again (EventBridge re-sends them)
    again = invoke(account, accounts, *notices, idempotency_table_name=table)

    # Then they are duplicates of interruptions already alerted: no second alert
    assert again.duplicates == 4 and again.batch_item_failures == []
    assert account.alerts() == []


def test_two_signals_of_one_interruption_naming_different_regions_make_one_alert(account, organization):
    # Given a member's instance, and two signals of its interruption in one batch: its Spot warning, naming its
    # region, and a lifecycle action for it naming another region, as a misrouted or crafted copy could
    members, accounts = organization
    member = members[(MEMBER_A, REGION)]
    warning = spot_notice(MEMBER_A, REGION, member.victim)
    action = lifecycle_event(member.victim, "web-asg")
    action.update(account=MEMBER_A, region=OTHER_REGION)

    invoke(account, accounts, warning, action)

    # Then it is one interruption, handled by one group: drained where the warning said, and one alert, not one per
    # region (each group would otherwise have been told it owned the interruption's claim)
    assert member.builder.registered(member.target_group) == [f"{member.bystander}:80"]
    alerts = account.alerts()
    assert [(a.attributes["account_id"], a.attributes["instance_id"]) for a in alerts] == [(MEMBER_A, member.victim)]


def test_a_group_that_raises_fails_only_its_own_notices(account, organization, monkeypatch):
    # Given a batch of two member accounts, and a defect that makes handling member B's group raise (a defect of our
    # own code, not an AWS answer: only here is one of our functions replaced)
    from spot_handler import account_regions

    members, accounts = organization
    a, b = members[(MEMBER_A, REGION)], members[(MEMBER_B, REGION)]
    handle_notices = account_regions.handle_notices

    def defective(notices, *args, **kwargs):
        if notices[0].account == MEMBER_B:
            raise RuntimeError("a defect")
        return handle_notices(notices, *args, **kwargs)

    monkeypatch.setattr(account_regions, "handle_notices", defective)
    batch = {
        "Records": [
            {"messageId": "message-a", "body": json.dumps(spot_notice(a.account, a.region, a.victim))},
            {"messageId": "message-b", "body": json.dumps(spot_notice(b.account, b.region, b.victim))},
        ]
    }

    # When the batch is handled
    report = account.invoke(batch, accounts=accounts, **HUB_SETTINGS)

    # Then member A's notice is drained, alerted and reported successful; only B's comes back, with the reason
    assert a.builder.target_states(a.target_group)[f"{a.victim}:80"] == "draining"
    assert [alert.attributes["account_id"] for alert in account.alerts()] == [MEMBER_A]
    assert report.batch_item_failures == ["message-b"]
    [failed] = [r for r in report.results if not r.handled]
    assert failed.notice.account == MEMBER_B and "RuntimeError" in failed.alert_error


# ---- time bounds: a member role that is slow or refuses costs only its own account (issue 21) ----------------------


def test_a_role_that_answers_late_costs_its_account_a_retry_not_its_drain(account):
    import threading

    from spot_handler.budget import TimeBudget

    from tests.support.faults import Fault, FaultInjector

    # Given member A's role answering only after the invocation's budget (4 s here; 11 s would do the same to 10 s)
    members, accounts, session = organization_with_session(account)
    only_a = lambda request: f"::{MEMBER_A}:role/" in request["body"]  # noqa: E731
    slow = FaultInjector([Fault("sts", "AssumeRole", "hang", only_if=only_a)]).install_on_session(session)
    a, b = members[(MEMBER_A, REGION)], members[(MEMBER_B, REGION)]
    threading.Timer(6, slow.release.set).start()
    try:
        # When a batch brings a notice of member A and one of member B
        report = invoke(
            account,
            accounts,
            spot_notice(MEMBER_A, REGION, a.victim),
            spot_notice(MEMBER_B, REGION, b.victim),
            budget=TimeBudget.start(work_seconds=4),
        )
    finally:
        slow.release.set()

    # Then B is drained at once; A's alert says its role did not answer in time, and a look drains it again
    assert b.builder.registered(b.target_group) == []
    alerts = by_account_and_region(account.alerts())
    assert any("did not answer within" in f for f in alerts[(MEMBER_A, REGION)].document["failures"])
    assert report.batch_item_failures == []
    assert a.builder.registered(a.target_group) == [f"{a.victim}:80"]

    # When the look comes back (the role has answered meanwhile)
    slow.faults.clear()
    invoke(account, accounts, *follow_ups(account))

    # Then A's instance is drained too
    assert a.builder.registered(a.target_group) == []


def test_a_role_that_never_answers_is_tried_once_for_all_its_regions_and_the_answer_stays_in_bounds(account):
    import time

    from spot_handler.budget import ALERT_BOUND_SECONDS, TimeBudget

    from tests.support.faults import Fault, FaultInjector

    # Given member A's role never answering
    members, accounts, session = organization_with_session(account)
    stuck = FaultInjector([Fault("sts", "AssumeRole", "hang")]).install_on_session(session)
    notices = [spot_notice(MEMBER_A, r, members[(MEMBER_A, r)].victim) for r in (REGION, OTHER_REGION)]
    published = []
    account.clients.sns.meta.events.register("before-call.sns.PublishBatch", lambda **_: published.append(1))
    try:
        # When a batch brings notices of its two regions
        started = time.monotonic()
        report = invoke(account, accounts, *notices, budget=TimeBudget.start(remaining_ms=60_000))
        took = time.monotonic() - started
    finally:
        stuck.release.set()

    # Then both alerts went out within the alert's bound, each saying the role did not answer, nothing comes back;
    # the role was asked once, its two regions sharing the attempt
    assert took < ALERT_BOUND_SECONDS + 1
    assert len(account.alerts()) == 2 and report.batch_item_failures == []
    assert stuck.injected[("sts", "AssumeRole", "hang")] == 1


def test_a_refusal_is_remembered_for_the_next_batches_of_the_environment(account, organization):
    # Given a member whose role refuses the hub
    members, accounts = organization
    refusing = members[(REFUSING, REGION)]

    # When two batches bring its notices to the same execution environment
    invoke(account, accounts, spot_notice(REFUSING, REGION, refusing.victim))
    invoke(account, accounts, spot_notice(REFUSING, REGION, refusing.bystander))

    # Then the role was asked once: the second batch's alert names the refusal it remembered
    assert accounts.assume_role_calls == 1
    assert all("AccessDenied" in a.document["failures"][0] for a in account.alerts())


def test_the_sweep_finds_missed_interruptions_in_every_member_account_of_its_region(account, organization):
    # Given interruptions no signal reached the hub for: in member A (terminated) and member B (stopped), in the hub's
    # region, and one in another region (a stack there sweeps it)
    members, accounts = organization
    incidents = account.builder.incident_table("spot-incidents")
    a, b, elsewhere = members[(MEMBER_A, REGION)], members[(MEMBER_B, REGION)], members[(MEMBER_A, OTHER_REGION)]
    a.builder.interrupt_spot(a.victim, "terminate")
    b.builder.interrupt_spot(b.victim, "stop")
    elsewhere.builder.interrupt_spot(elsewhere.victim, "terminate")
    sweep = load_event("reconcile-sweep.json")
    sweep["time"] = now_iso()

    # When the hub's sweep runs, twice
    first = account.invoke(sweep, accounts=accounts, incident_table_name=incidents, **HUB_SETTINGS)
    account.invoke(sweep, accounts=accounts, incident_table_name=incidents, **HUB_SETTINGS)

    # Then each member's missed interruption is alerted once, naming its account, and drained in that account
    alerts = account.alerts()
    assert sorted((x.document["account"], x.document["instanceId"], x.document["outcome"]) for x in alerts) == sorted(
        [(MEMBER_A, a.victim, "missed"), (MEMBER_B, b.victim, "missed")]
    )
    assert b.builder.registered(b.target_group) == [f"{b.bystander}:80"]
    # and the member whose role refuses the hub is named in the sweep's failures, not fatal to the others
    assert any(REFUSING in failure for failure in first.sweep.failures)
