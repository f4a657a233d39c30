"""Every interruption followed through to a known end (issue 21), against a moto account with AWS faults injected
at botocore's boundary: a drain that failed is drained again seconds later; a lifecycle action is completed only
once every drain is over; follow-ups are as safe as notices; every time bound holds whatever a dependency does.

Looks are delayed messages on the handler's notice queue; the tests take them out of moto's queue when they choose
(tests/support/followups.py), as if their delay had passed, and hand them over as the event source would.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from spot_handler.aws.clients import CALL_ATTEMPTS, CLIENT_CONFIG
from spot_handler.budget import ALERT_BOUND_SECONDS, TimeBudget

from local import moto_fidelity
from tests.support.events import load_event
from tests.support.faults import ELBV2, Fault, FaultInjector, no_backoff
from tests.support.followups import (
    HOOK,
    batch,
    completions,
    deadline_look,
    delays,
    fleet_with_hook,
    follow_ups,
    lifecycle_event,
    spot_event,
)


def throttled(*operations: str, on: dict) -> FaultInjector:
    """Every attempt of these ELBv2 operations throttled while on["on"]: past botocore's retries."""
    return FaultInjector([Fault(ELBV2, op, "throttle", active=lambda: on["on"]) for op in operations])


def looks(account) -> list[dict]:
    """The looks waiting in the queue, one per message body: their checks."""
    return [check for body in follow_ups(account) for check in body["checks"]]


# ---- a drain that failed is drained again --------------------------------------------------------------------------


def test_a_deregistration_throttled_past_its_retries_is_drained_again_seconds_later(guarded, monkeypatch):
    # Given a Spot instance in a target group, and ELB throttling every DeregisterTargets past botocore's retries
    no_backoff(monkeypatch)
    b = guarded.builder
    arn, victim = b.instance_in_target_group("web", "web-1")
    outage = {"on": True}
    throttled("DeregisterTargets", on=outage).install(guarded.clients.elbv2)

    # When its warning is handled
    guarded.invoke(batch(spot_event(victim.instance_id)))

    # Then the instance is still registered, the alert says the drain failed and that it is drained again
    assert b.registered(arn) == [f"{victim.instance_id}:80"]
    [alert] = guarded.alerts()
    assert alert.document["outcome"] == "failed"
    assert any("Throttling" in f for f in alert.document["failures"])
    assert "Throttling" in " ".join(alert.document["drainFollowUp"]["drainedAgain"])
    # And a look is due seconds from now, not after the queue's visibility timeout
    assert max(delays()) <= 10
    [body] = follow_ups(guarded)

    # When the look comes back and ELB answers again
    outage["on"] = False
    report = guarded.invoke(batch(body))

    # Then the instance is out of its target group, and nothing more is said: the drain is confirmed
    assert b.registered(arn) == []
    assert b.target_states(arn) == {f"{victim.instance_id}:80": "draining"}
    assert guarded.alerts() == []
    assert report.batch_item_failures == []
    assert [c.instance_id for c in report.follow_ups.redrained] == [victim.instance_id]


def test_a_drain_still_failing_at_the_deadline_ends_in_a_drain_unfinished_alert(guarded, monkeypatch):
    # Given a Spot warning 95 s old (25 s left) whose DeregisterTargets is throttled all along
    no_backoff(monkeypatch)
    b = guarded.builder
    arn, victim = b.instance_in_target_group("web", "web-1")
    throttled("DeregisterTargets", on={"on": True}).install(guarded.clients.elbv2)
    guarded.invoke(batch(spot_event(victim.instance_id, seconds_ago=95)))
    guarded.alerts()

    # When its looks come back, each still failing
    for _ in range(4):
        bodies = follow_ups(guarded)
        if not bodies:
            break
        guarded.invoke(batch(*bodies))

    # Then the chain ends in one drain-unfinished alert that names what still fails, and nothing is left scheduled
    [second] = guarded.alerts()
    assert second.attributes["outcome"] == "drain-unfinished"
    assert any("Throttling" in f for f in second.document["failures"])
    assert follow_ups(guarded) == []
    assert b.registered(arn) == [f"{victim.instance_id}:80"]


