"""SQS: follow-ups, delayed messages the handler sends to its own notice queue to look again later."""

from __future__ import annotations

import json
from typing import NamedTuple

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds: 0 to 900
_BATCH_MAX = 10  # SendMessageBatch entries
_MESSAGE_MAX_BYTES = 200_000  # under SQS's 256 KiB, with room for the batch's other entries' names


class Delayed(NamedTuple):
    body: dict
    delay_seconds: int


def send_delayed(sqs, queue_url: str, messages: list[Delayed]) -> list[str]:
    """Send the messages with their delays, ten to a SendMessageBatch; the errors of those not sent."""
    errors = []
    entries = [
        {"Id": str(i), "MessageBody": json.dumps(m.body, separators=(",", ":")), "DelaySeconds": m.delay_seconds}
        for i, m in enumerate(messages)
    ]
    for start in range(0, len(entries), _BATCH_MAX):
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries[start : start + _BATCH_MAX])
        errors += [f"{f.get('Code')}: {f.get('Message', '')}" for f in response.get("Failed", [])]
    return errors


def fits(body: dict) -> bool:
    return len(json.dumps(body, separators=(",", ":")).encode()) <= _MESSAGE_MAX_BYTES
