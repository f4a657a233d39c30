"""Claims in TransactWriteItems: what a cancelled transaction means for each interruption, and what is sent again.
botocore's Stubber answers (and checks every request against the DynamoDB model); no sockets."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.stub import ANY, Stubber
from spot_handler.budget import TimeBudget
from spot_handler.idempotency.claims import SENDS_PER_ACTION, NoticeClaims
from spot_handler.idempotency.records import OWNER_INVOCATION_SECONDS, WINDOW_SECONDS
from spot_handler.idempotency.results import Claim
from spot_handler.signals import parse_notice

from tests.support.events import load_event

TABLE = "idempotency"
INSTANCES = ["i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"]


def notices():
    return [parse_notice(load_event("spot-interruption-instance-tg.json", i)) for i in INSTANCES]


def cancelled(stub: Stubber, *codes: str) -> None:
    reasons = [{"Code": code} for code in codes]
    stub.add_client_error(
        "transact_write_items",
        "TransactionCanceledException",
        "Transaction cancelled",
        http_status_code=400,
        modeled_fields={"CancellationReasons": reasons},
        expected_params={"TransactItems": [ANY] * len(codes)},
    )


def written(stub: Stubber, count: int) -> None:
    stub.add_response("transact_write_items", {}, {"TransactItems": [ANY] * count})


def claim(dynamodb, given) -> dict[str, tuple[Claim, str]]:
    results = NoticeClaims.open(dynamodb, TABLE).start(given).wait(TimeBudget.start())
    return {n.instance_id: (results.state(n), results.why_not_owned(n)) for n in given}


def test_an_item_that_keeps_conflicting_is_given_up_and_the_others_are_claimed():
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    with Stubber(dynamodb) as stub:
        for _ in range(SENDS_PER_ACTION):  # the second item stays in conflict with another transaction
            cancelled(stub, "None", "TransactionConflict", "None")
        written(stub, 2)  # then the other two go without it

        states = claim(dynamodb, notices())
        stub.assert_no_pending_responses()

    assert states[INSTANCES[0]] == (Claim.OWNED, "") and states[INSTANCES[2]] == (Claim.OWNED, "")
    assert states[INSTANCES[1]] == (
        Claim.UNKNOWN,
        f"idempotency table: TransactionConflict after {SENDS_PER_ACTION} sends",
    )


def test_existing_records_settle_their_claims_without_a_second_send():
    # DynamoDB names the two records already there: one alerted, one still in progress elsewhere
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    with Stubber(dynamodb) as stub:
        stub.add_client_error(
            "transact_write_items",
            "TransactionCanceledException",
            "Transaction cancelled",
            http_status_code=400,
            modeled_fields={
                "CancellationReasons": [
                    {"Code": "ConditionalCheckFailed", "Item": {"status": {"S": "COMPLETED"}}},
                    {"Code": "ConditionalCheckFailed", "Item": {"status": {"S": "INPROGRESS"}}},
                    {"Code": "None"},
                ]
            },
        )
        written(stub, 1)
        states = claim(dynamodb, notices())
        stub.assert_no_pending_responses()

    assert states[INSTANCES[0]][0] is Claim.DONE
    assert states[INSTANCES[1]] == (
        Claim.BUSY,
        "another invocation is handling this interruption; delivered again later",
    )
    assert states[INSTANCES[2]] == (Claim.OWNED, "")


def test_a_reason_that_will_not_pass_is_not_sent_again():
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    with Stubber(dynamodb) as stub:
        cancelled(stub, "None", "None", "ValidationError")
        written(stub, 2)
        states = claim(dynamodb, notices())
        stub.assert_no_pending_responses()

    assert [states[i][0] for i in INSTANCES] == [Claim.OWNED, Claim.OWNED, Claim.UNKNOWN]
    assert states[INSTANCES[2]][1] == "idempotency table: ValidationError"


def test_a_failed_call_leaves_every_claim_unknown():
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    with Stubber(dynamodb) as stub:
        stub.add_client_error(
            "transact_write_items", "ProvisionedThroughputExceededException", "slow down", http_status_code=400
        )
        states = claim(dynamodb, notices())
        stub.assert_no_pending_responses()

    assert {states[i][0] for i in INSTANCES} == {Claim.UNKNOWN}
    assert "ProvisionedThroughputExceededException" in states[INSTANCES[0]][1]


def test_a_group_waits_only_for_the_transactions_that_hold_its_own_claims():
    # Given two claim transactions of one batch: the first answered, the second (another group's) never answering
    from concurrent.futures import Future

    from spot_handler.idempotency.results import PendingClaims

    answered, hanging = Future(), Future()
    answered.set_result({"a": (Claim.OWNED, "")})
    pending = PendingClaims([(["a"], answered), (["b"], hanging)])
    budget = TimeBudget.start()

    # When the group holding "a" waits for its claims
    mine = pending.wait(budget, only={"a"})

    # Then the group's wait is over at once, with its claim owned and nothing late of another group's
    assert mine.states == {"a": Claim.OWNED} and mine.late == []
    assert budget.remaining() > budget.work_seconds - 1


def record(holder: str | None, claimed_seconds_ago: float) -> dict:
    """An in-progress record as DynamoDB returns it when a claim's condition fails (expiry = claim + window)."""
    item = {
        "id": {"S": "interruption#hash"},
        "status": {"S": "INPROGRESS"},
        "expiration": {"N": str(int(time.time() - claimed_seconds_ago + WINDOW_SECONDS))},
    }
    if holder is not None:
        item["holder"] = {"S": holder}
    return item


