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
persistence layer is given a stand-in client (_Composer) that keeps the PutItem or DeleteItem request
save_inprogress or delete_record would send, and each request becomes one action of the transaction (a claim's
with the holder added). So the records, their hashed keys, their conditions and expiry are Powertools' own, and a
record written here reads back through Powertools like any other. BatchWriteItem would not do: it takes no
conditions, and a claim is a conditional put. A transaction is all or nothing; when it is cancelled DynamoDB says,
action by action, why (CancellationReasons, with the record that made a condition fail), and the actions that did
not cause it are sent again. botocore gives each transaction a ClientRequestToken, so its own retry of a
transaction that did succeed is answered as a success, not as a conflict.
"""

from __future__ import annotations

import enum
import functools
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.aws.dynamodb import transact, update_if


class Claimable(Protocol):
    """What can be claimed: an interruption (models.InterruptionNotice) or a follow-up look (followups.LookClaim)."""

    @property
    def claim_key(self) -> str: ...  # the same for every copy of the thing claimed
    @property
    def claim_data(self) -> dict[str, str]: ...  # the idempotency record's data (Powertools hashes its key from it)
    @property
    def deliveries(self) -> tuple[str, ...]: ...  # the SQS messages of this batch that carry it
    @property
    def instance_id(self) -> str: ...
    @property
    def notice_id(self) -> str: ...


logger = Logger(child=True)

# 15 minutes: longer than EventBridge retries a delivery (MaximumEventAgeInSeconds 300) and than the two minutes an
# interruption lasts; shorter than the 4 x 360 s the queue keeps redelivering (VisibilityTimeout x maxReceiveCount - 1),
# so a claim left behind by a crashed invocation expires while its notice can still be redelivered.
WINDOW_SECONDS = 900
# Powertools' own put condition lets anyone take over an in-progress record once its in-progress expiry is past. A
# claim is never completed (the module's docstring), so that expiry is the window: whether a holder is gone is
# decided here, from the claim's age and holder, not by Powertools' condition.
HOLD_MILLIS = WINDOW_SECONDS * 1000
# The longest an invocation can run: template.yaml's function Timeout (tests/template/test_static_checks.py keeps
# them in step). A claim older than this is not held by a running invocation.
OWNER_INVOCATION_SECONDS = 60
HOLDER_ATTR = "holder"
MESSAGE_HOLDER = "sqs:"  # a holder that is a queue message, which the queue delivers again until it is handled
TRANSACTION_LIMIT = 100  # actions per TransactWriteItems
SENDS_PER_ACTION = 3  # an action cancelled by a conflict or throttling is sent again, up to this many sends in all
RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
MAX_PARALLEL_TRANSACTIONS = 8  # batches of more than 100 interruptions
SETTLE_WAIT_SECONDS = 20.0  # how long settle() waits for a claim that outlived the work budget, and for its own writes
STATUS_COMPLETED = "COMPLETED"  # records of a Powertools-decorated call, or of earlier versions of this handler


class Claim(enum.Enum):
    OWNED = "owned"  # this invocation claimed the interruption: it checkpoints and alerts
    DONE = "done"  # already alerted: a duplicate, reported success without doing anything
    BUSY = "busy"  # another invocation is handling it now: delivered again later
    UNKNOWN = "unknown"  # the table did not answer: drained, but checkpoint and alert wait for a redelivery


class Written(NamedTuple):
    """What became of one action of a transaction."""

    done: bool = False
    existing: dict | None = None  # the record that made its condition fail
    error: str = ""  # why it was not written, when no condition decided it


@dataclass
class ClaimResults:
    states: dict[str, Claim] = field(default_factory=dict)  # interruption key -> state
    reasons: dict[str, str] = field(default_factory=dict)  # interruption key -> why it is not OWNED
    late: list[tuple[list[str], Future]] = field(default_factory=list)  # claims answered after the budget ran out

    def state(self, notice: Claimable) -> Claim:
        return self.states.get(notice.claim_key, Claim.OWNED)

    def owned(self, notice: Claimable) -> bool:
        return self.state(notice) is Claim.OWNED

    def done(self, notice: Claimable) -> bool:
        return self.state(notice) is Claim.DONE

    def acts(self, notice: Claimable) -> bool:
        """Whether this invocation does the interruption's once-only work: claimed here, or not known to be claimed
        anywhere (the table did not answer: the alert goes out within its bound, marked as possibly repeated)."""
        return self.state(notice) in (Claim.OWNED, Claim.UNKNOWN)

    def why_not_owned(self, notice: Claimable) -> str:
        return self.reasons.get(notice.claim_key, "")

    def merged(self, other: ClaimResults) -> ClaimResults:
        """These results and another set's (claims of other notices), as one."""
        return ClaimResults(
            states={**self.states, **other.states},
            reasons={**self.reasons, **other.reasons},
            late=[*self.late, *other.late],
        )


Verdict = tuple[Claim, str]  # what became of one interruption's claim, and why when it is not OWNED


class PendingClaims:
    """Claim transactions running in the background while the instances are looked up; each answers a Verdict per
    interruption key."""

    def __init__(self, transactions: list[tuple[list[str], Future]]):
        self._transactions = transactions

    def wait(self, budget, only: set[str] | None = None) -> ClaimResults:
        """What became of the claims, waiting at most the budget; with `only`, just the transactions holding one of
        those interruption keys (a group of a larger batch never spends its budget on another group's claims)."""
        results = ClaimResults()
        for keys, future in self._transactions:
            if only is not None and only.isdisjoint(keys):
                continue
            try:
                answers = future.result(timeout=budget.remaining())
            except FutureTimeout:
                results.late.append((keys, future))
                reason = f"idempotency claim did not finish within {budget.work_seconds:.0f} s"
                answers = dict.fromkeys(keys, (Claim.UNKNOWN, reason))
            for key, (state, reason) in answers.items():
                results.states[key] = state
                if reason:
                    results.reasons[key] = reason
        return results


