"""SQS: follow-ups, delayed messages the handler sends to its own notice queue to look again later; and bringing a
record of the current batch back sooner than the queue's visibility timeout."""

from __future__ import annotations

import json
from typing import NamedTuple

from spot_handler.aws.clients import describe_error

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds: 0 to 900
_BATCH_MAX = 10  # SendMessageBatch and ChangeMessageVisibilityBatch entries
_MESSAGE_MAX_BYTES = 200_000  # under SQS's 256 KiB, with room for the batch's other entries' names


class Delayed(NamedTuple):
    body: dict
    delay_seconds: int


def send_delayed(sqs, queue_url: str, messages: list[Delayed]) -> dict[int, str]:
    """Send the messages with their delays, ten to a SendMessageBatch; {index of a message not sent: why}.

    A request that fails as a whole (after botocore's retries) fails its ten messages; the others are still sent."""
    failed: dict[int, str] = {}
    entries = [
        {"Id": str(i), "MessageBody": json.dumps(m.body, separators=(",", ":")), "DelaySeconds": m.delay_seconds}
        for i, m in enumerate(messages)
    ]
    for start in range(0, len(entries), _BATCH_MAX):
        chunk = entries[start : start + _BATCH_MAX]
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=chunk)
        except Exception as exc:  # noqa: BLE001 - named per message; the caller decides what a lost look means
            failed |= {int(e["Id"]): describe_error(exc) for e in chunk}
            continue
        failed |= {int(f["Id"]): f"{f.get('Code')}: {f.get('Message', '')}" for f in response.get("Failed", [])}
    return failed


def fits(body: dict) -> bool:
    return len(json.dumps(body, separators=(",", ":")).encode()) <= _MESSAGE_MAX_BYTES


def come_back_in(sqs, queue_url: str, receipts: dict[str, int]) -> dict[str, str]:
    """Make records of the current batch visible again after the given seconds ({receipt handle: seconds}) instead of
    the queue's visibility timeout: ChangeMessageVisibilityBatch, ten a call; {receipt handle: why it failed}."""
    failed: dict[str, str] = {}
    handles = list(receipts)
    for start in range(0, len(handles), _BATCH_MAX):
        chunk = handles[start : start + _BATCH_MAX]
        entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": receipts[h]} for i, h in enumerate(chunk)]
        try:
            response = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as exc:  # noqa: BLE001 - those records come back after the visibility timeout instead
            failed |= dict.fromkeys(chunk, describe_error(exc))
            continue
        failed |= {chunk[int(f["Id"])]: f"{f.get('Code')}: {f.get('Message', '')}" for f in response.get("Failed", [])}
    return failed
