"""SNS and SQS: alerts out to people and machines, rejected records into the dead-letter queue."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any, NamedTuple
from urllib.parse import quote_plus

from spot_handler.aws.clients import describe_error

_PUBLISH_BATCH_MAX = 10  # SNS PublishBatch accepts at most 10 entries
# SNS takes 256 KiB for one message and for a whole PublishBatch request. Sizes here are the request's own bytes as
# botocore sends them (form-encoded, so larger than the message): a request within these is within SNS's limits.
PUBLISH_REQUEST_MAX_BYTES = 262_144
_REQUEST_ROOM_BYTES = 12_288  # Action, Version, TopicArn and each entry's parameter names, with room to spare
ALERT_MAX_BYTES = 64 * 1024  # one alert: compose_alert shortens its lists until it fits


class OutgoingAlert(NamedTuple):
    entry_id: str  # unique in one publish call; the caller maps failures back with it
    subject: str
    message: str  # MessageStructure=json document
    attributes: dict[str, str]


def entry_bytes(alert: OutgoingAlert) -> int:
    """What one alert adds to a PublishBatch request, form-encoded as botocore sends it."""
    values = [alert.entry_id, alert.subject, alert.message, "json"]
    for key, value in alert.attributes.items():
        values += [key, "String", value]
    return sum(len(quote_plus(value)) for value in values)


def publish_batches(alerts: list[OutgoingAlert]) -> list[list[OutgoingAlert]]:
    """Alerts in PublishBatch requests of at most ten entries and PUBLISH_REQUEST_MAX_BYTES each."""
    room = PUBLISH_REQUEST_MAX_BYTES - _REQUEST_ROOM_BYTES
    batches: list[list[OutgoingAlert]] = []
    size = 0
    for alert in alerts:
        cost = entry_bytes(alert)
        if not batches or len(batches[-1]) == _PUBLISH_BATCH_MAX or size + cost > room:
            batches.append([])
            size = 0
        batches[-1].append(alert)
        size += cost
    return batches


def publish_alerts(sns, topic_arn: str, alerts: list[OutgoingAlert]) -> dict[str, str]:
    """Publish with PublishBatch, cut by count and size. Returns {entry_id: error} for every alert not sent."""
    failed: dict[str, str] = {}
    for chunk in publish_batches(alerts):
        try:
            response = sns.publish_batch(
                TopicArn=topic_arn,
                PublishBatchRequestEntries=[
                    {
                        "Id": alert.entry_id,
                        "Subject": alert.subject,
                        "Message": alert.message,
                        "MessageStructure": "json",
                        "MessageAttributes": {
                            key: {"DataType": "String", "StringValue": value} for key, value in alert.attributes.items()
                        },
                    }
                    for alert in chunk
                ],
            )
        except Exception as exc:  # noqa: BLE001 - every alert of the chunk is reported failed with the reason
            for alert in chunk:
                failed[alert.entry_id] = describe_error(exc)
            continue
        for failure in response.get("Failed", []):
            failed[failure["Id"]] = f"{failure.get('Code')}: {failure.get('Message', '')}".strip()
    return failed


# How long one group's last, partial PublishBatch waits for other groups' alerts to fill it (BatchPublisher).
LINGER_SECONDS = 0.5
_SEND_WAIT_SECONDS = 5.0  # how often a group whose alerts another thread is sending looks again


class BatchPublisher:
    """One stream of PublishBatch requests for the (account, region) groups of one batch
    (invocation.handle_by_account_region).

    Every group publishes its full requests (ten alerts) at once. Its last, partial request is pooled with the other
    groups' instead of sent alone: the pool goes out when it holds ten alerts, when every group has handed in its
    alerts, or LINGER_SECONDS after a group handed in its remainder, whichever comes first. So a batch of N alerts
    over G groups takes about N / 10 requests rather than up to N / 10 + G, and no group's alerts wait on a slower
    group for more than LINGER_SECONDS. The topic is the hub's, so pooling changes nothing a subscriber sees.

    Each group calls publish() once (a group that ends without alerting calls leave() instead, or after it: a second
    call is a no-op) and gets back what publish_alerts returns: {entry_id: error} for each of its alerts not sent.
    """

    def __init__(self, sns, topic_arn: str, groups: int, linger_seconds: float = LINGER_SECONDS):
        self._sns, self._topic_arn, self._linger = sns, topic_arn, linger_seconds
        self._open = groups  # groups that have not handed in their alerts
        self._handed_in: set[int] = set()
        self._pool: list[tuple[OutgoingAlert, dict[str, str], str]] = []  # (alert, its group's failures, its own id)
        self._pending: set[str] = set()  # pooled entry ids not yet answered
        self._lock = threading.Condition()
        self._next_id = 0

    def publish(self, group: int, alerts: list[OutgoingAlert]) -> dict[str, str]:
        requests = publish_batches(alerts)
        partial = requests.pop() if requests and len(requests[-1]) < _PUBLISH_BATCH_MAX else []
        failed = publish_alerts(self._sns, self._topic_arn, [alert for request in requests for alert in request])
        mine = self._hand_in(group, partial, failed)
        if mine is None:  # this group had handed in already (or left): nothing of its alerts may be dropped
            return failed | publish_alerts(self._sns, self._topic_arn, partial)
        deadline = time.monotonic() + self._linger
        while True:
            with self._lock:
                if not (mine & self._pending):
                    return failed
                pooled = any(alert.entry_id in mine for alert, _, _ in self._pool)
                left = deadline - time.monotonic()
                if not pooled or left > 0:  # being sent by another group's thread, or still lingering
                    self._lock.wait(left if pooled else _SEND_WAIT_SECONDS)
                    continue
                taken = self._take(everything=True)  # lingered long enough: send what the pool holds
            self._send(taken)

    def leave(self, group: int) -> None:
        """A group that publishes nothing (it failed before its alerts): the others stop waiting for it."""
        self._hand_in(group, [], {})

    def _hand_in(self, group: int, alerts: list[OutgoingAlert], failed: dict[str, str]) -> set[str] | None:
        """Pool a group's partial request; the pooled ids, or None when the group had handed in already."""
        with self._lock:
            if group in self._handed_in:
                return None
            self._handed_in.add(group)
            self._open -= 1
            mine = set()
            for alert in alerts:
                pooled_id = f"{self._next_id}"
                self._next_id += 1
                self._pool.append((alert._replace(entry_id=pooled_id), failed, alert.entry_id))
                mine.add(pooled_id)
            self._pending |= mine
            ready = self._take(everything=not self._open)
        self._send(ready)
        return mine

    def _take(self, everything: bool) -> list[tuple[OutgoingAlert, dict[str, str], str]]:
        """Under the lock: the pooled alerts to send now (full requests only, unless `everything`)."""
        if everything:
            taken, self._pool = self._pool, []
        else:
            count = len(self._pool) - len(self._pool) % _PUBLISH_BATCH_MAX
            taken, self._pool = self._pool[:count], self._pool[count:]
        return taken

    def _send(self, taken: list[tuple[OutgoingAlert, dict[str, str], str]]) -> None:
        if not taken:
            return
        try:
            failures = publish_alerts(self._sns, self._topic_arn, [alert for alert, _, _ in taken])
        except Exception as exc:  # noqa: BLE001 - a waiting group must hear of its alerts whatever happened
            failures = {alert.entry_id: describe_error(exc) for alert, _, _ in taken}
        with self._lock:
            for alert, group_failed, entry_id in taken:
                if alert.entry_id in failures:
                    group_failed[entry_id] = failures[alert.entry_id]
                self._pending.discard(alert.entry_id)
            self._lock.notify_all()


