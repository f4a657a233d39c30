"""Exactly one alert per interruption: duplicates, poison records, failing and hanging dependencies.

Each case runs against a moto account with the idempotency table as template.yaml declares it; faults are injected
into the handler's own clients with botocore event hooks (tests/support/faults.py).
"""

from __future__ import annotations

import json
import threading
import time
import uuid

from spot_handler.budget import ALERT_BOUND_SECONDS, OWNED_STEPS_RESERVE_SECONDS, WORK_SECONDS, TimeBudget
from spot_handler.steps.gamelift_checkpoint import GameLiftSettings

from local.lambda_runtime import sqs_event_of
from tests.support.events import load_event
from tests.support.faults import Fault, FaultInjector, no_backoff
from tests.support.followups import IDEMPOTENCY_TABLE

SPOT = "spot-interruption-instance-tg.json"


def notice_body(instance_id: str, name: str = SPOT, **changes) -> str:
    event = load_event(name, instance_id)
    event.update(changes)
    return json.dumps(event)


def web_instance(account, name="web-1"):
    b = account.builder
    arn, victim = b.instance_in_target_group("web", name)
    return arn, victim.instance_id


# ---- idempotency --------------------------------------------------------------------------------------------------


def test_eventbridge_resend_in_a_later_batch_sends_no_second_alert(guarded):
    # Given an interruption that was handled and alerted
    _arn, instance = web_instance(guarded)
    body = notice_body(instance)
    first = guarded.invoke(sqs_event_of(body))
    assert first.batch_item_failures == [] and len(guarded.alerts()) == 1

    # When EventBridge delivers the same event again
    again = guarded.invoke(sqs_event_of(body))

    # Then nothing is sent, the record is reported successful, and it is counted as a duplicate
    assert guarded.alerts() == []
    assert again.batch_item_failures == []
    assert again.duplicates == 1 and again.results[0].duplicate


def test_ec2_re_notice_with_a_new_id_is_the_same_interruption(guarded):
    _arn, instance = web_instance(guarded)
    guarded.invoke(sqs_event_of(notice_body(instance)))
    guarded.alerts()

    # A second notice for the same instance and type, new id and a later time, in the same batch as a re-send
    re_notice = notice_body(instance, id=str(uuid.uuid4()), time="2026-11-26T10:00:05Z")
    report = guarded.invoke(sqs_event_of(re_notice, re_notice))

    assert guarded.alerts() == []
    assert report.batch_item_failures == [] and report.duplicates == 2


def test_two_notices_of_one_interruption_in_one_batch_give_one_alert(guarded):
    _arn, instance = web_instance(guarded)
    report = guarded.invoke(sqs_event_of(notice_body(instance), notice_body(instance, id=str(uuid.uuid4()))))

    [alert] = guarded.alerts()
    assert alert.document["instanceId"] == instance
    assert report.batch_item_failures == [] and report.duplicates == 1


def test_another_notice_type_for_the_same_instance_is_alerted(guarded):
    _arn, instance = web_instance(guarded)
    guarded.invoke(sqs_event_of(notice_body(instance, "rebalance-recommendation.json")))
    guarded.invoke(sqs_event_of(notice_body(instance)))

    assert sorted(a.attributes["event_type"] for a in guarded.alerts()) == [
        "EC2 Instance Rebalance Recommendation",
        "EC2 Spot Instance Interruption Warning",
    ]


def dynamodb_calls(client) -> list[tuple[str, int]]:
    """(operation, number of TransactWriteItems actions) of every call the client makes from now on."""
    calls: list[tuple[str, int]] = []
    client.meta.events.register(
        "before-parameter-build.dynamodb",
        lambda model, params, **_: calls.append((model.name, len(params.get("TransactItems", [])))),
    )
    return calls


