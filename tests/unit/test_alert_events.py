"""PutEvents requests: ten entries and 256 KB at most, and every entry EventBridge refuses named.

EventBridge reports a refused entry in its answer (FailedEntryCount, an ErrorCode in the entry's place), which moto
never does: botocore's Stubber gives that answer here, and checks each request against the service model. The
events reaching a rule on a bus are tested against moto (tests/integration/test_operator_channels.py).
"""

from __future__ import annotations

import json
import time

import boto3
from botocore.stub import ANY, Stubber
from spot_handler.alerting.events import DETAIL_TYPE, SOURCE, AlertEvents, alert_event
from spot_handler.alerting.first_alert import compose_alert
from spot_handler.aws.events import PUT_EVENTS_MAX_BYTES, entry_size, put_events, put_events_requests

from tests.support.outcomes import dense, drained, outcome


def events_client():
    return boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-2").client(
        "events"
    )


def entry(detail_bytes: int, n: int = 0) -> dict:
    return {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps({"n": n, "x": "x" * detail_bytes})}


def test_requests_hold_ten_entries_and_256_kb_at_most():
    small = [entry(100, n) for n in range(25)]
    large = [entry(60_000, n) for n in range(10)]

    assert [len(r) for r in put_events_requests(small)] == [10, 10, 5]
    requests = put_events_requests(large)
    assert [i for r in requests for i in r] == list(range(10))  # every entry once, in order
    assert all(sum(entry_size(large[i]) for i in r) <= PUT_EVENTS_MAX_BYTES for r in requests)
    assert len(requests) == 3


def test_an_entry_eventbridge_refuses_is_named_and_the_others_are_not():
    client = events_client()
    entries = [entry(10, n) for n in range(12)]
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"EventId": f"e-{n}"} for n in range(3)]
                + [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]
                + [{"EventId": f"e-{n}"} for n in range(4, 10)],
            },
            {"Entries": entries[:10]},
        )
        stub.add_client_error("put_events", "AccessDeniedException", "not authorized", expected_params={"Entries": ANY})

        failed = put_events(client, entries)

    assert failed == {
        3: "InternalFailure: try again",
        10: "AccessDeniedException: not authorized",
        11: ("AccessDeniedException: not authorized"),
    }


def test_the_event_of_an_alert_is_its_json_document_on_the_bus():
    alert = compose_alert(outcome(drains=drained()), "0")

    event = alert_event(alert, "ops-bus")

    assert event == {
        "Source": "spot-interruption-handler",
        "DetailType": "Spot Interruption Alert",
        "Detail": json.loads(alert.message)["default"],
        "EventBusName": "ops-bus",
        "Resources": ["arn:aws:ec2:us-east-2:123456789012:instance/i-0a1b2c3d4e5f60001"],
    }


def test_alerts_sns_refused_are_not_put_and_publish_answers_as_before():
    # Given the events of an invocation, and a publish that sends the first alert and refuses the second
    client = events_client()
    events = AlertEvents(client, "default")
    first, second = compose_alert(outcome(drains=drained()), "0"), compose_alert(dense(1, 10), "1")
    publish = events.after(lambda alerts: {"1": "InternalError: injected"})

    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "e-0"}]},
            {"Entries": [alert_event(first, "default")]},
        )
        # When the alerts are published and the invocation ends
        answer = publish([first, second])
        failures = events.finish(time.monotonic() + 5)

    # Then publish's answer is its own, and only the alert that went out was put (Stubber fails on any other call)
    assert answer == {"1": "InternalError: injected"}
    assert failures == []


def test_no_bus_no_events():
    def publish(alerts):
        return {}

    events = AlertEvents(events_client(), "")

    assert events.after(publish) is publish
    assert events.finish(time.monotonic()) == []