class NoticeClaims:
    """Claim and release interruptions in the idempotency table. Without a table every notice is OWNED."""

    def __init__(self, dynamodb=None, table_name: str = ""):
        self._dynamodb = dynamodb
        self._layer, self._composer = _composing_layer(table_name) if table_name else (None, None)

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
        actions |= {key: self._claim_action(n, _holder_of(n)) for key, n in repair.items()}
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
        running = _claimed_seconds_ago(existing, layer.expiry_attr) < OWNER_INVOCATION_SECONDS
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


class BatchClaims:
    """The claims of one batch: claimed in one transaction (per 100 interruptions), however many (account, region)
    groups handle the batch (account_regions.handle_by_account_region).

    Each group waits for the claims with its own budget and reports what became of its notices; once every group has
    reported, settle() releases the claims of those not alerted, together. Each notice is settled by what its own
    group saw of its claim, as if the group had claimed alone. With one group this is exactly start, wait, settle.
    """

    def __init__(self, claims: NoticeClaims, notices: list[Claimable]):
        self._claims = claims
        self._pending = claims.start(notices)
        self._lock = threading.Lock()
        self._seen = ClaimResults()
        self._late: set[int] = set()  # id() of the late futures already kept
        self._alerted: list[Claimable] = []
        self._not_alerted: list[Claimable] = []

    @classmethod
    def start(cls, dynamodb, table_name: str, notices: list[Claimable]) -> BatchClaims:
        """Claim every interruption of `notices` in the background."""
        return cls(NoticeClaims.open(dynamodb, table_name), notices)

    def wait(self, budget, notices: list[Claimable] | None = None) -> ClaimResults:
        """The claims of `notices` (one group's; default: all), waiting at most the group's own budget."""
        only = None if notices is None else {n.claim_key for n in notices}
        return self._pending.wait(budget, only)

    def report(self, claimed: ClaimResults, alerted, not_alerted) -> None:
        """What one group saw of its notices' claims (`claimed`, from wait) and which of them were alerted."""
        keys = {n.claim_key for n in [*alerted, *not_alerted]}
        with self._lock:
            self._seen.states |= {k: v for k, v in claimed.states.items() if k in keys}
            self._seen.reasons |= {k: v for k, v in claimed.reasons.items() if k in keys}
            for keys_and_future in claimed.late:
                if id(keys_and_future[1]) not in self._late:
                    self._late.add(id(keys_and_future[1]))
                    self._seen.late.append(keys_and_future)
            self._alerted += alerted
            self._not_alerted += not_alerted

    def settle(self, until: float | None = None) -> None:
        """Release the claims of the notices not alerted, together, waiting for nothing past `until`."""
        self._claims.settle(self._seen, self._alerted, self._not_alerted, until)


def persistence_layer(dynamodb, table_name: str) -> DynamoDBPersistenceLayer:
    """Powertools' persistence layer as this handler configures it (key, window, function name).

    With a real client it reads and writes records one by one, as the idempotency decorator does (tests use it to
    play another invocation); the handler gives it a _Composer instead.
    """
    layer = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
    layer.configure(
        IdempotencyConfig(event_key_jmespath="[account, instance, incident]", expires_after_seconds=WINDOW_SECONDS),
        function_name="interruption",
    )
    return layer


@functools.lru_cache(maxsize=4)
def _composing_layer(table_name: str) -> tuple[DynamoDBPersistenceLayer, _Composer]:
    """One persistence layer per table for the life of the execution environment, composing through a _Composer."""
    composer = _Composer()
    return persistence_layer(composer, table_name), composer


class _Composer:
    """Stands in for the persistence layer's DynamoDB client: keeps the request instead of sending it."""

    def __init__(self):
        self._kept: dict[str, Any] | None = None
        self._lock = threading.Lock()  # invocations in threads (tests, bench) share the cached layer

    def compose(self, write: Callable[[], None]) -> dict:
        """The one request `write` (a persistence-layer call) makes, as a TransactWriteItems action."""
        with self._lock:
            self._kept = None
            write()
            return self._take()

    def put_item(self, **request) -> dict:
        return self._keep("Put", request)

    def update_item(self, **request) -> dict:
        return self._keep("Update", request)

    def delete_item(self, **request) -> dict:
        return self._keep("Delete", request)

    def _keep(self, action: str, request: dict) -> dict:
        self._kept = {action: request}
        return {}

    def _take(self) -> dict:
        kept, self._kept = self._kept, None
        if kept is None:
            raise RuntimeError("Powertools composed no write")
        return kept


def _record_data(notice: Claimable) -> dict[str, str]:
    return notice.claim_data


def _holder_of(notice: Claimable) -> str:
    """The holder a claim written after the fact names: one of its messages (the queue deletes them as handled)."""
    return f"{MESSAGE_HOLDER}{min(notice.deliveries)}" if notice.deliveries else f"invocation:{uuid.uuid4()}"


def _claimed_seconds_ago(record: dict, expiry_attr: str) -> float:
    """How long ago the record was claimed: its expiry is the claim's time + WINDOW_SECONDS. A record whose expiry
    cannot be read counts as just claimed (so as held)."""
    try:
        expires = float(record[expiry_attr]["N"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    return time.time() - (expires - WINDOW_SECONDS)
