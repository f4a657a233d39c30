"""The Lambda entry point as Lambda calls it: environment settings, cached clients, Powertools wiring."""

from __future__ import annotations

import pytest

from local.lambda_runtime import LambdaContext
from tests.support.emf import emitted_metrics
from tests.support.events import load_event, placeholder_ids


@pytest.fixture
def handler(lambda_function, monkeypatch):
    """The entry point with a drain budget from its environment other than the default."""
    monkeypatch.setenv("MAX_DEREGISTRATION_DELAY_SECONDS", "90")
    return lambda_function


def test_sqs_batch_through_the_entry_point(account, handler, capsys):
    # Given the sample batch, its three instances registered in a 300 s target group
    b = account.builder
    arn = b.target_group("web", delay=300)
    placeholders = placeholder_ids("sqs-batch.json")
    real = [b.spot_instance(f"web-{n}", tags={"TargetGroupArn": arn}).instance_id for n in range(len(placeholders))]
    b.register(arn, real, ports=[80])

    # When Lambda invokes the function with it
    response = handler(load_event("sqs-batch.json", **dict(zip(placeholders, real))), LambdaContext())

    # Then the batch succeeds, the target group is empty with the budget from the environment, metrics are out
    assert response == {"batchItemFailures": []}
    assert b.registered(arn) == []
    assert b.deregistration_delay(arn) == 90
    assert len(account.alerts()) == 3
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["NoticesReceived"] == 4.0
    assert metrics["MalformedNotices"] == 1.0
    assert metrics["TargetsDeregistered"] == 3.0
    assert "SecondsLeftAtDrain" in metrics


def test_bare_event_returns_and_alert_failure_is_raised_for_retry(account, handler, monkeypatch):
    from spot_handler.invocation import AlertNotPublished
    from spot_handler.settings import get_settings

    victim = account.builder.spot_instance("solo")
    event = load_event("spot-interruption-instance-tg.json", victim.instance_id)

    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert len(account.alerts()) == 1

    # When the topic is gone, the alert cannot go out: the invocation fails so the caller retries
    monkeypatch.setenv("ALERT_TOPIC_ARN", account.topic_arn + "-missing")
    get_settings.cache_clear()
    with pytest.raises(AlertNotPublished) as raised:
        handler(event, LambdaContext())
    assert victim.instance_id in str(raised.value)
