"""Checkpoint writes to DynamoDB: 25 items per BatchWriteItem, unprocessed items retried a bounded number of times.
botocore's Stubber answers (and checks every request against the DynamoDB model); no sockets."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber
from spot_handler.aws.checkpoints import WRITE_ROUNDS_MAX, write_checkpoints

TABLE = "checkpoints"


def items(count: int) -> list[dict]:
    return [
        {
            "instanceId": "i-0a1b2c3d4e5f60009",
            "checkpointId": f"game-server#arena#gs-{n:02}",
            "expiration": 1,
            "connectionInfo": None,
        }
        for n in range(count)
    ]


def put(item: dict) -> dict:
    key = {"instanceId": {"S": item["instanceId"]}, "checkpointId": {"S": item["checkpointId"]}}
    return {"PutRequest": {"Item": {**key, "expiration": {"N": "1"}}}}


def test_thirty_items_take_two_calls_and_unprocessed_ones_are_retried():
    # Given 30 items, and DynamoDB leaving two of the first 25 unprocessed once
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    given = items(30)
    leftover = [put(i) for i in given[3:5]]
    with Stubber(dynamodb) as stub:
        stub.add_response(
            "batch_write_item",
            {"UnprocessedItems": {TABLE: leftover}},
            {"RequestItems": {TABLE: [put(i) for i in given[:25]]}},
        )
        stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {TABLE: leftover}})
        stub.add_response("batch_write_item", {}, {"RequestItems": {TABLE: [put(i) for i in given[25:]]}})

        # When they are written (None members are dropped)
        failed = write_checkpoints(dynamodb, TABLE, given, sleep=lambda _: None)

        # Then every item was written, with the retry in between
        stub.assert_no_pending_responses()
    assert failed == {}


def test_items_still_unprocessed_after_the_last_round_are_reported_not_retried_forever():
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    [item] = items(1)
    waits: list[float] = []
    with Stubber(dynamodb) as stub:
        for _ in range(WRITE_ROUNDS_MAX):
            stub.add_response(
                "batch_write_item", {"UnprocessedItems": {TABLE: [put(item)]}}, {"RequestItems": {TABLE: [put(item)]}}
            )
        failed = write_checkpoints(dynamodb, TABLE, [item], sleep=waits.append)
        stub.assert_no_pending_responses()
    assert failed == {
        (
            item["instanceId"],
            item["checkpointId"],
        ): f"BatchWriteItem left the item unprocessed after {WRITE_ROUNDS_MAX} attempts"
    }
    assert len(waits) == WRITE_ROUNDS_MAX - 1 and sum(waits) < 1


def test_an_item_over_400_kb_is_reported_and_the_others_written():
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    small, large = items(2)
    large["gameServerData"] = "x" * (401 * 1024)
    with Stubber(dynamodb) as stub:
        stub.add_response("batch_write_item", {}, {"RequestItems": {TABLE: [put(small)]}})
        failed = write_checkpoints(dynamodb, TABLE, [small, large])
    assert list(failed) == [(large["instanceId"], large["checkpointId"])]
    assert "exceeds DynamoDB's 400 KB limit" in failed[(large["instanceId"], large["checkpointId"])]
