"""Claims in TransactWriteItems: what a cancelled transaction means for each interruption, and what is sent again.
botocore's Stubber answers (and checks every request against the DynamoDB model); no sockets."""

from __future__ import annotations

import boto3
from botocore.stub import ANY, Stubber
from spot_handler.aws.claims import SENDS_PER_ACTION, Claim, NoticeClaims
from spot_handler.budget import TimeBudget
from spot_handler.models import parse_notice

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

    from spot_handler.aws.claims import PendingClaims, Written

    answered, hanging = Future(), Future()
    answered.set_result({"a": Written(done=True)})
    pending = PendingClaims([(["a"], answered), (["b"], hanging)], NoticeClaims()._to_claim)
    budget = TimeBudget.start()

    # When the group holding "a" waits for its claims
    mine = pending.wait(budget, only={"a"})

    # Then the group's wait is over at once, with its claim owned and nothing late of another group's
    assert mine.states == {"a": Claim.OWNED} and mine.late == []
    assert budget.remaining() > budget.work_seconds - 1