def test_a_batch_is_claimed_in_one_transaction_and_nothing_more_is_written(guarded):
    # Given a batch of 30 interruptions, one of which was already alerted by an earlier invocation
    arn = guarded.builder.target_group("web", delay=60)
    victims = [guarded.builder.spot_instance(f"web-{n}", tags={"TargetGroupArn": arn}).instance_id for n in range(30)]
    guarded.builder.register(arn, victims, ports=[80])
    guarded.invoke(sqs_event_of(notice_body(victims[7])))
    assert len(guarded.alerts()) == 1
    calls = dynamodb_calls(guarded.clients.dynamodb)

    # When the batch arrives
    event = sqs_event_of(*(notice_body(v) for v in victims))
    report = guarded.invoke(event)

    # Then the 29 new interruptions are alerted once each and the alerted one is a duplicate
    assert report.batch_item_failures == [] and report.duplicates == 1
    assert sorted(a.document["instanceId"] for a in guarded.alerts()) == sorted(set(victims) - {victims[7]})
    assert [r.notice.instance_id for r in report.results if r.duplicate] == [victims[7]]
    # with one claim transaction, sent again without the duplicate DynamoDB named, and no completion writes
    assert calls == [("TransactWriteItems", 30), ("TransactWriteItems", 29)]
    # And every record is Powertools' own (its persistence layer reads each one back), held by its notice's message
    from spot_handler.idempotency.records import persistence_layer, record_data
    from spot_handler.signals import parse_notice

    powertools = persistence_layer(guarded.clients.dynamodb, IDEMPOTENCY_TABLE)
    message_of = {json.loads(r["body"])["detail"]["instance-id"]: f"sqs:{r['messageId']}" for r in event["Records"]}
    for victim in victims:
        record = powertools.get_record(record_data(parse_notice(notice_body(victim))))
        assert record.status == "INPROGRESS"
        item = guarded.clients.dynamodb.get_item(TableName=IDEMPOTENCY_TABLE, Key={"id": {"S": record.idempotency_key}})
        holder = item["Item"]["holder"]["S"]
        if victim == victims[7]:  # still held by the message of the earlier invocation that alerted it
            assert holder not in message_of.values()
        else:
            assert holder == message_of[victim]


def test_more_than_100_interruptions_are_claimed_in_transactions_of_100(guarded):
    arn = guarded.builder.target_group("web", delay=60)
    victims = [guarded.builder.spot_instance(f"web-{n}", tags={"TargetGroupArn": arn}).instance_id for n in range(130)]
    guarded.builder.register(arn, victims, ports=[80])
    calls = dynamodb_calls(guarded.clients.dynamodb)

    report = guarded.invoke(sqs_event_of(*(notice_body(v) for v in victims)))

    assert report.batch_item_failures == [] and len(guarded.alerts()) == 130
    assert sorted(calls) == sorted([("TransactWriteItems", 100), ("TransactWriteItems", 30)])


def test_a_transaction_conflict_is_sent_again_and_every_interruption_is_alerted(guarded, monkeypatch):
    # Given DynamoDB cancelling the first claim transaction because another transaction holds one of its items
    no_backoff(monkeypatch)
    arn = guarded.builder.target_group("web", delay=60)
    victims = [guarded.builder.spot_instance(f"web-{n}", tags={"TargetGroupArn": arn}).instance_id for n in range(3)]
    guarded.builder.register(arn, victims, ports=[80])
    first = {"on": True}

    def once():
        was, first["on"] = first["on"], False
        return was

    injector = FaultInjector([Fault("dynamodb", "TransactWriteItems", "conflict", active=once)])
    injector.install(guarded.clients.dynamodb)
    calls = dynamodb_calls(guarded.clients.dynamodb)

    report = guarded.invoke(sqs_event_of(*(notice_body(v) for v in victims)))

    # Then nothing was lost to the conflict: the claims went again, and each interruption has one alert
    assert injector.injected[("dynamodb", "TransactWriteItems", "conflict")] == 1
    assert calls == [("TransactWriteItems", 3)] * 2  # the cancelled claim and its second send
    assert report.batch_item_failures == []
    assert sorted(a.document["instanceId"] for a in guarded.alerts()) == sorted(victims)


