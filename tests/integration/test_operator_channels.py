"""Where operators look, against a moto account: the chat message an HTTPS subscriber (Amazon Q Developer in chat
applications) receives, the alert events a rule on the bus routes, the Interruptions metric per capacity pool, and
faults of EventBridge that must not touch the SNS alert.

docs/samples/chat-messages.json and docs/samples/alert-event.json are written by this module from a real run
(test_a_spot_interruption_drained_late_reaches_chat_and_the_bus): it compares them with what the run produced, and
SPOT_WRITE_SAMPLES=1 writes them afresh.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from spot_handler.invocation import handle_invocation

from local.lambda_runtime import LambdaContext
from tests.conftest import ACCOUNT, REGION
from tests.support.alerts import drain_queue
from tests.support.chat import SCHEMA
from tests.support.emf import emf_lines, interruptions
from tests.support.events import load_event
from tests.support.faults import Fault, FaultInjector, no_backoff
from tests.support.followups import IDEMPOTENCY_TABLE, follow_ups

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
SPOT = "spot-interruption-instance-tg.json"
ALERT_PATTERN = {"source": ["spot-interruption-handler"], "detail-type": ["Spot Interruption Alert"]}


def invoke(account, *events, clock=None, **settings):
    batch = {"Records": [{"messageId": f"m-{i}", "body": json.dumps(e)} for i, e in enumerate(events)]}
    extra = {"clock": clock} if clock else {}
    return handle_invocation(batch, account.clients, account.settings(**settings), **extra)


def rule_into_queue(account, name: str, pattern: dict) -> str:
    """A rule on the default bus sending what matches `pattern` to a new SQS queue; the queue's URL."""
    sqs, events = account.clients.sqs, account.clients.events
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern), EventBusName="default")
    events.put_targets(Rule=name, EventBusName="default", Targets=[{"Id": name, "Arn": arn}])
    return url


def events_in(account, queue_url: str) -> list[dict]:
    return [json.loads(m["Body"]) for m in drain_queue(account.clients.sqs, queue_url)]


def https_messages(account) -> list[str]:
    """What an HTTPS subscriber receives of each alert: SNS picks the message's "https" key."""
    from moto.sns import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[account.topic_arn]
    return [json.loads(message)["https"] for _, message, _, _, _ in topic.sent_notifications]


def at(moment: datetime):
    return lambda: moment


