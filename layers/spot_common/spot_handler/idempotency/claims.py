"""Idempotency of interruptions (and of follow-up looks): one alert and one checkpoint per interruption, however
often its notice arrives.

Records are Powertools idempotency records in DynamoDB (DynamoDBPersistenceLayer, IdempotencyConfig with
expires_after_seconds; TTL attribute `expiration`). The key is the instance and the notice type, so it catches both
kinds of duplicate: EventBridge re-sending an event (same id, same instance and type) and EC2 sending another notice
for the same interruption (a new id, same instance and type). A record lasts WINDOW_SECONDS from its claim; a later
notice of the same type for the same instance is a new interruption.

Why the persistence layer directly and not @idempotent_function: the decorator claims, runs and completes one call.
A batch is handled as a whole (one DescribeInstances, one DeregisterTargets per target group, one PublishBatch per
ten alerts), so its notices are claimed before the lookup, all at once.

A claim names its holder: one of the SQS messages that brought the interruption's notices in this batch (attribute
`holder`, `sqs:<messageId>`). That is what makes a completion write unnecessary. The queue is the record of
completion: Lambda deletes a message its invocation handled, and delivers again only one that was reported failed
(whose claim the handler released) or whose invocation died. So a claim found in place says:
- held by a message of this batch (any copy: SQS keeps no order, so a batch delivered again may list them
  otherwise): once the invocation that claimed it is over (OWNER_INVOCATION_SECONDS after the claim), an earlier
  receive died before answering, so this receive takes the interruption over (OWNED), with a conditional write that
  only one receive can win and that makes the claim young again; before that, SQS handed the same message out twice
  at once (BUSY: delivered again later);
- held by another message: that message carries the interruption's alert, or is delivered again until it has, so
  this notice is a duplicate (DONE), whether or not the other is still at work;
- held by a direct invocation: BUSY while it may still run, then DONE;
- held by nobody named (written by an earlier version of this handler, or by Powertools for another caller): BUSY
  until the record expires, unless it is COMPLETED (DONE).
An interruption costs one write, where claiming and then completing (Powertools' own cycle) cost two.

Why in transactions: one PutItem per notice is 1,000 DynamoDB calls for a reclaim of 1,000 instances (bench/). Here
a batch's claims go in one TransactWriteItems (up to 100 actions). Powertools still composes every write: the
persistence layer is given a stand-in client (records.Composer) that keeps the PutItem or DeleteItem request
save_inprogress or delete_record would send, and each request becomes one action of the transaction (a claim's
with the holder added). So the records, their hashed keys, their conditions and expiry are Powertools' own, and a
record written here reads back through Powertools like any other. BatchWriteItem would not do: it takes no
conditions, and a claim is a conditional put. A transaction is all or nothing; when it is cancelled DynamoDB says,
action by action, why (CancellationReasons, with the record that made a condition fail), and the actions that did
not cause it are sent again. botocore gives each transaction a ClientRequestToken, so its own retry of a
transaction that did succeed is answered as a success, not as a conflict.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from aws_lambda_powertools import Logger

from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.aws.dynamodb import transact, update_if
from spot_handler.idempotency.records import (
    HOLD_MILLIS,
    HOLDER_ATTR,
    MESSAGE_HOLDER,
    OWNER_INVOCATION_SECONDS,
    STATUS_COMPLETED,
    WINDOW_SECONDS,
    claimed_seconds_ago,
    composing_layer,
    holder_of,
)
from spot_handler.idempotency.results import Claim, Claimable, ClaimResults, PendingClaims, Verdict, Written

logger = Logger(child=True)

TRANSACTION_LIMIT = 100  # actions per TransactWriteItems
SENDS_PER_ACTION = 3  # an action cancelled by a conflict or throttling is sent again, up to this many sends in all
RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
MAX_PARALLEL_TRANSACTIONS = 8  # batches of more than 100 interruptions
SETTLE_WAIT_SECONDS = 20.0  # how long settle() waits for a claim that outlived the work budget, and for its own writes


class NoticeClaims:
    """Claim and release interruptions in the idempotency table. Without a table every notice is OWNED."""

    def __init__(self, dynamodb=None, table_name: str = ""):
        self._dynamodb = dynamodb
        self._layer, self._composer = composing_layer(table_name) if table_name else (None, None)

    @classmethod
    def open(cls, dynamodb, table_name: str) -> NoticeClaims:
        return cls(dynamodb, table_name)

    def start(self, notices: list[Claimable]) -> PendingClaims:
        """Claim every interruption of the batch, in the background (one transaction per 100 interruptions).

        Each claim is held by one of the messages that brought the interruption's notices, and a claim held by any
        of them is this batch's own (SQS does not keep order: a batch delivered again may list them otherwise). A
        notice that came in no message (a direct invocation) is held by this invocation alone."""
        if self._layer is None or not notices:
            return PendingClaims([])
        invocation = f"invocation:{uuid.uuid4()}"
        ours: dict[str, set[str]] = {}  # interruption key -> the holders that are this batch's
        for notice in notices:
            ours.setdefault(notice.claim_key, set()).update(f"{MESSAGE_HOLDER}{m}" for m in notice.deliveries)
        ours = {key: holders or {invocation} for key, holders in ours.items()}
        unique = {n.claim_key: n for n in notices}
        actions = {key: self._claim_action(notice, min(ours[key])) for key, notice in unique.items()}
        return PendingClaims(self._send_in_background(actions, ours))

    def settle(
        self,
        claims: ClaimResults,
        alerted: list[Claimable],
        not_alerted: list[Claimable],
        until: float | None = None,
    ) -> None:
        """Release the claims of notices whose alert did not go out; those alerted (or that needed none) keep theirs
        as they are: nothing is written for them. A notice alerted without knowing its claim (the table did not
        answer in time, or failed) has its claim written now, so that later duplicates are recognised.

        A released claim lets the redelivered notice be claimed again at once. A claim that answered after the budget
        is released if it turned out to be ours and its notice was not alerted. Failures are logged, not raised: a
        claim left in place is taken over by its own message's next delivery once its invocation is over.
        """
        if self._layer is None:
            return
        alerted_keys = {n.claim_key for n in alerted}
        release = {n.claim_key: n for n in not_alerted if claims.owned(n) and n.claim_key not in alerted_keys}
        repair = {n.claim_key: n for n in alerted if claims.state(n) is Claim.UNKNOWN}
        by_key = {n.claim_key: n for n in [*not_alerted, *alerted]}

        def wait() -> float:  # at most SETTLE_WAIT_SECONDS, and never past `until` (time.monotonic())
            left = SETTLE_WAIT_SECONDS if until is None else until - time.monotonic()
            return max(0.0, min(SETTLE_WAIT_SECONDS, left))

        for keys, future in claims.late:
            try:
                answers = future.result(timeout=wait())
            except FutureTimeout:
                logger.error(
                    "idempotency claim still unanswered; written again for the notices alerted without it",
                    extra={"instances": sorted({by_key[k].instance_id for k in keys if k in by_key})},
                )
                continue
            for key, (state, _) in answers.items():
                if state is not Claim.UNKNOWN:
                    repair.pop(key, None)  # the claim is in place (ours or another's): nothing to write again
                if state is Claim.OWNED and key in by_key and key not in alerted_keys:
                    release[key] = by_key[key]

        actions = {
            key: self._compose(lambda n: self._layer.delete_record(n.claim_data, RuntimeError("not alerted")), n)
            for key, n in release.items()
        }
        actions |= {key: self._claim_action(n, holder_of(n)) for key, n in repair.items()}
        for keys, future in self._send_in_background(actions):
            try:
                answers = future.result(timeout=wait())
            except FutureTimeout:
                answers = dict.fromkeys(keys, Written(error=f"no answer within {SETTLE_WAIT_SECONDS:.0f} s"))
            for key, written in answers.items():
                if written.done or (key in repair and written.existing is not None):
                    continue  # released; or repaired, or claimed meanwhile by a notice that will not alert again
                notice = release.get(key) or repair[key]
                logger.error(
                    "could not release the idempotency claim; its message's next delivery takes it over"
                    if key in release
                    else "could not write the claim of a notice alerted without it: a duplicate may alert again",
                    extra={
                        "instance_id": notice.instance_id,
                        "notice_id": notice.notice_id,
                        "error": written.error or "condition failed",
                    },
                )

    def _verdicts(self, actions: dict[str, dict], ours: dict[str, set[str]]) -> dict[str, Verdict]:
        """Send the claims in one transaction, then read each claim that found a record in place."""
        return {key: self._verdict(written, ours[key]) for key, written in self._transact(actions).items()}

    def _verdict(self, written: Written, ours: set[str]) -> Verdict:
        """What a claim's answer means for its interruption (the module's docstring says why)."""
        if written.done:
            return Claim.OWNED, ""
        if written.existing is None:
            return Claim.UNKNOWN, f"idempotency table: {written.error}"
        existing, layer = written.existing, self._layer
        if existing.get(layer.status_attr, {}).get("S") == STATUS_COMPLETED:
            return Claim.DONE, "duplicate: this interruption was already alerted"
        holder = existing.get(HOLDER_ATTR, {}).get("S", "")
        running = claimed_seconds_ago(existing, layer.expiry_attr) < OWNER_INVOCATION_SECONDS
        if holder in ours:
            if running:
                return Claim.BUSY, "another receive of this message is handling this interruption; delivered again"
            return self._take_over(existing)
        if holder.startswith(MESSAGE_HOLDER) or (holder and not running):
            return Claim.DONE, "duplicate: another notice of this interruption holds its claim and carries its alert"
        return Claim.BUSY, "another invocation is handling this interruption; delivered again later"

    def _take_over(self, existing: dict) -> Verdict:
        """This batch's own claim, left by a receive that did not finish: claimed again, as of now, on condition that
        nobody did so first (SQS may deliver the same messages to two invocations)."""
        layer = self._layer
        now = time.time()
        try:
            taken = update_if(
                self._dynamodb,
                layer.table_name,
                {layer.key_attr: existing[layer.key_attr]},
                "SET #expiry = :expiry, #in_progress = :in_progress",
                "#holder = :holder AND #expiry = :seen",
                {"#expiry": layer.expiry_attr, "#in_progress": layer.in_progress_expiry_attr, "#holder": HOLDER_ATTR},
                {
                    ":expiry": {"N": str(int(now) + WINDOW_SECONDS)},
                    ":in_progress": {"N": str(int(now * 1000) + HOLD_MILLIS)},
                    ":holder": existing[HOLDER_ATTR],
                    ":seen": existing[layer.expiry_attr],
                },
            )
        except (*AWS_ERRORS, KeyError) as exc:
            return Claim.UNKNOWN, f"idempotency table: {describe_error(exc)}"
        if not taken:
            return Claim.BUSY, "another receive of this message took this interruption over; delivered again later"
        logger.info("took over the claim of an earlier receive of this message that did not finish")
        return Claim.OWNED, ""

    def _claim_action(self, notice: Claimable, holder: str) -> dict:
        """Powertools' claim (a conditional Put of an in-progress record) with its holder added."""
        action = self._compose(
            lambda n: self._layer.save_inprogress(n.claim_data, remaining_time_in_millis=HOLD_MILLIS), notice
        )
        action["Put"]["Item"][HOLDER_ATTR] = {"S": holder}
        return action

    def _compose(self, write: Callable[[Claimable], None], notice: Claimable) -> dict:
        """The transaction action for one Powertools write (Put, Update or Delete), composed but not sent."""
        return self._composer.compose(lambda: write(notice))

    def _send_in_background(
        self, actions: dict[str, dict], ours: dict[str, set[str]] | None = None
    ) -> list[tuple[list[str], Future]]:
        """Send the actions as transactions of up to TRANSACTION_LIMIT, in parallel threads; (keys, future) each. The
        futures answer what became of each action (Written) or, for claims (with `ours`), each Verdict."""
        if not actions:
            return []
        keys = list(actions)
        chunks = [keys[i : i + TRANSACTION_LIMIT] for i in range(0, len(keys), TRANSACTION_LIMIT)]
        pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_TRANSACTIONS, len(chunks)), thread_name_prefix="claims")
        send = self._transact if ours is None else functools.partial(self._verdicts, ours=ours)
        sent = [(chunk, pool.submit(send, {key: actions[key] for key in chunk})) for chunk in chunks]
        pool.shutdown(wait=False)
        return sent

    def _transact(self, actions: dict[str, dict]) -> dict[str, Written]:
        """Write the actions in one transaction; what became of each, by key.

        A cancelled transaction is sent again without the actions that settled it: those whose condition failed, and
        those that failed for a reason that will not pass. An action that met a conflict or throttling goes again, up
        to SENDS_PER_ACTION sends; after that it is settled as not written.
        """
        results: dict[str, Written] = {}
        pending = dict(actions)
        sends = dict.fromkeys(actions, 0)
        while pending:
            try:
                cancelled = transact(self._dynamodb, list(pending.values()))
            except AWS_ERRORS as exc:
                return results | dict.fromkeys(pending, Written(error=describe_error(exc)))
            if cancelled is None:
                return results | dict.fromkeys(pending, Written(done=True))
            codes = [reason.get("Code") or "None" for reason in cancelled.reasons]
            if len(codes) != len(pending) or set(codes) == {"None"}:  # nothing tells the actions apart
                return results | dict.fromkeys(pending, Written(error=cancelled.error))
            for key, reason, code in zip(list(pending), cancelled.reasons, codes):
                sends[key] += 1
                if code == "ConditionalCheckFailed":
                    results[key] = Written(existing=reason.get("Item") or {})
                elif code in RETRYABLE_REASONS:
                    if sends[key] >= SENDS_PER_ACTION:
                        results[key] = Written(error=f"{code} after {sends[key]} sends")
                elif code != "None":
                    results[key] = Written(error=f"{code}: {reason.get('Message', '')}".rstrip(": "))
            pending = {key: action for key, action in pending.items() if key not in results}
        return results