def test_failed_alert_releases_the_claim_so_the_redelivery_alerts_once(guarded, monkeypatch):
    no_backoff(monkeypatch)
    arn, instance = web_instance(guarded)
    body = notice_body(instance)
    outage = {"on": True}
    FaultInjector(
        [Fault("sns", "PublishBatch", "5xx", code="ServiceUnavailable", active=lambda: outage["on"])]
    ).install(guarded.clients.sns)

    # When SNS is down, the record is reported failed, never dropped
    event = sqs_event_of(body)
    report = guarded.invoke(event)
    assert report.batch_item_failures == [event["Records"][0]["messageId"]]
    assert "ServiceUnavailable" in report.results[0].alert_error
    assert guarded.alerts() == [] and guarded.builder.registered(arn) == []  # drained all the same

    # And its redelivery, once SNS is back, sends exactly one alert
    outage["on"] = False
    again = guarded.invoke(sqs_event_of(body))
    assert again.batch_item_failures == []
    assert len(guarded.alerts()) == 1
    assert guarded.invoke(sqs_event_of(body)).duplicates == 1 and guarded.alerts() == []


def test_idempotency_table_down_still_alerts_within_the_bound_saying_it_may_be_repeated(guarded, monkeypatch):
    # Given an idempotency table that fails every claim (5xx past botocore's retries) until the alert is published
    no_backoff(monkeypatch)
    arn, instance = web_instance(guarded)
    body = notice_body(instance)
    outage = {"on": True}
    FaultInjector([Fault("dynamodb", "TransactWriteItems", "5xx", active=lambda: outage["on"])]).install(
        guarded.clients.dynamodb
    )
    guarded.clients.sns.meta.events.register("before-call.sns.PublishBatch", lambda **_: outage.update(on=False))

    event = sqs_event_of(body)
    started = time.monotonic()
    report = guarded.invoke(event)

    # Then draining did not wait for the table, and neither did the alert: it went out within its bound, saying it
    # may be repeated (no claim could be written when it was sent); the record is handled, not delivered again
    assert guarded.builder.registered(arn) == []
    [alert] = guarded.alerts()
    assert alert.document["possiblyRepeated"] is True
    assert "may be repeated" in " ".join(guarded.email_texts()[-1][1].split())
    assert report.batch_item_failures == []
    assert time.monotonic() - started < ALERT_BOUND_SECONDS
    # And once the table answers again the claim is written after the fact: a re-notice is a duplicate
    again = guarded.invoke(sqs_event_of(notice_body(instance, id=str(uuid.uuid4()))))
    assert again.duplicates == 1 and guarded.alerts() == []


def test_interruption_in_progress_elsewhere_is_delivered_again_later(guarded):
    # Given another invocation holding the claim of this interruption
    _arn, instance = web_instance(guarded)
    from spot_handler.idempotency.records import HOLD_MILLIS, persistence_layer, record_data
    from spot_handler.signals import parse_notice

    notice = parse_notice(notice_body(instance))
    other = persistence_layer(guarded.clients.dynamodb, IDEMPOTENCY_TABLE)  # Powertools' own, one PutItem
    other.save_inprogress(record_data(notice), remaining_time_in_millis=HOLD_MILLIS)

    event = sqs_event_of(notice_body(instance, id=str(uuid.uuid4())))
    report = guarded.invoke(event)

    assert guarded.alerts() == []
    assert report.batch_item_failures == [event["Records"][0]["messageId"]]
    assert "another invocation" in report.results[0].alert_error


