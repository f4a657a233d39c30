"""SNS: alerts out to people and machines (PublishBatch, cut by count and size)."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote_plus

from spot_handler.aws.clients import describe_error

PUBLISH_BATCH_MAX = 10  # SNS PublishBatch accepts at most 10 entries

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
        if not batches or len(batches[-1]) == PUBLISH_BATCH_MAX or size + cost > room:
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
