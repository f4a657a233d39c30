"""DynamoDB: the checkpoint table that game backends read to re-place the sessions of an interrupted instance.

One item per game session or game server. The partition key is the instance id, so one Query returns everything
captured for an instance; the sort key starts with the instance's account, so a hub serving many accounts never lets
one account's item overwrite another's for the same instance id (schema: docs/gamelift-checkpoints.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from boto3.dynamodb.types import TypeSerializer

from spot_handler.aws.clients import AWS_ERRORS, describe_error

PARTITION_KEY = "instanceId"
SORT_KEY = "checkpointId"
TTL_ATTRIBUTE = "expiration"
BATCH_WRITE_MAX = 25  # BatchWriteItem accepts at most 25 requests
ITEM_SIZE_MAX = 400 * 1024  # DynamoDB's item size limit
# Unprocessed items are retried a bounded number of times: the two minutes are not spent waiting on DynamoDB.
WRITE_ROUNDS_MAX = 4
_BACKOFF_SECONDS = 0.05

_serializer = TypeSerializer()


def account_checkpoint_id(account: str, checkpoint_id: str) -> str:
    """The stored sort key: the account first, so begins_with(checkpointId, "<account>#") selects one account."""
    return f"{account}#{checkpoint_id}"


def game_session_checkpoint_id(game_session_id: str) -> str:
    return f"game-session#{game_session_id}"


def game_server_checkpoint_id(group_name: str, game_server_id: str) -> str:
    return f"game-server#{group_name}#{game_server_id}"


def write_checkpoints(
    dynamodb, table_name: str, items: list[dict], sleep: Callable[[float], None] = time.sleep
) -> dict[tuple[str, str], str]:
    """Put every item with BatchWriteItem, 25 at a time, retrying unprocessed items a few times.

    Items are plain Python values (str, int, bool, lists, dicts; None members are dropped). Returns
    {(instance id, checkpoint id): reason} for every item that was not written; an empty dict means all were.
    """
    failed: dict[tuple[str, str], str] = {}
    requests = []
    for item in items:
        key = (item[PARTITION_KEY], item[SORT_KEY])
        size = len(json.dumps(item, default=str).encode())
        if size > ITEM_SIZE_MAX:
            failed[key] = f"item of about {size // 1024} KB exceeds DynamoDB's 400 KB limit"
            continue
        requests.append({"PutRequest": {"Item": _serialize(item)}})

    for start in range(0, len(requests), BATCH_WRITE_MAX):
        pending = requests[start : start + BATCH_WRITE_MAX]
        for round_number in range(WRITE_ROUNDS_MAX):
            try:
                response = dynamodb.batch_write_item(RequestItems={table_name: pending})
            except AWS_ERRORS as exc:
                reason = f"BatchWriteItem {describe_error(exc)}"
                failed.update({_key_of(request): reason for request in pending})
                pending = []
                break
            pending = response.get("UnprocessedItems", {}).get(table_name, [])
            if not pending:
                break
            if round_number + 1 < WRITE_ROUNDS_MAX:
                sleep(_BACKOFF_SECONDS * 2**round_number)
        for request in pending:
            failed[_key_of(request)] = f"BatchWriteItem left the item unprocessed after {WRITE_ROUNDS_MAX} attempts"
    return failed


def _serialize(item: dict) -> dict:
    return {name: _serializer.serialize(_drop_none(value)) for name, value in item.items() if value is not None}


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _key_of(request: dict) -> tuple[str, str]:
    item = request["PutRequest"]["Item"]
    return item[PARTITION_KEY]["S"], item[SORT_KEY]["S"]