def test_a_receive_that_died_leaves_its_claim_to_the_next_receive_of_its_message(guarded):
    from spot_handler.idempotency.claims import NoticeClaims
    from spot_handler.idempotency.records import OWNER_INVOCATION_SECONDS, persistence_layer, record_data
    from spot_handler.signals import parse_notice

    from local.lambda_runtime import sqs_event, sqs_record

    # Given an interruption claimed by a receive of a batch holding message M and its copy C (EventBridge sent the
    # event twice) whose invocation died before answering (a timeout, an out-of-memory kill), longer ago than an
    # invocation can run
    arn, instance = web_instance(guarded)
    body, message, copy = notice_body(instance), str(uuid.uuid4()), str(uuid.uuid4())
    notice = parse_notice(body)._replace(deliveries=(message, copy))
    NoticeClaims.open(guarded.clients.dynamodb, IDEMPOTENCY_TABLE).start([notice]).wait(TimeBudget.start())
    key = persistence_layer(guarded.clients.dynamodb, IDEMPOTENCY_TABLE).get_record(record_data(notice))
    guarded.clients.dynamodb.update_item(
        TableName=IDEMPOTENCY_TABLE,
        Key={"id": {"S": key.idempotency_key}},
        UpdateExpression="SET expiration = expiration - :age",
        ExpressionAttributeValues={":age": {"N": str(OWNER_INVOCATION_SECONDS + 5)}},
    )

    # When an EC2 re-notice of the same interruption comes in another message
    other = guarded.invoke(sqs_event_of(notice_body(instance, id=str(uuid.uuid4()))))

    # Then it is a duplicate (M carries the alert): reported successful, no alert
    assert other.batch_item_failures == [] and other.duplicates == 1 and guarded.alerts() == []

    # When SQS delivers both again after their visibility timeout, in another order (a standard queue keeps none)
    again = guarded.invoke(sqs_event([sqs_record(body, message_id=copy), sqs_record(body, message_id=message)]))

    # Then this receive takes the interruption over: drained and alerted, once (the copy a duplicate in the batch)
    assert again.batch_item_failures == [] and again.duplicates == 1
    assert guarded.builder.registered(arn) == []
    [alert] = guarded.alerts()
    assert alert.document["instanceId"] == instance


def test_the_same_message_twice_at_once_is_handled_once(guarded):
    from local.lambda_runtime import sqs_event, sqs_record

    # Given a message being handled by one invocation (its claim just made)
    _arn, instance = web_instance(guarded)
    body, message = notice_body(instance), str(uuid.uuid4())
    first = guarded.invoke(sqs_event([sqs_record(body, message_id=message)]))
    assert first.batch_item_failures == [] and len(guarded.alerts()) == 1

    # When SQS (at least once) hands the same message to another invocation within an invocation's run time
    second = guarded.invoke(sqs_event([sqs_record(body, message_id=message)]))

    # Then no second alert: the message is delivered again later, when the claim says its first receive is over
    assert guarded.alerts() == []
    assert second.batch_item_failures == [message]


def test_duplicate_makes_no_second_checkpoint(guarded, handler_clients, gamelift_state):
    # Given an instance hosting a FleetIQ game server, and the checkpoint table
    group = "arena-spot"
    victim = guarded.builder.spot_instance("game-1", tags={"GameLiftGameServerGroup": group})
    gamelift_state.add_game_server(group, "gs-1", victim.instance_id)
    guarded.builder.checkpoint_table("spot-checkpoints")
    state, clients = gamelift_state, handler_clients
    body = notice_body(victim.instance_id, "spot-interruption-gamelift-fleetiq.json")

    # When the notice arrives, then again as an EventBridge re-send and as an EC2 re-notice
    guarded.invoke(sqs_event_of(body), clients=clients, steps=(GameLiftSettings("spot-checkpoints"),))
    calls_after_first = len(state.calls)
    guarded.invoke(
        sqs_event_of(
            body, notice_body(victim.instance_id, "spot-interruption-gamelift-fleetiq.json", id=str(uuid.uuid4()))
        ),
        clients=clients,
        steps=(GameLiftSettings("spot-checkpoints"),),
    )

    # Then GameLift was called for the first only, and there is one alert
    assert calls_after_first > 0 and len(state.calls) == calls_after_first
    assert len(guarded.alerts()) == 1


# ---- poison notices -----------------------------------------------------------------------------------------------

POISON = {
    "not JSON": '{"version": "0", "detail": ',
    "a JSON array": "[1, 2, 3]",
    "unsupported source": notice_body("i-0a1b2c3d4e5f60011", source="aws.health"),
    "unsupported detail-type": notice_body("i-0a1b2c3d4e5f60011", **{"detail-type": "EC2 Instance Launch Successful"}),
    "missing detail": json.dumps({k: v for k, v in load_event(SPOT).items() if k != "detail"}),
    "wrong type": notice_body("i-0a1b2c3d4e5f60011", detail={"instance-id": 12, "instance-action": "terminate"}),
    "empty body": "",
    "oversize": "x" * 262_000,
}


