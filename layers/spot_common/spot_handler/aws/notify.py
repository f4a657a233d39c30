"""SNS and SQS: alerts out to people and machines, rejected records into the dead-letter queue."""

from __future__ import annotations

import json
from typing import NamedTuple

from spot_handler.aws.clients import describe_error

_PUBLISH_BATCH_MAX = 10  # SNS PublishBatch accepts at most 10 entries


class OutgoingAlert(NamedTuple):
    entry_id: str  # unique in one publish call; the caller maps failures back with it
    subject: str
    message: str  # MessageStructure=json document
    attributes: dict[str, str]


def publish_alerts(sns, topic_arn: str, alerts: list[OutgoingAlert]) -> dict[str, str]:
    """Publish with PublishBatch, ten at a time. Returns {entry_id: error} for every alert that did not go out."""
    failed: dict[str, str] = {}
    for start in range(0, len(alerts), _PUBLISH_BATCH_MAX):
        chunk = alerts[start : start + _PUBLISH_BATCH_MAX]
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


def park_in_dead_letter_queue(sqs, queue_url: str, body: str, reason: str, origin: str) -> None:
    """Send a record the handler cannot process to the DLQ, with the reason as a message attribute.

    A body too large to fit next to its attributes (SQS takes 256 KiB for body and attributes together) is cut to
    fit, and the reason says so: the reason must reach the DLQ, and no interruption notice is anywhere near that size.
    """
    attributes = {
        "RejectReason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
        "Origin": {"DataType": "String", "StringValue": origin},
    }
    body = body if body else json.dumps(None)
    encoded = body.encode("utf-8")
    room = _SQS_MESSAGE_MAX - _ATTRIBUTES_ROOM
    if len(encoded) > room:
        body = encoded[:room].decode("utf-8", errors="ignore")
        attributes["RejectReason"]["StringValue"] = (
            f"{reason[:900]} (body cut from {len(encoded)} to {room} bytes to fit the DLQ)"
        )
        attributes["OriginalBodyBytes"] = {"DataType": "Number", "StringValue": str(len(encoded))}
    sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)


_SQS_MESSAGE_MAX = 262_144
_ATTRIBUTES_ROOM = 4_096  # names, types and values of the attributes above, with room to spare