def test_target_health_that_does_not_answer_within_the_budget_is_read_again_and_drained(guarded):
    # Given a target group whose DescribeTargetHealth hangs past the budget, once
    b = guarded.builder
    arn, victim = b.instance_in_target_group("web", "web-1")
    hung = {"on": True}
    injector = FaultInjector([Fault(ELBV2, "DescribeTargetHealth", "hang", active=lambda: hung["on"])])
    injector.install(guarded.clients.elbv2)
    try:
        guarded.invoke(batch(spot_event(victim.instance_id)), budget=TimeBudget.start(work_seconds=2))
    finally:
        hung["on"] = False
        injector.release.set()
    [alert] = guarded.alerts()
    assert any("did not finish within" in f for f in alert.document["failures"]), alert.document["failures"]

    # When its look comes back
    guarded.invoke(batch(*follow_ups(guarded)))

    # Then the instance is out
    assert b.registered(arn) == []


def test_a_throttled_instance_lookup_drains_every_instance_of_the_batch_on_the_next_look(guarded, monkeypatch):
    # Given three instances in a target group, and the batch's one DescribeInstances throttled past its retries
    no_backoff(monkeypatch)
    b = guarded.builder
    arn = b.target_group("web", delay=60)
    victims = [b.spot_instance(f"web-{n}", tags={"TargetGroupArn": arn}).instance_id for n in range(3)]
    b.register(arn, victims, ports=[80])
    outage = {"on": True}
    FaultInjector([Fault("ec2", "DescribeInstances", "throttle", active=lambda: outage["on"])]).install(
        guarded.clients.ec2
    )

    guarded.invoke(batch(*[spot_event(v) for v in victims]))
    assert sorted(a.document["outcome"] for a in guarded.alerts()) == ["failed"] * 3
    assert sorted(b.registered(arn)) == sorted(f"{v}:80" for v in victims)

    # When the looks come back with EC2 answering again
    outage["on"] = False
    guarded.invoke(batch(*follow_ups(guarded)))

    # Then all three are out, re-planned from a fresh lookup
    assert b.registered(arn) == []


# ---- a lifecycle action is completed only once every drain is over --------------------------------------------------


def test_a_lifecycle_action_whose_deregistration_failed_is_not_completed_until_drained(guarded, monkeypatch):
    # Given an Auto Scaling group with the handler's hook, and DeregisterTargets throttled past its retries
    no_backoff(monkeypatch)
    arn, victim, bystander = fleet_with_hook(guarded)
    outage = {"on": True}
    throttled("DeregisterTargets", on=outage).install(guarded.clients.elbv2)
    event = lifecycle_event(victim, "web-asg")
    token = event["detail"]["LifecycleActionToken"]

    # When the lifecycle action is handled
    guarded.invoke(batch(event))

    # Then it is not completed: the instance still takes traffic
    assert "result" not in completions().get(token, {})
    assert f"{victim}:80" in guarded.builder.registered(arn)

    # When the look comes back and ELB answers: drained again, still not completed while it drains
    outage["on"] = False
    guarded.invoke(batch(*follow_ups(guarded)))
    assert guarded.builder.registered(arn) == [f"{bystander}:80"]
    assert "result" not in completions().get(token, {})

    # And once the drain is over, the next look completes it
    moto_fidelity.end_draining()
    guarded.invoke(batch(*follow_ups(guarded)))
    assert completions()[token]["result"] == "CONTINUE"


