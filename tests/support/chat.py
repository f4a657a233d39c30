"""The custom-notification schema a chat message is checked against (docs/design-notes.md "Chat messages")."""

from __future__ import annotations

SLACK_HEADER_MAX = 150  # characters of a Slack header block
SLACK_SECTION_MAX = 3000  # characters of a Slack section's text

# The service's event schema (`version` and `source` required, every other member optional), with what the issue
# requires of ours on top: content and metadata always there, and the chat platforms' limits.
STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
SCHEMA = {
    "type": "object",
    "required": ["version", "source", "id", "content", "metadata"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": "1.0"},
        "source": {"const": "custom"},
        "id": {"type": "string", "minLength": 1},
        "content": {
            "type": "object",
            "required": ["textType", "title", "description", "keywords"],
            "additionalProperties": False,
            "properties": {
                "textType": {"const": "client-markdown"},
                "title": {"type": "string", "minLength": 1, "maxLength": SLACK_HEADER_MAX, "pattern": "^[^\r\n]+$"},
                "description": {"type": "string", "minLength": 1, "maxLength": SLACK_SECTION_MAX},
                "nextSteps": {**STRINGS, "minItems": 1},
                "keywords": STRINGS,
            },
        },
        "metadata": {
            "type": "object",
            "required": ["threadId", "summary", "eventType", "relatedResources", "additionalContext"],
            "additionalProperties": False,
            "properties": {
                "threadId": {"type": "string", "pattern": "^spot-[0-9a-f]{40}$"},
                "summary": {"type": "string", "minLength": 1, "pattern": "^[^\r\n]+$"},
                "eventType": {"type": "string", "minLength": 1},
                "relatedResources": {**STRINGS, "items": {"type": "string", "pattern": "^arn:"}},
                "additionalContext": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}


def https_messages(topic_arn: str, account: str = "123456789012", region: str = "us-east-2") -> list[dict]:
    """The chat message of every alert published to the topic (moto, in this process): what an HTTPS subscriber
    receives, SNS picking the message's "https" key."""
    import json

    from moto.sns import sns_backends

    topic = sns_backends[account][region].topics[topic_arn]
    return [json.loads(json.loads(message)["https"]) for _, message, _, _, _ in topic.sent_notifications]


def readable_chat(topic_arn: str) -> list[dict]:
    """Every chat message published to the topic, each checked as the chat integration renders it: the schema and
    its limits, and the alert's size bound of its own (alerting/chat.py CHAT_MAX_BYTES)."""
    import json

    import jsonschema
    from spot_handler.alerting.chat import CHAT_MAX_BYTES

    chats = https_messages(topic_arn)
    for chat in chats:
        jsonschema.validate(chat, SCHEMA)
        assert len(json.dumps(chat).encode()) <= CHAT_MAX_BYTES
    return chats