def test_a_spot_interruption_drained_late_reaches_chat_and_the_bus(account):
    # Given rules on the default bus: one for every alert, one for the failures a person must act on
    every_alert = rule_into_queue(account, "every-alert", ALERT_PATTERN)
    failures = rule_into_queue(
        account, "alert-failures", {**ALERT_PATTERN, "detail": {"outcome": ["failed", "drain-unfinished"]}}
    )
    # and an instance in a target group whose delay (300 s) outlasts its two minutes, left as it is
    b = account.builder
    arn = b.target_group("web", "instance", delay=300)
    victim = b.spot_instance("web-1", tags={"TargetGroupArn": arn}, instance_type="m5.large")
    b.register(arn, [victim.instance_id], ports=[80, 8080])
    warning = load_event(SPOT, victim.instance_id)
    noticed = datetime.fromisoformat(warning["time"].replace("Z", "+00:00"))
    settings = {"alert_event_bus_name": "default", "max_deregistration_delay": None}

    # When its warning is handled a minute after it was sent, and its follow-up looks just before the deadline
    invoke(account, warning, clock=at(noticed + timedelta(seconds=60)), **settings)
    [follow_up] = follow_ups(account)
    due = datetime.fromisoformat(follow_up["checks"][0]["due"])
    invoke(account, follow_up, clock=at(due), **settings)

    # Then subscribers have two alerts: drained, then drain unfinished
    received = account.alerts()
    assert [a.document["outcome"] for a in received] == ["drained", "drain-unfinished"]
    # and the chat integration has two messages of the custom-notification schema, in one thread
    chats = [json.loads(m) for m in https_messages(account)]
    for chat in chats:
        jsonschema.validate(chat, SCHEMA)
    assert chats[0]["metadata"]["threadId"] == chats[1]["metadata"]["threadId"]
    assert [c["metadata"]["additionalContext"]["outcome"] for c in chats] == ["drained", "drain-unfinished"]
    # and the bus has both alerts, each with the JSON document SQS subscribers got as its detail
    alerts_on_bus = events_in(account, every_alert)
    assert [e["detail"] for e in alerts_on_bus] == [a.document for a in received]
    assert {(e["source"], e["detail-type"]) for e in alerts_on_bus} == {
        ("spot-interruption-handler", "Spot Interruption Alert")
    }
    assert alerts_on_bus[0]["resources"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{victim.instance_id}"]
    # and the rule for failures routed the drain-unfinished alert only
    [routed] = events_in(account, failures)
    assert routed["detail"]["outcome"] == "drain-unfinished"

    compare_or_write_samples(chats, routed, victim.instance_id, arn)


def compare_or_write_samples(chats: list[dict], event: dict, instance_id: str, target_group_arn: str) -> None:
    """docs/samples/: the chat messages of one incident and the EventBridge event of its drain-unfinished alert.

    moto picks instance ids and target group ARNs, and EventBridge the event's id and time: these become fixed ones
    (the sample events' instance id, a fixed ARN suffix, a fixed id and the alert's own time), and the event's
    `account`, which moto leaves out of what it sends to a queue, is the run's. Nothing else changes.
    """
    fixed = {
        instance_id: "i-0a1b2c3d4e5f60001",
        target_group_arn: "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef",
    }
    samples = {
        "chat-messages.json": chats,
        "alert-event.json": {
            "version": event["version"],
            "id": "3f5d6c2a-8b1e-4f0a-9c7d-2e6b4a1c9d80",
            "detail-type": event["detail-type"],
            "source": event["source"],
            "account": ACCOUNT,
            "time": event["detail"]["checkedAt"],
            **{key: value for key, value in event.items() if key not in ("id", "time", "account")},
        },
    }
    for name, sample in samples.items():
        text = json.dumps(sample, indent=2, ensure_ascii=False) + "\n"
        for real, shown in fixed.items():
            text = text.replace(real, shown)
        # threadId digests the instance id: the sample shows the thread of the fixed one
        text = re.sub(r"spot-[0-9a-f]{40}", _thread_of_fixed_instance(), text)
        path = SAMPLES / name
        if os.environ.get("SPOT_WRITE_SAMPLES") == "1":
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
        assert path.read_text() == text, f"{path} is not what a run produces (SPOT_WRITE_SAMPLES=1 writes it)"


def _thread_of_fixed_instance() -> str:
    from spot_handler.alerting.chat import thread_id

    return thread_id(ACCOUNT, "i-0a1b2c3d4e5f60001", "interruption", load_event(SPOT)["id"])


def test_no_bus_no_event(account):
    every_alert = rule_into_queue(account, "every-alert", ALERT_PATTERN)
    victim = account.builder.spot_instance("web-1")

    invoke(account, load_event(SPOT, victim.instance_id))  # alert_event_bus_name left empty

    assert len(account.alerts()) == 1
    assert events_in(account, every_alert) == []


def test_eventbridge_failing_neither_delays_nor_fails_the_alert(account, monkeypatch):
    # Given EventBridge answering every PutEvents with a server error
    no_backoff(monkeypatch)
    FaultInjector([Fault("eventbridge", "PutEvents", "5xx")]).install(account.clients.events)
    victim = account.builder.spot_instance("web-1")

    report = invoke(account, load_event(SPOT, victim.instance_id), alert_event_bus_name="default")

    # Then the alert is out, no record is delivered again, and the alert whose event was not put is named
    assert [a.document["instanceId"] for a in account.alerts()] == [victim.instance_id]
    assert report.batch_item_failures == []
    [failure] = report.event_failures
    assert failure.instance_id == victim.instance_id and failure.outcome == "nothing-to-drain"
    assert failure.error.startswith("InternalFailure")


def test_eventbridge_hanging_does_not_hold_the_alert_back(account, monkeypatch):
    # Given EventBridge that does not answer until the test lets it
    no_backoff(monkeypatch)
    faults = FaultInjector([Fault("eventbridge", "PutEvents", "hang")]).install(account.clients.events)
    victim = account.builder.spot_instance("web-1")
    done: dict = {}
    handler = threading.Thread(
        target=lambda: done.setdefault(
            "report", invoke(account, load_event(SPOT, victim.instance_id), alert_event_bus_name="default")
        )
    )

    # When the handler runs
    handler.start()
    try:
        # Then the alert reaches its subscriber while PutEvents still hangs
        received = []
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            received = account.alerts()
            time.sleep(0.05)
        assert [a.document["instanceId"] for a in received] == [victim.instance_id]
        assert handler.is_alive() and faults.injected[("eventbridge", "PutEvents", "hang")] >= 1
    finally:
        faults.release.set()
        handler.join(timeout=60)
    # and once PutEvents gives up, the invocation still fails no record and names the event not put
    report = done["report"]
    assert report.batch_item_failures == []
    assert [f.instance_id for f in report.event_failures] == [victim.instance_id]


@pytest.fixture
def entry_point(lambda_function, account, monkeypatch):
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", account.builder.idempotency_table(IDEMPOTENCY_TABLE))
    monkeypatch.setenv("NOTICE_QUEUE_URL", account.notice_queue_url)
    monkeypatch.setenv("MAX_DEREGISTRATION_DELAY_SECONDS", "off")
    monkeypatch.setenv("ALERT_EVENT_BUS_NAME", "default")
    return lambda_function


def now_iso(seconds_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="seconds").replace("+00:00", "Z")


def test_one_interruptions_per_incident_and_pool_in_the_emf_lines_of_a_batch(account, entry_point, capsys):
    # Given three instances in two pools, the first in a target group that drains past its deadline
    b = account.builder
    arn = b.target_group("web", "instance", delay=300)
    a = b.spot_instance("a", tags={"TargetGroupArn": arn}, instance_type="c6g.large", zone_index=0)
    c = b.spot_instance("c", instance_type="c6g.large", zone_index=0)
    d = b.spot_instance("d", instance_type="m5.large", zone_index=1)
    e = b.spot_instance("e", instance_type="m5.large", zone_index=0)
    b.register(arn, [a.instance_id], ports=[80])
    warning = {**load_event(SPOT, a.instance_id), "time": now_iso(60)}
    records = [
        warning,
        warning,  # EventBridge delivered it twice
        {**warning, "id": "a-renotice", "time": now_iso(55)},  # EC2 noticed the same interruption again
        {**load_event(SPOT, d.instance_id), "time": now_iso(60)},
        {**load_event("capacity-reservation-interruption.json", c.instance_id), "time": now_iso(60)},
        {**load_event("rebalance-recommendation.json", e.instance_id), "time": now_iso(0)},  # advice only
    ]

    # When Lambda hands the function that batch
    response = entry_point(sqs_batch(records), LambdaContext())

    # Then each incident of a reclaim counts once, in its pool, and no line names an instance
    assert response == {"batchItemFailures": []}
    output = capsys.readouterr().out
    lines = emf_lines(output)
    pools, fleet = interruptions(output)
    service = {"service": "spot-interruption-handler"}
    assert sorted(pools, key=json.dumps) == sorted(
        [
            {"InstanceType": "c6g.large", "AvailabilityZone": "us-east-2a", **service},
            {"InstanceType": "c6g.large", "AvailabilityZone": "us-east-2a", **service},
            {"InstanceType": "m5.large", "AvailabilityZone": "us-east-2b", **service},
        ],
        key=json.dumps,
    )
    assert fleet == 3
    assert not any(v.startswith("i-") for line in lines for v in line.values() if isinstance(v, str))

    # When the next batch brings the warning once more and the first instance's follow-up, which alerts again
    [follow_up] = follow_ups(account)
    response = entry_point(sqs_batch([warning, follow_up], start=10), LambdaContext())

    # Then it counts no interruption: a duplicate and a follow-up are not new incidents
    assert response == {"batchItemFailures": []}
    assert interruptions(capsys.readouterr().out) == ([], 0)
    assert [a.document["outcome"] for a in account.alerts()][-1] == "drain-unfinished"


def sqs_batch(bodies: list[dict], start: int = 0) -> dict:
    return {
        "Records": [
            {"messageId": f"m-{start + i}", "body": json.dumps(body), "eventSource": "aws:sqs"}
            for i, body in enumerate(bodies)
        ]
    }