def test_a_lifecycle_action_waits_for_classic_connection_draining(guarded):
    # Given an instance of a group behind a Classic Load Balancer with connection draining (300 s, lowered to 120 s)
    b = guarded.builder
    b.classic_load_balancer("legacy", draining_timeout=300)
    [victim, _] = b.auto_scaling_group("clb-asg", [], size=2, load_balancer_names=["legacy"])
    b.lifecycle_hook("clb-asg", HOOK)
    event = lifecycle_event(victim, "clb-asg")
    token = event["detail"]["LifecycleActionToken"]

    # When the action is handled, and its look comes back while connections still drain
    guarded.invoke(batch(event))
    assert victim not in b.classic_instances("legacy")
    assert "result" not in completions().get(token, {})
    guarded.invoke(batch(*follow_ups(guarded)))

    # Then it is still not completed
    assert "result" not in completions().get(token, {})

    # And once connection draining is over, it is
    moto_fidelity.end_draining()
    guarded.invoke(batch(*follow_ups(guarded)))
    assert completions()[token]["result"] == "CONTINUE"


def test_a_lifecycle_action_waits_for_the_ecs_service_tasks_to_leave_the_container_instance(guarded):
    # Given an ECS container instance of a group, running two tasks of a service and one standalone task
    b = guarded.builder
    b.ecs_cluster("game")
    [victim, _] = b.auto_scaling_group("ecs-asg", [], size=2)
    b.tag(victim, {"ECSCluster": "game"})
    ci = b.container_instance("game", victim)
    b.ecs_service("game", "lobby")
    b.ecs_tasks("game", ci, "lobby", count=2, service="lobby")
    b.ecs_tasks("game", ci, "lobby")  # standalone: draining never moves it
    b.lifecycle_hook("ecs-asg", HOOK)
    event = lifecycle_event(victim, "ecs-asg")
    token = event["detail"]["LifecycleActionToken"]

    # When the action is handled: the container instance is DRAINING, the action waits
    guarded.invoke(batch(event))
    assert b.container_instance_status("game", ci) == "DRAINING"
    assert "result" not in completions().get(token, {})

    # When a look comes back while the service's tasks are still there: still waiting
    guarded.invoke(batch(*follow_ups(guarded)))
    assert "result" not in completions().get(token, {})

    # When the scheduler has replaced the service's tasks (stopped here), only the standalone task is left
    ecs = b.client("ecs")
    for task in ecs.list_tasks(cluster="game", containerInstance=ci)["taskArns"]:
        described = ecs.describe_tasks(cluster="game", tasks=[task])["tasks"][0]
        if described["group"].startswith("service:"):
            ecs.stop_task(cluster="game", task=task, reason="replaced")
    guarded.invoke(batch(*follow_ups(guarded)))

    # Then the action is completed
    assert completions()[token]["result"] == "CONTINUE"


def test_unreadable_target_health_completes_the_action_after_the_longest_delay_and_says_why(guarded):
    # Given a lifecycle action waiting for a 60 s drain, whose target health then cannot be read (AccessDenied)
    _, victim, _ = fleet_with_hook(guarded, delay=60)
    event = lifecycle_event(victim, "web-asg")
    token = event["detail"]["LifecycleActionToken"]
    guarded.invoke(batch(event))
    guarded.alerts()
    FaultInjector([Fault(ELBV2, "DescribeTargetHealth", "access-denied")]).install(guarded.clients.elbv2)
    [body] = follow_ups(guarded)

    # When it comes back before the delay (plus a margin) is over: kept waiting
    guarded.invoke(batch(body))
    assert "result" not in completions().get(token, {})
    [body] = follow_ups(guarded)

    # When it comes back once the longest delay in force and the margin have passed since the drain
    check = body["checks"][0]
    drained = datetime.fromisoformat(check["deregistered_at"].replace("Z", "+00:00"))
    check["deregistered_at"] = (drained - timedelta(seconds=60 + 31)).isoformat()
    guarded.invoke(batch(body))

    # Then it is completed, not kept alive until the hook's global timeout, and an alert says why
    assert completions()[token]["result"] == "CONTINUE"
    [alert] = guarded.alerts()
    assert alert.attributes["outcome"] == "lifecycle-unconfirmed"
    assert alert.attributes["event_type"] == "EC2 Instance-terminate Lifecycle Action"
    assert any("AccessDenied" in r and "could not be read" in r for r in alert.document["reasons"])
    assert follow_ups(guarded) == []