def found(stub: Stubber, items: list[dict]) -> None:
    stub.add_client_error(
        "transact_write_items",
        "TransactionCanceledException",
        "Transaction cancelled",
        http_status_code=400,
        modeled_fields={"CancellationReasons": [{"Code": "ConditionalCheckFailed", "Item": i} for i in items]},
    )


def taken_over(stub: Stubber, item: dict, won: bool = True) -> None:
    """The conditional write that takes a claim over: on its holder and the expiry that was read, as of now."""
    expected = {
        "TableName": TABLE,
        "Key": {"id": item["id"]},
        "UpdateExpression": ANY,
        "ConditionExpression": "#holder = :holder AND #expiry = :seen",
        "ExpressionAttributeNames": ANY,
        "ExpressionAttributeValues": {
            ":expiry": ANY,
            ":in_progress": ANY,
            ":holder": item["holder"],
            ":seen": item["expiration"],
        },
    }
    if won:
        stub.add_response("update_item", {}, expected)
    else:
        stub.add_client_error("update_item", "ConditionalCheckFailedException", "taken", 400, expected_params=expected)


OLD = OWNER_INVOCATION_SECONDS + 30  # the holder's invocation is over
YOUNG = OWNER_INVOCATION_SECONDS / 2  # it may still be running


@pytest.mark.parametrize(
    ("holder", "age", "expected", "why"),
    [
        ("sqs:msg-1", OLD, Claim.OWNED, ""),  # an earlier receive of this batch's message died: this one takes over
        ("sqs:msg-0", OLD, Claim.OWNED, ""),  # the same, held by the other copy: SQS keeps no order
        ("sqs:msg-1", YOUNG, Claim.BUSY, "another receive of this message is handling"),  # one message, twice at once
        ("sqs:msg-9", OLD, Claim.DONE, "another notice of this interruption holds its claim"),
        ("sqs:msg-9", YOUNG, Claim.DONE, "another notice of this interruption holds its claim"),  # it carries the alert
        ("invocation:x", YOUNG, Claim.BUSY, "another invocation is handling"),  # a direct invocation, maybe running
        ("invocation:x", OLD, Claim.DONE, "another notice of this interruption holds its claim"),
        (None, YOUNG, Claim.BUSY, "another invocation is handling"),  # by an earlier version, or Powertools
        (None, OLD, Claim.BUSY, "another invocation is handling"),  # held until it expires, as it was written to be
    ],
)
def test_a_claim_found_in_place_is_read_by_its_holder_and_age(holder, age, expected, why):
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    item = record(holder, age)
    with Stubber(dynamodb) as stub:
        found(stub, [item])
        if expected is Claim.OWNED:
            taken_over(stub, item)
        # the batch delivered again lists the interruption's two copies, msg-1 then msg-0
        states = claim(dynamodb, [notices()[0]._replace(deliveries=("msg-1", "msg-0"))])
        stub.assert_no_pending_responses()  # and nothing is written but the claim (and the takeover)

    state, reason = states[INSTANCES[0]]
    assert state is expected and why in reason


def test_two_receives_taking_one_claim_over_leave_it_to_the_one_that_wrote_first():
    # Given a claim of this message, left by a receive that died, which another receive has just taken over
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    item = record("sqs:msg-1", OLD)
    with Stubber(dynamodb) as stub:
        found(stub, [item])
        taken_over(stub, item, won=False)
        states = claim(dynamodb, [notices()[0]._replace(deliveries=("msg-1",))])
        stub.assert_no_pending_responses()

    # Then this receive does not alert: it is delivered again later
    assert states[INSTANCES[0]] == (
        Claim.BUSY,
        "another receive of this message took this interruption over; delivered again later",
    )


def test_each_claim_names_the_message_that_brought_its_notice_and_nothing_else_is_written():
    dynamodb = boto3.client("dynamodb", region_name="us-east-2")
    sent = []
    dynamodb.meta.events.register("provide-client-params.dynamodb.*", lambda params, **_: sent.append(params))
    given = [n._replace(deliveries=(f"msg-{i}",)) for i, n in enumerate(notices())]
    with Stubber(dynamodb) as stub:
        written(stub, 3)
        claims = NoticeClaims.open(dynamodb, TABLE)
        results = claims.start(given).wait(TimeBudget.start())
        claims.settle(results, alerted=given, not_alerted=[])
        stub.assert_no_pending_responses()

    [transaction] = sent
    holders = [action["Put"]["Item"]["holder"]["S"] for action in transaction["TransactItems"]]
    assert holders == ["sqs:msg-0", "sqs:msg-1", "sqs:msg-2"]
    assert {action["Put"]["Item"]["status"]["S"] for action in transaction["TransactItems"]} == {"INPROGRESS"}
