"""One alert as SNS takes it: the same envelope for every message of an incident (MessageStructure json)."""

from __future__ import annotations

import json

from spot_handler.alerting.text import printable
from spot_handler.aws.sns import OutgoingAlert


def envelope(entry_id: str, title: str, text: str, document: dict, attributes: dict[str, str]) -> OutgoingAlert:
    """One alert as SNS takes it (MessageStructure json), for every message of an incident alike."""
    # One copy of the JSON: every protocol without a key of its own (sqs, lambda, http, firehose, email-json,
    # application) gets "default". Six copies would put a dense alert past SNS's 256 KiB. "https" gets the chat
    # message (with_chat adds it): Amazon Q Developer in chat applications subscribes over HTTPS.
    message = {"default": json.dumps(document, separators=(",", ":")), "email": text, "sms": title}
    return OutgoingAlert(
        entry_id=entry_id,
        subject=title,
        message=json.dumps(message),
        # SNS refuses an empty attribute value, and control characters anywhere in one.
        attributes={key: printable(value) or "unknown" for key, value in attributes.items()},
    )
