"""What the handler writes to its logs: the correlation id on every line at INFO and above, never a whole event, a
record body or a credential. The Lambda entry point runs as Lambda runs it, against a moto account."""

from __future__ import annotations

import io
import json
import logging
import os

import pytest
from spot_handler import settings as handler_settings
from spot_handler.aws import clients as aws_clients
from spot_handler.models import MalformedNotice

from local.lambda_runtime import LambdaContext
from tests.support.events import event_text, load_event

LEVELS_CHECKED = {"INFO", "WARNING", "ERROR", "CRITICAL"}


REQUEST_ID = "c0ffee00-0000-4000-8000-000000000001"


def lambda_context() -> LambdaContext:
    return LambdaContext(aws_request_id=REQUEST_ID)


class CapturedHandler:
    def __init__(self, entry_point, stream: io.StringIO):
        self.entry_point = entry_point
        self.stream = stream

    def __call__(self, event, context):
        return self.entry_point(event, context)

    def output(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def handler(lambda_function):
    """app.lambda_handler wired to the moto account through its environment, as in the cloud, its log captured.

    Powertools' handler keeps the stdout it found at import, so the log stream is swapped here rather than relying
    on pytest's capture (another test may have imported app first).
    """
    import app

    stream = io.StringIO()
    log_handler = app.logger.registered_handler
    previous = log_handler.setStream(stream)
    # A module imported before POWERTOOLS_SERVICE_NAME was set (at test collection) has a child logger under
    # "service_undefined" instead of the service's; in Lambda the variable is set before any import. Capture those
    # lines too, with the handler's own formatter (so they carry the same correlation id).
    orphans = logging.getLogger("service_undefined")
    orphan_capture = logging.StreamHandler(stream)
    orphan_capture.setFormatter(app.logger.registered_formatter)
    orphans.addHandler(orphan_capture)
    yield CapturedHandler(lambda_function, stream)
    orphans.removeHandler(orphan_capture)
    log_handler.setStream(previous)
    print(stream.getvalue())  # shown by pytest when a test fails
    handler_settings.get_settings.cache_clear()
    aws_clients.default_clients.cache_clear()


def log_lines(text: str) -> list[dict]:
    lines = []
    for raw in text.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            line = json.loads(raw)
            if "level" in line:  # metric (EMF) lines have no level
                lines.append(line)
    return lines


def payload_fragments(event: dict) -> list[str]:
    """Serialisations of the event (and of its records' bodies and details) that must never appear in a log line."""
    fragments = [json.dumps(event), json.dumps(event, separators=(",", ":"))]
    bodies = [r["body"] for r in event.get("Records", [])] if "Records" in event else [json.dumps(event)]
    for body in bodies:
        fragments.append(body)
        try:
            detail = json.loads(body).get("detail")
        except (ValueError, AttributeError):
            continue
        if isinstance(detail, dict):
            fragments += [json.dumps(detail), json.dumps(detail, separators=(",", ":"))]
    return fragments


def assert_clean(output: str, event: dict, notice_ids: set[str]) -> list[dict]:
    lines = [line for line in log_lines(output) if line["level"] in LEVELS_CHECKED]
    assert lines, "the handler logged nothing at INFO or above"
    secrets = {os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_SESSION_TOKEN"]}
    for line in lines:
        text = json.dumps(line)
        # Then every line is tied to its notice, or to the invocation when no single notice is concerned
        assert line.get("correlation_id"), line
        if "instance_id" in line:
            assert line["correlation_id"] in notice_ids, line
        # And no line carries the event, a record body or an event's detail
        for fragment in payload_fragments(event):
            assert fragment not in text and fragment not in line.get("message", ""), line
        assert "Records" not in line and "detail" not in line and "body" not in line, line
        # And no credential of the execution environment
        for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            assert name not in text, line
        for value in secrets:
            assert f'"{value}"' not in text, line
    return lines


def test_a_bare_spot_notice_logs_its_correlation_id_and_no_payload(handler, account, monkeypatch):
    # Given a distinctive credential in the environment, and an instance to drain
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE-session-token-value")
    b = account.builder
    _web, victim = b.instance_in_target_group("web", "web-1")
    event = load_event("spot-interruption-instance-tg.json", victim.instance_id)

    # When the Lambda entry point handles the bare EventBridge event
    handler(event, lambda_context())

    # Then the lines are clean and the notice's line carries the event id
    lines = assert_clean(handler.output(), event, {event["id"]})
    handled = [line for line in lines if line.get("instance_id") == victim.instance_id]
    assert handled and all(line["correlation_id"] == event["id"] for line in handled)


def test_an_sqs_batch_with_a_malformed_record_logs_no_body(handler, account):
    # Given the sample batch (several notices and a record that is not JSON)
    event = load_event("sqs-batch.json")
    notice_ids = set()
    for record in event["Records"]:
        try:
            notice_ids.add(json.loads(record["body"])["id"])
        except ValueError:
            pass

    # When the Lambda entry point handles it
    handler(event, lambda_context())

    # Then each notice's line carries that notice's id, the rejected record's line the invocation's, and no line
    # repeats a record body
    lines = assert_clean(handler.output(), event, notice_ids)
    rejected = [line for line in lines if line["message"] == "malformed notice rejected"]
    assert rejected and all(line["correlation_id"] == REQUEST_ID for line in rejected)
    assert {line["correlation_id"] for line in lines if "instance_id" in line} <= notice_ids


def test_a_malformed_bare_event_is_logged_by_reason_not_by_content(handler):
    event = load_event("malformed-notice.json")

    with pytest.raises(MalformedNotice):
        handler(event, lambda_context())

    lines = assert_clean(handler.output(), event, {event["id"]})
    assert any(
        line["message"] == "malformed notice rejected" and line["correlation_id"] == event["id"] for line in lines
    )
    assert "explode" not in json.dumps([line for line in lines if line["level"] == "INFO"])
    assert event_text("malformed-notice.json")  # the sample stays the single source of the event
