"""The one way tests read sample events: from events/, the same files `sam local invoke -e` uses."""

from __future__ import annotations

import json
from pathlib import Path

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def event_text(name: str) -> str:
    return (EVENTS_DIR / name).read_text()


def load_event(name: str, instance_id: str | None = None, **instance_ids: str) -> dict:
    """Load events/<name>; moto cannot choose instance ids, so the sample's placeholder ids can be replaced.

    `instance_id` replaces the event's own instance id; keyword arguments map placeholder ids to real ones
    (for sqs-batch.json, whose records carry several instances).
    """
    text = event_text(name)
    if instance_id is not None:
        detail = json.loads(text)["detail"]
        text = text.replace(detail.get("instance-id") or detail["EC2InstanceId"], instance_id)
    for placeholder, real in instance_ids.items():
        text = text.replace(placeholder, real)
    return json.loads(text)


def placeholder_ids(name: str) -> list[str]:
    """The instance ids a sample event names, in order of appearance."""
    import re

    return list(dict.fromkeys(re.findall(r"i-0[0-9a-f]{16}", event_text(name))))
