"""DynamoDB: the idempotency table's writes (idempotency/claims.py composes them with Powertools)."""

from __future__ import annotations

from typing import NamedTuple

from spot_handler.aws.clients import describe_error


class Cancelled(NamedTuple):
    """A TransactWriteItems DynamoDB cancelled: its reason per action, in order (with the record that made a
    condition fail), and the error as a person reads it."""

    reasons: list[dict]
    error: str


def transact(dynamodb, actions: list[dict]) -> Cancelled | None:
    """One TransactWriteItems; None when every action was written, else what DynamoDB said of each. Any other error
    raises. botocore gives the call a ClientRequestToken, so its own retry of a transaction that succeeded but whose
    answer was lost is answered as a success."""
    try:
        dynamodb.transact_write_items(TransactItems=actions)
    except dynamodb.exceptions.TransactionCanceledException as exc:
        return Cancelled(exc.response.get("CancellationReasons") or [], describe_error(exc))
    return None


def update_if(dynamodb, table: str, key: dict, update: str, condition: str, names: dict, values: dict) -> bool:
    """One conditional UpdateItem; False when its condition failed (someone else wrote first)."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


_GET_MAX = 100  # BatchGetItem: at most 100 keys a call


def batch_get(dynamodb, table: str, keys: list[dict]) -> list[dict]:
    """Every item of `keys` that exists (BatchGetItem, 100 keys a call, unprocessed keys asked again); consistent
    reads, so an item written a moment ago is seen."""
    found: list[dict] = []
    for start in range(0, len(keys), _GET_MAX):
        request = {table: {"Keys": keys[start : start + _GET_MAX], "ConsistentRead": True}}
        for _ in range(5):
            response = dynamodb.batch_get_item(RequestItems=request)
            found += response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
    return found
