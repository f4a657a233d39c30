"""Reads alerts the way a subscriber receives them: an SQS queue subscribed to the alert topic."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class ReceivedAlert:
    subject: str
    document: dict  # what the "sqs" protocol key of the message carries: the JSON alert
    attributes: dict[str, str]
    raw: dict


def drain_queue(sqs, queue_url: str, max_rounds: int = 1000) -> list[dict]:
    """Every message in the queue (receives until it answers none), deleting them."""
    messages = []
    for _ in range(max_rounds):
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            break
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return messages


def received_alerts(sqs, queue_url: str) -> list[ReceivedAlert]:
    alerts = []
    for message in drain_queue(sqs, queue_url):
        envelope = json.loads(message["Body"])
        alerts.append(
            ReceivedAlert(
                subject=envelope.get("Subject", ""),
                document=json.loads(envelope["Message"]),
                attributes={k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                raw=envelope,
            )
        )
    return alerts