def park_in_dead_letter_queue(sqs, queue_url: str, body: Any, reason: str, origin: str) -> None:
    """Send a record the handler cannot process to the DLQ, with the reason as a message attribute.

    A body that is not text is sent as its JSON; text holding characters SQS refuses is sent JSON-escaped (a JSON
    string literal), and the reason says so. A body too large to fit next to its attributes (SQS takes 256 KiB for
    body and attributes together) is cut to fit, and the reason says so: the reason must reach the DLQ, and no
    interruption notice is anywhere near that size.
    """
    notes = []
    if not isinstance(body, str):
        body = _as_json(body)
        notes.append("body was not text: sent as JSON")
    elif _SQS_REFUSED.search(body):
        body = json.dumps(body)
        notes.append("body held characters SQS refuses: sent as a JSON string literal")
    body = body or json.dumps(None)
    encoded = body.encode("utf-8")
    room = _SQS_MESSAGE_MAX - _ATTRIBUTES_ROOM
    attributes = {}
    if len(encoded) > room:
        body = encoded[:room].decode("utf-8", errors="ignore")
        notes.append(f"body cut from {len(encoded)} to {room} bytes to fit the DLQ")
        attributes["OriginalBodyBytes"] = {"DataType": "Number", "StringValue": str(len(encoded))}
    reason = _SQS_REFUSED.sub("\ufffd", reason[:900]) or "unknown"
    attributes["RejectReason"] = {"DataType": "String", "StringValue": "; ".join([reason, *notes])}
    attributes["Origin"] = {"DataType": "String", "StringValue": _SQS_REFUSED.sub("\ufffd", origin[:200]) or "unknown"}
    sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)


def _as_json(value: Any) -> str:
    try:
        return json.dumps(value, default=repr)
    except (ValueError, TypeError, RecursionError):  # nested too deep, or a circular structure
        return json.dumps(f"<{type(value).__name__} that cannot be written as JSON>")


_SQS_MESSAGE_MAX = 262_144
_ATTRIBUTES_ROOM = 4_096  # names, types and values of the attributes above, with room to spare
# Characters SQS accepts: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
_SQS_REFUSED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