# ---- follow-ups are as safe as notices -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.update(due="2026-12-07T10:00:00"), "due"),  # a time without its zone
        (lambda c: c.update(heartbeat_timeout="300"), "heartbeat_timeout"),  # a number as text
        (lambda c: c.update(targets=["arn"]), "targets"),  # a list where a map belongs
        (lambda c: c.update(sequence=True), "sequence"),
        (lambda c: c.update(kind="sweep"), "kind"),
        (lambda c: c.update(deadline=None), "deadline"),
        (lambda c: c.update(surprise=1), ": not a field of a check: 'surprise'"),
    ],
)
def test_a_bad_follow_up_is_parked_with_its_field_and_never_fails_the_valid_notice_beside_it(guarded, change, field):
    # Given a real look with one field broken, in a batch with a valid Spot warning
    _, body = deadline_look(guarded)
    change(body["checks"][0])
    arn, victim = guarded.builder.instance_in_target_group("web", "web-2")

    # When the batch is handled
    report = guarded.invoke(batch(spot_event(victim.instance_id), body))

    # Then the notice is drained and alerted, the look is parked in the DLQ naming its field, nothing fails
    assert report.batch_item_failures == []
    assert guarded.builder.registered(arn) == []
    assert [a.document["instanceId"] for a in guarded.alerts()] == [victim.instance_id]
    [parked] = guarded.dead_letters()
    reason = parked["MessageAttributes"]["RejectReason"]["StringValue"]
    assert reason.startswith(f"checks[0]{field if field.startswith(':') else '.' + field}"), reason


def test_a_follow_up_delivered_twice_sends_one_alert(guarded):
    # Given a look that will find the drain unfinished at the deadline
    _, body = deadline_look(guarded)

    # When SQS delivers it twice: in one batch, and again in a later one
    first = guarded.invoke(batch(body, body, ids=["m-1", "m-2"]))
    second = guarded.invoke(batch(body, ids=["m-3"]))

    # Then one drain-unfinished alert in all, the copies reported successful
    [alert] = guarded.alerts()
    assert alert.attributes["outcome"] == "drain-unfinished"
    assert first.batch_item_failures == [] and second.batch_item_failures == []
    assert second.follow_ups.duplicates == 1


def test_a_lifecycle_look_delivered_twice_continues_one_chain(guarded):
    # Given a lifecycle action waiting for its drain
    _, victim, _ = fleet_with_hook(guarded, delay=600)
    guarded.invoke(batch(lifecycle_event(victim, "web-asg")))
    [body] = follow_ups(guarded)

    # When its look is delivered twice, in two invocations
    guarded.invoke(batch(body, ids=["a"]))
    guarded.invoke(batch(body, ids=["b"]))

    # Then the chain goes on once: one next look
    nexts = looks(guarded)
    assert len(nexts) == 1 and nexts[0]["sequence"] == body["checks"][0]["sequence"] + 1


def test_a_drain_unfinished_alert_that_sns_refuses_is_sent_again_seconds_later(guarded, monkeypatch):
    # Given a look that finds the drain unfinished, and SNS refusing it
    no_backoff(monkeypatch)
    _, body = deadline_look(guarded)
    outage = {"on": True}
    FaultInjector([Fault("sns", "PublishBatch", "5xx", active=lambda: outage["on"])]).install(guarded.clients.sns)

    report = guarded.invoke(batch(body))

    # Then nothing is sent yet, the record is not left to the visibility timeout: the look is sent again, in seconds,
    # with the alert it decided
    assert guarded.alerts() == []
    assert report.batch_item_failures == []
    assert max(delays()) <= 10
    [again] = follow_ups(guarded)
    assert again["checks"][0]["alert_outcome"] == "drain-unfinished"

    # When it comes back with SNS answering (the drain has ended meanwhile): the alert it decided goes out, once
    outage["on"] = False
    moto_fidelity.end_draining()
    guarded.invoke(batch(again))
    [alert] = guarded.alerts()
    assert alert.attributes["outcome"] == "drain-unfinished"
    assert alert.document["stillDrainingCount"] == 1


