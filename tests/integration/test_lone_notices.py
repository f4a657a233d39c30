"""The two copies of an interruption warning through the entry point: the lone-notice queue's and the notice queue's.

A lone warning is drained and alerted from the lone-notice queue, and its notice queue copy is then a duplicate; a
burst on the lone-notice queue does nothing at all and the notice queue's batch does the work (spot_handler/lanes.py).
"""

from __future__ import annotations

import json

import pytest
from spot_handler.settings import get_settings

from local.lambda_runtime import LambdaContext, queue_arn, sqs_event, sqs_record
from tests.support.emf import emitted_metrics
from tests.support.events import load_event

LONE_NAME = "spot-lone-notices"
LONE_ARN = queue_arn(LONE_NAME)
NOTICES_ARN = queue_arn("handler-notices")


@pytest.fixture
def function(account, lambda_function, monkeypatch):
    """The entry point as deployed: the idempotency table, the notice queue, and the lone-notice queue."""
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", account.builder.idempotency_table("spot-idempotency"))
    monkeypatch.setenv("NOTICE_QUEUE_URL", account.notice_queue_url)
    monkeypatch.setenv("LONE_NOTICE_QUEUE_URL", f"https://sqs.us-east-2.amazonaws.com/123456789012/{LONE_NAME}")
    get_settings.cache_clear()
    return lambda_function


def copies(*instance_ids: str, source: str) -> dict:
    """One SQS batch of `source`, a Spot warning per instance (EventBridge puts the same body in both queues)."""
    bodies = [json.dumps(load_event("spot-interruption-instance-tg.json", i)) for i in instance_ids]
    return sqs_event(sqs_record(body, source_arn=source) for body in bodies)


def web(account, count: int) -> tuple[str, list[str]]:
    b = account.builder
    arn = b.target_group("web", delay=300)
    ids = [b.spot_instance(f"web-{n}", tags={"TargetGroupArn": arn}).instance_id for n in range(count)]
    b.register(arn, ids, ports=[80])
    return arn, ids


def test_a_lone_warning_is_drained_from_the_lone_queue_and_its_notice_queue_copy_is_a_duplicate(account, function):
    # Given one instance in a target group
    arn, [instance] = web(account, 1)

    # When the lone-notice queue hands over its copy alone
    first = function(copies(instance, source=LONE_ARN), LambdaContext())

    # Then it is out of service and alerted at once
    assert first == {"batchItemFailures": []}
    assert account.builder.registered(arn) == []
    assert len(account.alerts()) == 1

    # And when the notice queue's copy arrives in its batch, nothing is alerted again
    second = function(copies(instance, source=NOTICES_ARN), LambdaContext())
    assert second == {"batchItemFailures": []}
    assert account.alerts() == []  # (alerts() takes what reached the subscriber since it last looked)


def test_a_burst_on_the_lone_queue_is_left_whole_to_the_notice_queues_batch(account, function, capsys):
    # Given three instances in a target group
    arn, instances = web(account, 3)

    # When the lone-notice queue hands over three warnings in one batch
    response = function(copies(*instances, source=LONE_ARN), LambdaContext())

    # Then it reports them handled (the lone queue drops them) and has done nothing: no drain, no alert
    assert response == {"batchItemFailures": []}
    assert sorted(account.builder.registered(arn)) == sorted(f"{i}:80" for i in instances)
    assert account.alerts() == []
    assert emitted_metrics(capsys.readouterr().out)["NoticesLeftToBatches"] == 3.0

    # And the notice queue's batch of the same warnings drains and alerts every one, once
    assert function(copies(*instances, source=NOTICES_ARN), LambdaContext()) == {"batchItemFailures": []}
    assert account.builder.registered(arn) == []
    assert len(account.alerts()) == 3


def test_a_lifecycle_action_on_the_lone_queue_waits_for_its_batch(account, function):
    # Given a lifecycle action that reached the lone-notice queue (a rule pattern that sends it there)
    arn, [instance] = web(account, 1)
    body = json.dumps(load_event("lifecycle-terminate.json", instance))

    # When it arrives alone
    response = function(sqs_event([sqs_record(body, source_arn=LONE_ARN)]), LambdaContext())

    # Then nothing is done: its action is completed once, from the notice queue's copy
    assert response == {"batchItemFailures": []}
    assert account.builder.registered(arn) == [f"{instance}:80"]
    assert account.alerts() == []


def test_when_the_lone_path_cannot_alert_the_notice_queue_copy_does(account, function, monkeypatch):
    # Given a lone warning whose alert cannot go out (the topic is gone)
    arn, [instance] = web(account, 1)
    monkeypatch.setenv("ALERT_TOPIC_ARN", account.topic_arn + "-missing")
    get_settings.cache_clear()

    # When the lone-notice queue hands it over
    failed = function(copies(instance, source=LONE_ARN), LambdaContext())

    # Then it is drained all the same, and reported failed with its claim released
    assert len(failed["batchItemFailures"]) == 1
    assert account.builder.registered(arn) == []

    # And the notice queue's copy, once the topic is back, sends the one alert
    monkeypatch.setenv("ALERT_TOPIC_ARN", account.topic_arn)
    get_settings.cache_clear()
    assert function(copies(instance, source=NOTICES_ARN), LambdaContext()) == {"batchItemFailures": []}
    assert len(account.alerts()) == 1
