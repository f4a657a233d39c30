"""Property: whatever a record holds, it is handled or parked with a reason, and never fails the records beside it.

Hypothesis throws arbitrary JSON values and mutations of the real notices in events/ at the whole invocation path
(an SQS batch, and a bare event) against one moto account. After each example the account must show: every record
either handled (an alert published) or parked in the DLQ with a RejectReason naming a field; nothing to deliver again.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spot_handler.invocation import handle_invocation, read_record
from spot_handler.models import MalformedNotice
from spot_handler.signals.sweep import is_sweep

from tests.support.events import EVENTS_DIR, load_event

NOTICES = [
    load_event(p.name)
    for p in sorted(EVENTS_DIR.glob("*.json"))
    if "Records" not in load_event(p.name) and not is_sweep(load_event(p.name))  # a batch, the sweep's schedule
]
# A reason starts with the field at fault: "detail.instance-id: ...", "time: ...", "body: ...".
REASON = re.compile(r"^[A-Za-z][A-Za-z0-9_.\[\]-]*(:| is missing)")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
odd_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=()), max_size=30)


@st.composite
def mutated_notices(draw) -> dict:
    """A real notice with one field (top level or in detail) replaced, removed, or its text altered."""
    event = json.loads(json.dumps(draw(st.sampled_from(NOTICES))))
    target = draw(st.sampled_from([event, event["detail"]]))
    key = draw(st.sampled_from(sorted(target)))
    how = draw(st.sampled_from(["replace", "remove", "append", "prepend", "time"]))
    if how == "remove":
        del target[key]
    elif how == "replace":
        target[key] = draw(json_values)
    elif how == "time":
        target[key] = draw(st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))
    elif isinstance(target[key], str):
        extra = draw(odd_text)
        target[key] = target[key] + extra if how == "append" else extra + target[key]
    return event


records = st.one_of(
    mutated_notices().map(json.dumps),
    json_values.map(json.dumps),
    json_values,  # a body that is not even text
    st.text(max_size=60),
    st.integers(min_value=1, max_value=3000).map(lambda depth: "[" * depth + "]" * depth),
)

PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "1500")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(bodies=st.lists(records, min_size=1, max_size=6))
def test_any_sqs_batch_is_handled_or_parked_with_a_reason(account, bodies):
    event = {"Records": [{"messageId": f"m-{i}", "body": body} for i, body in enumerate(bodies)]}

    report = handle_invocation(event, account.clients, account.settings())

    parked = account.dead_letters()
    alerts = account.alerts()
    assert report.batch_item_failures == []  # nothing is left to be delivered again
    assert len(parked) == len(report.rejected)
    for message in parked:
        assert REASON.match(message["MessageAttributes"]["RejectReason"]["StringValue"])
    handled = [r for r in report.results if r.outcome is not None]
    assert len(alerts) == len(handled)
    assert len(report.results) + len(report.rejected) + report.duplicates - _repeats(report) == len(bodies)


def _repeats(report) -> int:
    """Duplicates already alerted count among the results as well as in `duplicates`."""
    return sum(1 for r in report.results if r.duplicate)


@PROPERTY_SETTINGS
@given(event=st.one_of(mutated_notices(), json_values))
def test_any_bare_event_is_handled_or_parked_with_a_reason(account, event):
    try:
        report = handle_invocation(event, account.clients, account.settings())
    except MalformedNotice as exc:
        [message] = account.dead_letters()
        reason = message["MessageAttributes"]["RejectReason"]["StringValue"]
        assert REASON.match(reason) and reason.startswith(exc.reason[:200].split(":")[0])
        assert account.alerts() == []
        return
    # A JSON value can be shaped like an SQS batch ({"Records": [...]}): it is then handled as one, record by record
    parked = account.dead_letters()
    assert report.batch_item_failures == []
    assert len(parked) == len(report.rejected)
    assert all(REASON.match(m["MessageAttributes"]["RejectReason"]["StringValue"]) for m in parked)
    assert all(r.handled for r in report.results)
    # one alert per notice, unless it was out of scope (another tool's lifecycle hook): then none
    assert len(account.alerts()) == sum(1 for r in report.results if r.outcome is not None)


@pytest.mark.parametrize("text", ["i-0a1b2c3d4e5f60001\n", "i-0a1b2c3d4e5f60001 ", "\ti-0a1b2c3d4e5f60001"])
def test_an_instance_id_with_anything_extra_is_rejected(account, text):
    event = load_event("spot-interruption-instance-tg.json")
    event["detail"]["instance-id"] = text

    with pytest.raises(MalformedNotice, match=r"detail\.instance-id"):
        handle_invocation(event, account.clients, account.settings())


# ---- the handler's own follow-ups: as safe as notices (issue 21) ----------------------------------------------------


def _looks() -> list[dict]:
    """A deadline look and a lifecycle look as the handler writes them (followups/check.py)."""
    from datetime import UTC, datetime, timedelta

    from spot_handler.followups import DEADLINE, LIFECYCLE, Check, follow_up_body

    now = datetime.now(UTC)
    common = {
        "account": "123456789012",
        "region": "us-east-2",
        "instance_id": "i-0a1b2c3d4e5f60001",
        "notice_id": "n-1",
        "due": now,
        "deregistered_at": now,
        "targets": {"arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef": ["x:80"]},
        "delays": {"arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef": 60},
        "chain": "c",
        "noticed_at": now,
    }
    deadline = Check(kind=DEADLINE, deadline=now + timedelta(seconds=60), **common)
    lifecycle = Check(
        kind=LIFECYCLE,
        group="web-asg",
        hook="spot-interruption-drain",
        token="87654321-4321-4321-4321-210987654321",
        heartbeat_timeout=300,
        heartbeat_expires=now + timedelta(seconds=300),
        global_expires=now + timedelta(seconds=30000),
        detail_type="EC2 Instance-terminate Lifecycle Action",
        **common,
    )
    return [follow_up_body([deadline]), follow_up_body([lifecycle])]


LOOKS = _looks()


@st.composite
def mutated_looks(draw) -> dict:
    """A real look with one field replaced, removed, turned into a time without its zone, or its text altered."""
    body = json.loads(json.dumps(draw(st.sampled_from(LOOKS))))
    check = body["checks"][0]
    target = draw(st.sampled_from([body, check]))
    key = draw(st.sampled_from(sorted(target)))
    how = draw(st.sampled_from(["replace", "remove", "naive-time", "append"]))
    if how == "remove":
        del target[key]
    elif how == "replace":
        target[key] = draw(json_values)
    elif how == "naive-time":
        target[key] = draw(st.datetimes().map(lambda d: d.isoformat()))
    elif isinstance(target[key], str):
        target[key] = target[key] + draw(odd_text)
    return body


def given_up_heads(reasons: list[str]) -> set[str]:
    """The opening words of each reason the follow-ups parked with (the DLQ's copy may be cut or sanitized after)."""
    return {reason.split(" (", 1)[0].split(":", 1)[0][:40] for reason in reasons}


@settings(PROPERTY_SETTINGS, max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "1500")) // 3)
@given(bodies=st.lists(mutated_looks().map(json.dumps), min_size=1, max_size=4))
def test_any_follow_up_body_is_handled_or_parked_and_never_fails_the_notice_beside_it(account, bodies):
    # Given a valid Spot warning in the batch beside the follow-ups
    notice = json.loads(json.dumps(NOTICES[0]))
    records = [{"messageId": f"m-{i}", "body": body} for i, body in enumerate(bodies)]
    records.append({"messageId": "notice", "body": json.dumps(notice)})

    report = handle_invocation({"Records": records}, account.clients, account.settings())

    # Then nothing of the batch is delivered again for a bad body, every rejection names its field, and the notice
    # was alerted
    # (a look read but whose work cannot be done, such as a group name AWS cannot answer for, is parked by the
    # follow-ups, with their reason: every record in the DLQ is one of the two)
    parked = account.dead_letters()
    given_up = report.follow_ups.parked if report.follow_ups else []
    assert len(parked) == len(report.rejected) + len(given_up)
    for message in parked:
        reason = message["MessageAttributes"]["RejectReason"]["StringValue"]
        by_follow_ups = message["MessageAttributes"]["Origin"]["StringValue"] == "follow-up"
        assert REASON.match(reason) or (
            by_follow_ups and reason.split(" (", 1)[0].split(":", 1)[0][:40] in given_up_heads(given_up)
        ), reason
    assert "notice" not in report.batch_item_failures
    assert any(a.document["noticeId"] == notice["id"] for a in account.alerts())
    # A look that was read is handled; its own work may fail and come back, but only its own record
    readable = set()
    for record in records[:-1]:
        try:
            read_record(record["body"])
            readable.add(record["messageId"])
        except MalformedNotice:
            pass
    assert set(report.batch_item_failures) <= readable