def test_a_look_that_cannot_be_sent_again_comes_back_in_seconds(guarded, monkeypatch):
    # Given a lifecycle action waiting for its drain, and SQS refusing SendMessageBatch when its look comes back
    no_backoff(monkeypatch)
    _, victim, _ = fleet_with_hook(guarded, delay=600)
    guarded.invoke(batch(lifecycle_event(victim, "web-asg")))
    [body] = follow_ups(guarded)
    sqs = guarded.clients.sqs
    sqs.send_message(QueueUrl=guarded.notice_queue_url, MessageBody=json.dumps(body))
    [message] = sqs.receive_message(QueueUrl=guarded.notice_queue_url, VisibilityTimeout=360)["Messages"]
    FaultInjector([Fault("sqs", "SendMessageBatch", "5xx")]).install(sqs)

    # When the look is handled from the queue, as the event source hands it over
    record = {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"]}
    report = guarded.invoke({"Records": [record]})

    # Then its record is reported failed and is visible again within seconds, not after 360 s
    assert report.batch_item_failures == [message["MessageId"]]
    started = time.monotonic()
    again = sqs.receive_message(QueueUrl=guarded.notice_queue_url, WaitTimeSeconds=10).get("Messages", [])
    assert again and again[0]["MessageId"] == message["MessageId"] and time.monotonic() - started < 10


def test_a_lifecycle_look_not_scheduled_is_said_in_the_alert_with_what_to_do(guarded, monkeypatch):
    no_backoff(monkeypatch)
    _, victim, _ = fleet_with_hook(guarded, delay=600)
    FaultInjector([Fault("sqs", "SendMessageBatch", "5xx")]).install(guarded.clients.sqs)

    guarded.invoke(batch(lifecycle_event(victim, "web-asg")))

    [alert] = guarded.alerts()
    [failure] = [f for f in alert.document["failures"] if "follow-up not scheduled" in f]
    assert "hook's default result" in failure and "complete it by hand" in failure


def test_a_look_of_a_lifecycle_action_that_timed_out_says_so(guarded):
    # Given a lifecycle look that arrives after the action's heartbeat ran out (Auto Scaling gave up waiting)
    _, victim, _ = fleet_with_hook(guarded, delay=600)
    event = lifecycle_event(victim, "web-asg")
    token = event["detail"]["LifecycleActionToken"]
    guarded.invoke(batch(event))
    [body] = follow_ups(guarded)
    body["checks"][0]["heartbeat_expires"] = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    # Auto Scaling ended the action: moto answers "No active Lifecycle Action" from then on
    guarded.builder.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName="web-asg",
        LifecycleHookName=HOOK,
        LifecycleActionToken=token,
        LifecycleActionResult="ABANDON",
        InstanceId=victim,
    )
    guarded.alerts()

    guarded.invoke(batch(body))

    [alert] = guarded.alerts()
    assert alert.attributes["outcome"] == "lifecycle-not-completed"
    assert any("timed out" in r for r in alert.document["reasons"])


