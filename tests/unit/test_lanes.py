"""Which invocations of the lone-notice queue act, and which leave their records to the notice queue's batches."""

from __future__ import annotations

import dataclasses
import json

import pytest
from spot_handler.lanes import left_to_notice_queue
from spot_handler.settings import Settings

from local.lambda_runtime import queue_arn, sqs_event, sqs_record
from tests.support.events import load_event

LONE_URL = "https://sqs.us-east-2.amazonaws.com/123456789012/spot-lone-notices"
LONE_ARN = queue_arn("spot-lone-notices")
NOTICES_ARN = queue_arn("spot-notices")
SETTINGS = Settings(
    alert_topic_arn="arn:aws:sns:us-east-2:123456789012:alerts",
    lone_notice_queue_url=LONE_URL,
    idempotency_table_name="spot-idempotency",
)


def batch(*names: str, source: str = LONE_ARN) -> dict:
    return sqs_event(
        sqs_record(json.dumps(load_event(name, f"i-0{n:016x}")), source_arn=source) for n, name in enumerate(names)
    )


def test_a_lone_interruption_warning_is_acted_on():
    assert left_to_notice_queue(batch("spot-interruption-instance-tg.json"), SETTINGS) is None
    assert left_to_notice_queue(batch("capacity-reservation-interruption.json"), SETTINGS) is None


def test_two_or_more_notices_within_the_window_are_a_burst_left_to_the_batches():
    reason = left_to_notice_queue(batch(*["spot-interruption-instance-tg.json"] * 2), SETTINGS)
    assert reason is not None and "2 notices" in reason and "burst" in reason


@pytest.mark.parametrize("name", ["rebalance-recommendation.json", "lifecycle-terminate.json"])
def test_signals_other_than_interruption_warnings_wait_for_the_batches(name):
    # A lifecycle action completes its action once per signal: two copies of it would do that twice.
    assert "not an interruption warning" in left_to_notice_queue(batch(name), SETTINGS)


def test_a_malformed_record_is_left_to_the_notice_queue_which_parks_it_once():
    event = sqs_event([sqs_record("{not json", source_arn=LONE_ARN)])
    assert "not a notice" in left_to_notice_queue(event, SETTINGS)


def test_a_foreign_account_is_left_to_the_notice_queue_which_parks_it_once():
    hub = dataclasses.replace(SETTINGS, hub_account_id="123456789012", member_account_ids="111111111111")
    event = load_event("spot-interruption-instance-tg.json", "i-0123456789abcdef0")
    event["account"] = "999999999999"
    assert "does not serve" in left_to_notice_queue(
        sqs_event([sqs_record(json.dumps(event), source_arn=LONE_ARN)]), hub
    )


def test_the_notice_queue_and_bare_events_are_always_handled():
    assert (
        left_to_notice_queue(batch(*["spot-interruption-instance-tg.json"] * 3, source=NOTICES_ARN), SETTINGS) is None
    )
    assert (
        left_to_notice_queue(load_event("spot-interruption-instance-tg.json", "i-0123456789abcdef0"), SETTINGS) is None
    )


def test_without_a_lone_notice_queue_every_batch_is_handled():
    plain = Settings(alert_topic_arn=SETTINGS.alert_topic_arn)
    assert left_to_notice_queue(batch(*["spot-interruption-instance-tg.json"] * 2), plain) is None


def test_without_the_idempotency_table_the_lone_path_stands_aside():
    # Its claim is what makes the notice queue's copy a duplicate: without it, both copies would alert.
    unclaimed = dataclasses.replace(SETTINGS, idempotency_table_name="")
    assert "no idempotency table" in left_to_notice_queue(batch("spot-interruption-instance-tg.json"), unclaimed)
