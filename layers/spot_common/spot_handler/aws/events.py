"""EventBridge: alerts put on an event bus, for rules that route them to other targets."""

from __future__ import annotations

import json

from spot_handler.aws.clients import describe_error

PUT_EVENTS_MAX_ENTRIES = 10  # PutEvents takes at most 10 entries
# PutEvents takes 256 KB per request. The user guide counts an entry as the UTF-8 bytes of Source, DetailType, Detail
# and each of Resources (+ 14 for Time); the API reference counts "the event and any necessary characters and keys of
# its JSON representation". entry_size counts the entry's own JSON, which is more than either.
PUT_EVENTS_MAX_BYTES = 256 * 1024


def entry_size(entry: dict) -> int:
    """An entry's size, at least as EventBridge counts it toward PUT_EVENTS_MAX_BYTES."""
    return len(json.dumps(entry).encode("utf-8"))


def put_events_requests(entries: list[dict]) -> list[list[int]]:
    """The entries' indexes in PutEvents requests of at most PUT_EVENTS_MAX_ENTRIES and PUT_EVENTS_MAX_BYTES each."""
    requests: list[list[int]] = []
    size = 0
    for index, entry in enumerate(entries):
        cost = entry_size(entry)
        if not requests or len(requests[-1]) == PUT_EVENTS_MAX_ENTRIES or size + cost > PUT_EVENTS_MAX_BYTES:
            requests.append([])
            size = 0
        requests[-1].append(index)
        size += cost
    return requests


def put_events(events, entries: list[dict]) -> dict[int, str]:
    """Put the entries with PutEvents, cut by count and size. Returns {index: error} for every entry not put.

    EventBridge answers a refused entry in the response (FailedEntryCount, and an ErrorCode in the entry's place),
    not with an exception; a request that fails altogether fails each of its entries with the reason.
    """
    failed: dict[int, str] = {}
    for request in put_events_requests(entries):
        try:
            response = events.put_events(Entries=[entries[index] for index in request])
        except Exception as exc:  # noqa: BLE001 - every entry of the request is reported failed with the reason
            failed |= dict.fromkeys(request, describe_error(exc))
            continue
        if not response.get("FailedEntryCount"):
            continue
        for index, answer in zip(request, response.get("Entries", []), strict=False):
            if answer.get("ErrorCode"):
                failed[index] = f"{answer['ErrorCode']}: {answer.get('ErrorMessage', '')}".strip()
    return failed
