"""SNS and SQS: alerts out to people and machines, rejected records into the dead-letter queue."""

from __future__ import annotations

import json
import re
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