def test_follow_up_records_cut_off_by_the_tail_come_back_in_seconds(guarded, monkeypatch):
    # Given a look whose target health read hangs longer than the invocation's tail
    from spot_handler import invocation

    monkeypatch.setattr(invocation, "TAIL_SECONDS", 2.0)
    _, body = deadline_look(guarded)
    sqs = guarded.clients.sqs
    sqs.send_message(QueueUrl=guarded.notice_queue_url, MessageBody=json.dumps(body))
    [message] = sqs.receive_message(QueueUrl=guarded.notice_queue_url, VisibilityTimeout=360)["Messages"]
    injector = FaultInjector([Fault(ELBV2, "DescribeTargetHealth", "hang")])
    injector.install(guarded.clients.elbv2)
    record = {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"]}
    try:
        started = time.monotonic()
        report = guarded.invoke({"Records": [record]})
        elapsed = time.monotonic() - started
    finally:
        injector.release.set()

    # Then the handler answered at the tail, and the record comes back within seconds
    assert elapsed < 2 + 3
    assert report.batch_item_failures == [message["MessageId"]]
    again = sqs.receive_message(QueueUrl=guarded.notice_queue_url, WaitTimeSeconds=10).get("Messages", [])
    assert again and again[0]["MessageId"] == message["MessageId"]


# ---- time bounds, and the smaller things ------------------------------------------------------------------------


def test_every_call_is_attempted_as_often_as_the_documentation_says(guarded, monkeypatch):
    # Given ELB throttling every attempt of DeregisterTargets
    no_backoff(monkeypatch)
    _, victim = guarded.builder.instance_in_target_group("web", "web-1")
    attempts = []
    guarded.clients.elbv2.meta.events.register(
        "before-send.elastic-load-balancing-v2.DeregisterTargets", lambda **_: attempts.append(1)
    )
    throttled("DeregisterTargets", on={"on": True}).install(guarded.clients.elbv2)

    guarded.invoke(batch(spot_event(victim.instance_id)))

    # Then it was sent exactly CALL_ATTEMPTS times, the figure docs/delivery-guarantees.md states
    assert len(attempts) == CALL_ATTEMPTS == CLIENT_CONFIG.retries["total_max_attempts"]
    docs = (Path(__file__).parents[2] / "docs" / "delivery-guarantees.md").read_text()
    assert f"{CALL_ATTEMPTS} attempts" in docs


def test_a_capacity_reservation_drain_unfinished_alert_says_capacity_reservation(guarded):
    b = guarded.builder
    arn = b.target_group("slow", "instance", delay=120)
    victim = b.spot_instance("cr-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80])
    event = load_event("capacity-reservation-interruption.json", victim.instance_id)
    now = datetime.now(UTC)
    event["time"] = (now - timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    event["detail"]["instance-termination-time"] = (now + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    guarded.invoke(batch(event), max_deregistration_delay=None)
    guarded.alerts()

    guarded.invoke(batch(*follow_ups(guarded)))

    [second] = guarded.alerts()
    assert second.attributes["outcome"] == "drain-unfinished"
    assert second.attributes["event_type"] == "EC2 Capacity Reservation Instance Interruption Warning"
    assert second.document["detailType"] == "EC2 Capacity Reservation Instance Interruption Warning"
    assert second.subject.startswith("Capacity Reservation interruption:")


def test_a_body_that_is_a_json_string_holding_a_notice_is_decoded_once_and_parked(guarded):
    arn, victim = guarded.builder.instance_in_target_group("web", "web-1")
    wrapped = json.dumps(json.dumps(spot_event(victim.instance_id)))

    report = guarded.invoke(batch(wrapped))

    assert report.batch_item_failures == []
    assert guarded.builder.registered(arn) == [f"{victim.instance_id}:80"]  # not acted on
    assert guarded.alerts() == []
    [parked] = guarded.dead_letters()
    assert parked["MessageAttributes"]["RejectReason"]["StringValue"].startswith("body: expected a JSON object")


def test_the_alert_bound_holds_while_every_dependency_but_sns_hangs(guarded):
    # Given EC2, ELB, DynamoDB and SQS all hanging
    _, victim = guarded.builder.instance_in_target_group("web", "web-1")
    faults = [
        Fault("ec2", "*", "hang"),
        Fault(ELBV2, "*", "hang"),
        Fault("dynamodb", "*", "hang"),
    ]
    injector = FaultInjector(faults)
    injector.install(guarded.clients.ec2, guarded.clients.elbv2, guarded.clients.dynamodb)
    published = []
    guarded.clients.sns.meta.events.register(
        "before-call.sns.PublishBatch", lambda **_: published.append(time.monotonic())
    )
    try:
        started = time.monotonic()
        report = guarded.invoke(batch(spot_event(victim.instance_id, seconds_ago=10)), budget=TimeBudget.start())
        took = time.monotonic() - started
    finally:
        injector.release.set()

    # Then the alert went out within its bound, and the answer came before the function's timeout
    [alert] = guarded.alerts()
    assert alert.document["possiblyRepeated"] is True
    assert published and published[0] - started < ALERT_BOUND_SECONDS
    assert took < 60
    assert report.batch_item_failures == []
