"""Every interruption gets exactly one alert, whatever AWS does: the suite behind docs/delivery-guarantees.md.

Over a thousand notices (a third of them duplicates: EventBridge re-sends and EC2 re-notices, 60 malformed records)
go through a moto SQS queue with the template's redrive policy to the handler, while its clients meet throttling,
5xx, timeouts, AccessDenied on one target group, an SNS outage, a DynamoDB outage and a hanging ELB call.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from spot_handler.aws import AwsClients
from spot_handler.aws.sns import PUBLISH_REQUEST_MAX_BYTES
from spot_handler.budget import ALERT_BOUND_SECONDS

from tests.conftest import REGION
from tests.reliability.harness import (
    HANG_AT,
    MAX_RECEIVE_COUNT,
    Figures,
    Poller,
    SimulatedClock,
    build_account,
    count,
    faults,
    make_notices,
)
from tests.support.faults import FaultInjector, no_backoff

pytestmark = pytest.mark.reliability

SEED = 20261126
INSTANCES = 420


def test_no_alert_is_lost_or_doubled_under_faults(account, monkeypatch, request):
    # Given the stack's queues (redrive after 5 receives), the idempotency table, and 420 Spot instances
    no_backoff(monkeypatch)
    session = boto3.session.Session(region_name=REGION)
    sqs = session.client("sqs")
    dynamodb = session.client("dynamodb")
    dynamodb.create_table(
        TableName="idempotency",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dlq_arn = sqs.get_queue_attributes(QueueUrl=account.dead_letter_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="notices",
        Attributes={
            "VisibilityTimeout": "360",
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "{MAX_RECEIVE_COUNT}"}}',
        },
    )["QueueUrl"]
    ids, tags_of, _groups, denied = build_account(account.builder, INSTANCES, SEED)
    noticed = datetime.now(UTC).replace(microsecond=0)
    deadline = noticed + timedelta(seconds=120)
    stream, expected, duplicates_sent, malformed = make_notices(ids, SEED, now=noticed)

    # And the handler's own clients, with faults injected into every service it calls
    clients = AwsClients.create(session)
    clock = SimulatedClock()
    injector = FaultInjector(faults(clock, denied), seed=SEED).install(
        clients.ec2, clients.elbv2, clients.sns, clients.sqs, clients.dynamodb
    )
    settings = account.settings(idempotency_table_name="idempotency")

    # When EventBridge delivers the notices and the poller drives the handler until the queue is empty
    figures = Figures(notices=len(stream), malformed=len(malformed), duplicates_sent=duplicates_sent)
    # (the handler's own follow-ups go to this queue, as in the template: one queue for notices and looks)
    settings = dataclasses.replace(settings, notice_queue_url=queue_url)
    poller = Poller(clients, settings, queue_url, clock, figures)
    try:
        poller.run(stream, injector, hang_window_end=HANG_AT + 1, last_deadline=deadline)
    finally:
        injector.release.set()
    count(
        figures,
        account.clients,
        account.subscriber_queue_url,
        account.dead_letter_queue_url,
        expected,
        malformed,
        account.builder,
        tags_of,
        denied,
        deregistered=poller.deregistered,
        deadline=deadline,
    )
    figures.faults = injector.injected

    print(
        f"\ninvocations={figures.invocations} simulated_seconds={clock.now} max_alert_seconds="
        f"{figures.max_alert_seconds:.1f} interruptions={len(expected)} duplicates_sent={duplicates_sent} "
        f"malformed={len(malformed)} faults={sum(injector.injected.values())} "
        f"largest_publish_batch_bytes={figures.largest_publish_batch_bytes}"
    )
    for (service, operation, kind), n in sorted(injector.injected.items()):
        print(f"  fault {service} {operation} {kind}: {n}")
    # printed again by tests/reliability/conftest.py as the last line of the run
    request.config.reliability_result_lines = [
        *getattr(request.config, "reliability_result_lines", []),
        figures.result_line(),
    ]
    print(figures.result_line())

    # Then no interruption is without its alert, none has two, and every poison record waits in the DLQ
    assert figures.lost == 0, figures.lost_keys[:10]
    assert figures.doubled == 0, figures.doubled_keys[:10]
    # And every instance that can be drained is out of every target group before its deadline, although drains
    # failed past their retries along the way (they were drained again by looks)
    assert figures.drained == figures.drainable, (figures.drained_late, figures.undrained[:10])
    assert figures.redrained > 0
    # (the idempotency table down for 4 s: those interruptions were alerted within the bound, saying they might be
    # repeated, and a duplicate notice arriving before their claim could be written alerted them again)
    assert figures.alerts - figures.announced_repeats == len(expected)
    assert figures.malformed_missing_from_dlq == 0
    assert len(stream) >= 1000 and duplicates_sent >= 0.2 * len(stream) and len(malformed) >= 50
    # And every fault kind was met, and the alert went out within the stated bound even while ELB hung
    kinds = {kind for (_, _, kind) in injector.injected}
    assert injector.injected[("elastic-load-balancing-v2", "DeregisterTargets", "throttle")] >= 4
    assert injector.injected[("ec2", "DescribeInstances", "throttle")] >= 4
    assert kinds == {"throttle", "5xx", "timeout", "access-denied", "hang", "conflict"}
    assert figures.max_alert_seconds < ALERT_BOUND_SECONDS
    assert 0 < figures.largest_publish_batch_bytes <= PUBLISH_REQUEST_MAX_BYTES