def test_every_poison_record_is_parked_with_its_reason_and_valid_ones_are_not_delayed(guarded):
    arn, instance = web_instance(guarded)
    event = sqs_event_of(notice_body(instance), *POISON.values())

    report = guarded.invoke(event)

    # Then the valid notice is drained and alerted, nothing is retried, and each poison record is in the DLQ once
    assert guarded.builder.registered(arn) == [] and len(guarded.alerts()) == 1
    assert report.batch_item_failures == []
    parked = guarded.dead_letters()
    assert len(parked) == len(POISON)
    origins = {m["MessageAttributes"]["Origin"]["StringValue"] for m in parked}
    assert origins == {f"sqs:{r['messageId']}" for r in event["Records"][1:]}
    reasons = " | ".join(m["MessageAttributes"]["RejectReason"]["StringValue"] for m in parked)
    for expected in (
        "not JSON",
        "expected a JSON object",
        "source",
        "detail-type",
        "detail",
        "instance-id",
        "body cut from 262000",
    ):
        assert expected in reasons


def test_poison_record_that_cannot_be_parked_is_left_to_the_redrive_policy(guarded, monkeypatch):
    no_backoff(monkeypatch)
    FaultInjector([Fault("sqs", "SendMessage", "5xx")]).install(guarded.clients.sqs)
    event = sqs_event_of("not json at all")

    report = guarded.invoke(event)

    assert report.batch_item_failures == [event["Records"][0]["messageId"]]


# ---- time budget --------------------------------------------------------------------------------------------------


def test_stated_bound_leaves_room_for_publishing():
    assert WORK_SECONDS + 1 <= ALERT_BOUND_SECONDS <= 15


def test_hanging_target_group_still_gets_the_alert_out_on_time_and_named(guarded):
    # Given a target group whose DescribeTargetHealth hangs, and a second one that answers
    b = guarded.builder
    stuck, fine = b.target_group("stuck", delay=60), b.target_group("fine", delay=60)
    victim = b.spot_instance("web-1", tags={"TargetGroupArn": f"{stuck},{fine}"})
    b.register(fine, [victim.instance_id], ports=[80])
    b.register(stuck, [victim.instance_id], ports=[80])
    injector = FaultInjector(
        [
            Fault(
                "elastic-load-balancing-v2",
                "DescribeTargetHealth",
                "hang",
                only_if=lambda request: "targetgroup/stuck/" in request["body"],
            )
        ]
    )
    injector.install(guarded.clients.elbv2)
    try:
        started = time.monotonic()
        # 5 s: long enough for the other target group to drain on a loaded 2-core machine; the hang lasts until
        # released below, so the alert going out at all shows the budget, not the hang, decided when
        report = guarded.invoke(sqs_event_of(notice_body(victim.instance_id)), budget=TimeBudget.start(work_seconds=5))
        elapsed = time.monotonic() - started
    finally:
        injector.release.set()

    # Then the alert went out after the budget, not after the hang, and names what did not finish
    assert elapsed < 5 + 3
    assert report.batch_item_failures == []
    [alert] = guarded.alerts()
    assert alert.document["outcome"] == "partial", alert.document["failures"]
    [failure] = alert.document["failures"]
    # (the drain steps leave part of the budget to the steps after them: budget.OWNED_STEPS_RESERVE_SECONDS)
    drain_seconds = 5 - OWNED_STEPS_RESERVE_SECONDS
    assert failure.startswith("target group stuck: not confirmed:")
    assert f"did not finish within {drain_seconds:.0f} s" in failure
    assert [tg["deregistered"] for tg in alert.document["targetGroups"] if tg["name"] == "fine"] == [
        [f"{victim.instance_id}:80"]
    ]


