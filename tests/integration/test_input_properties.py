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
from spot_handler.invocation import handle_invocation
from spot_handler.models import MalformedNotice

from tests.support.events import EVENTS_DIR, load_event

NOTICES = [load_event(p.name) for p in sorted(EVENTS_DIR.glob("*.json")) if "Records" not in load_event(p.name)]
# A reason starts with the field at fault: "detail.instance-id: ...", "time: ...", "body: ...".
REASON = re.compile(r"^[A-Za-z][A-Za-z0-9.\[\]-]*(:| is missing)")

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
