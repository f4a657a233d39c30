"""Every alert put on an EventBridge bus as well (template parameter AlertEventBusName; empty: none), for rules that
route alerts to other targets: a ticket, a runbook, another account's bus.

One event per alert that SNS accepted, first alerts and follow-up alerts alike:

    {"source": "spot-interruption-handler", "detail-type": "Spot Interruption Alert",
     "resources": ["arn:aws:ec2:<region>:<account>:instance/<id>"], "detail": <the alert's JSON document>}

The detail is the document SQS and Lambda subscribers receive ("default"), as compose_alert fitted it to SNS: the
same summarizing keeps it within EventBridge's limits, and a rule matches on the same fields a filter policy would
(`outcome`, `account`, `availabilityZone`, ...).

Behind the SNS alert, never in its way: an alert is put only once SNS has accepted it (an alert SNS refused is
delivered again with its notice, and put then), from one background thread per invocation, in requests of ten
gathered across the invocation's groups and follow-ups. finish() waits for them until the invocation's tail ends
and names every alert whose event was not put. Such a failure is logged and counted (metric AlertEventFailures); it
never fails a record: the alert is out, and its notice delivered again would alert twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import NamedTuple

from aws_lambda_powertools import Logger

from spot_handler.aws.events import PUT_EVENTS_MAX_ENTRIES, put_events
from spot_handler.aws.sns import OutgoingAlert
from spot_handler.models import instance_arn

logger = Logger(child=True)

SOURCE = "spot-interruption-handler"  # a custom source: it must not begin with "aws."
DETAIL_TYPE = "Spot Interruption Alert"

Publish = Callable[[list[OutgoingAlert]], dict[str, str]]


class EventFailure(NamedTuple):
    """An alert that went out whose event was not put on the bus."""

    instance_id: str
    outcome: str
    notice_id: str
    error: str


def alert_event(alert: OutgoingAlert, bus: str) -> dict:
    """The PutEvents entry of one alert."""
    document = json.loads(alert.message)["default"]
    attributes = alert.attributes
    entry = {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": document, "EventBusName": bus}
    arn = instance_arn(attributes.get("account_id", ""), attributes.get("region", ""), attributes["instance_id"])
    if arn:
        entry["Resources"] = [arn]
    return entry


class AlertEvents:
    """The alert events of one invocation: after(publish) puts what publish sent; finish() ends them."""

    def __init__(self, events, bus: str):
        self._events, self._bus = events, bus
        self._lock = threading.Lock()
        self._waiting: list[tuple[dict, OutgoingAlert]] = []  # entries not yet in a request
        self._requests: list[tuple[Future, list[OutgoingAlert]]] = []
        self._pool: ThreadPoolExecutor | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._bus) and self._events is not None

    def after(self, publish: Publish) -> Publish:
        """publish, then the events of the alerts it sent: {entry_id: error} is publish's own answer, untouched."""
        if not self.enabled:
            return publish

        def publish_then_put(alerts: list[OutgoingAlert]) -> dict[str, str]:
            failed = publish(alerts)
            try:
                self.add([alert for alert in alerts if alert.entry_id not in failed])
            except Exception:  # an alert that is out stays out, whatever its event does
                logger.exception("alert events not queued", extra={"alerts": len(alerts)})
            return failed

        return publish_then_put

    def add(self, alerts: list[OutgoingAlert]) -> None:
        """Queue the events of alerts that went out; full requests are sent at once, in the background."""
        if not alerts or not self.enabled:
            return
        entries = [(alert_event(alert, self._bus), alert) for alert in alerts]
        with self._lock:
            self._waiting += entries
            while len(self._waiting) >= PUT_EVENTS_MAX_ENTRIES:
                self._send(self._waiting[:PUT_EVENTS_MAX_ENTRIES])
                del self._waiting[:PUT_EVENTS_MAX_ENTRIES]

    def finish(self, deadline: float) -> list[EventFailure]:
        """Send what is left, wait for every request until `deadline` (time.monotonic()), and name the alerts whose
        event was not put; each is logged. A request still running then carries on in the background, reported as
        not put: Lambda freezes it once the handler returns."""
        with self._lock:
            if self._waiting:
                self._send(self._waiting)
                self._waiting = []
            requests, self._requests = self._requests, []
        if not requests:
            return []
        wait([future for future, _ in requests], timeout=max(0.0, deadline - time.monotonic()))
        failures = []
        for future, alerts in requests:
            if not future.done():
                failed = dict.fromkeys(range(len(alerts)), "PutEvents did not finish by the end of the invocation")
            else:
                failed = future.result()
            for index, error in failed.items():
                failures.append(_failure(alerts[index], error))
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        for failure in failures:
            logger.error("alert event not put", extra=failure._asdict())
        return failures

    def _send(self, entries: list[tuple[dict, OutgoingAlert]]) -> None:
        """Under the lock: one PutEvents request (put_events cuts it further by size) on the background thread."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alert-events")
        request = [entry for entry, _ in entries]
        self._requests.append((self._pool.submit(_put, self._events, request), [alert for _, alert in entries]))


def _put(events, entries: list[dict]) -> dict[int, str]:
    try:
        return put_events(events, entries)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is reported for every entry of the request
        return dict.fromkeys(range(len(entries)), f"{type(exc).__name__}: {exc}")


def _failure(alert: OutgoingAlert, error: str) -> EventFailure:
    try:
        notice_id = str(json.loads(json.loads(alert.message)["default"]).get("noticeId"))
    except (ValueError, KeyError, AttributeError):
        notice_id = "unknown"
    instance_id, outcome = alert.attributes.get("instance_id", "unknown"), alert.attributes.get("outcome", "unknown")
    return EventFailure(instance_id, outcome, notice_id, error)