def test_a_hanging_dead_letter_queue_never_holds_the_answer_past_the_tail(guarded, monkeypatch):
    # Given a DLQ whose SendMessage hangs, and a batch of a valid notice and a poison record
    from spot_handler import invocation

    monkeypatch.setattr(invocation, "TAIL_SECONDS", 1.0)
    arn, instance = web_instance(guarded)
    injector = FaultInjector([Fault("sqs", "SendMessage", "hang")])
    injector.install(guarded.clients.sqs)
    event = sqs_event_of(notice_body(instance), "not json")
    try:
        started = time.monotonic()
        report = guarded.invoke(event)
        elapsed = time.monotonic() - started
    finally:
        injector.release.set()

    # Then the handler answered at the tail's end (not after the hang, which lasts until released): the notice
    # drained, alerted and reported successful, only the poison record delivered again (to be parked then). Had
    # the invocation run out of time instead, both would come back and the notice's claim be taken over.
    assert elapsed < 1.0 + 3
    assert guarded.builder.registered(arn) == [] and len(guarded.alerts()) == 1
    assert report.batch_item_failures == [event["Records"][1]["messageId"]]


def test_hanging_target_group_does_not_keep_the_other_drain_steps_from_draining(guarded):
    # Given an instance in a target group whose DescribeTargetHealth hangs, behind a Classic Load Balancer, and an
    # ECS container instance
    b = guarded.builder
    stuck = b.target_group("stuck", delay=60)
    victim, classic, container_instance = b.instance_serving_everywhere("web-1", stuck)
    injector = FaultInjector([Fault("elastic-load-balancing-v2", "DescribeTargetHealth", "hang")])
    injector.install(guarded.clients.elbv2)
    try:
        guarded.invoke(sqs_event_of(notice_body(victim.instance_id)), budget=TimeBudget.start(work_seconds=2))
    finally:
        injector.release.set()

    # Then the drain steps ran side by side: the Classic Load Balancer and ECS drained within the budget the target
    # group used up, and only the target group is named as unfinished
    assert b.classic_instances(classic) == []
    assert b.container_instance_status("game", container_instance) == "DRAINING"
    [alert] = guarded.alerts()
    [failure] = alert.document["failures"]
    assert failure.startswith("target group stuck: not confirmed:")
    assert alert.document["outcome"] == "partial"


def test_hanging_idempotency_table_holds_up_neither_draining_nor_the_alert(guarded):
    # Given an idempotency table whose claim transaction hangs past the budget
    arn, instance = web_instance(guarded)
    injector = FaultInjector([Fault("dynamodb", "TransactWriteItems", "hang")])
    injector.install(guarded.clients.dynamodb)
    threading.Timer(3, injector.release.set).start()  # then it answers (a timeout)
    sent, published = [], []
    guarded.clients.elbv2.meta.events.register(
        "before-call.elastic-load-balancing-v2.DeregisterTargets", lambda **_: sent.append(time.monotonic())
    )
    guarded.clients.sns.meta.events.register(
        "before-call.sns.PublishBatch", lambda **_: published.append(time.monotonic())
    )
    try:
        event = sqs_event_of(notice_body(instance))
        started = time.monotonic()
        report = guarded.invoke(event, budget=TimeBudget.start(work_seconds=2))
    finally:
        injector.release.set()

    # Then DeregisterTargets went out at once, not after the claim gave up, and the instance is out
    assert len(sent) == 1 and sent[0] - started < 1.0
    assert guarded.builder.registered(arn) == []
    # And the alert went out when the budget ran out (not when the claim answered), saying it may be repeated
    assert published and published[0] - started < 2 + 1
    [alert] = guarded.alerts()
    assert alert.document["possiblyRepeated"] is True
    assert report.batch_item_failures == []


def test_hanging_instance_lookup_is_named_and_the_alert_still_goes_out(guarded):
    injector = FaultInjector([Fault("ec2", "DescribeInstances", "hang")])
    injector.install(guarded.clients.ec2)
    try:
        report = guarded.invoke(
            sqs_event_of(notice_body("i-0a1b2c3d4e5f60011")), budget=TimeBudget.start(work_seconds=1)
        )
    finally:
        injector.release.set()

    assert report.batch_item_failures == []
    [alert] = guarded.alerts()
    assert any("DescribeInstances did not finish within 1 s" in f for f in alert.document["failures"])
