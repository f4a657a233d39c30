"""SQS: looks (delayed messages the handler sends to its own notice queue), bringing a record of the current batch
back sooner than the visibility timeout, and parking what cannot be handled in the dead-letter queue."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

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

# Characters SQS accepts: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF; so it refuses the
# others, written as a positive class: the negated one, with its astral range, took 2.8 ms of every cold start to
# compile, this one 0.5 ms (the same answer for all 1,114,112 code points).
_SQS_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
